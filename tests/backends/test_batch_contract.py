"""The batch-system contract suite (``backends.testing.batch``), run over every registered
batch system: the registry is asked for the names (``known_names``), so a system registered
by entry point is tested without an edit here, and one that needs a service it does not
have here fails rather than going untested.

A system that needs a running service names the fixture that starts it (in a
``conftest.py``) in ``SERVICE_FIXTURES``, and its marker in ``MARKS``; options its config
needs go in ``SYSTEM_OPTIONS``, and the environment its commands need from that service in
``SERVICE_ENVIRONMENT``; where its jobs run as a user who cannot enter pytest's
``tmp_path``, a fixture giving the test's directory goes in ``JOB_DIRECTORIES``. The jobs'
directory must be on a filesystem the system's workers see (``SYSTEM_OPTIONS_PER_TEST`` may
mount it where jobs run in containers of their own, and ``CONTAINERS`` says how to list
those). ``JOB_COUNT`` lowers the number of jobs of the exactly-once test for systems that
take seconds per job (a container each).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from backends.registry import BATCH_SYSTEM_GROUP, known_names, load
from backends.testing.batch import BatchSystemContract, BatchTarget, target_for
from tests.services import aws_batch, gridengine, users
from tests.services.htcondor import HTCondorPool

REPO_ROOT = Path(__file__).resolve().parents[2]
# system name -> the markers of the service it needs (none: it runs anywhere)
MARKS: dict[str, list[pytest.MarkDecorator]] = {
    "slurm": [pytest.mark.slurm],
    "grid_engine": [pytest.mark.gridengine],
    "torque": [pytest.mark.slurm, pytest.mark.torque],
    "lsf": [pytest.mark.lsf],
    "aws_batch": [pytest.mark.aws_batch, pytest.mark.docker],
    "htcondor": [pytest.mark.htcondor],
}
IDS = {"lsf": "lsf-stand-in", "aws_batch": "aws_batch-moto"}
# system name -> fixture that starts its service
SERVICE_FIXTURES: dict[str, str] = {
    "slurm": "slurm_cluster",
    "grid_engine": "gridengine_root_cluster",
    "torque": "torque_cluster",
    "lsf": "lsf_cluster",
    "aws_batch": "aws_batch_service",
    "htcondor": "htcondor_pool",
}
# system name -> its settings, by Toil name (BatchConfig.settings)
SYSTEM_OPTIONS: dict[str, dict[str, object]] = {
    "slurm": {"statePollingWait": 0.5},
    "grid_engine": {"statePollingWait": 0.5, "parallel_environment": "smp"},
    "htcondor": {"statePollingWait": 0.5},
}
# system name -> the environment its commands need, from its started service
# (BatchConfig.environment)
SERVICE_ENVIRONMENT: dict[str, Callable[[Any], Mapping[str, str]]] = {
    "grid_engine": gridengine.exports,
    "torque": lambda cluster: cluster.env,
    "lsf": lambda cluster: cluster.env,
    "aws_batch": lambda service: service.server.env(),
    "htcondor": lambda pool: pool.env,
}
# system name -> settings that depend on its started service and the test's tmp_path
SYSTEM_OPTIONS_PER_TEST: dict[str, Callable[[Any, Path], dict[str, object]]] = {
    "aws_batch": lambda service, tmp: {
        "statePollingWait": 0.5,
        "awsBatchQueue": aws_batch.QUEUE,
        "awsBatchImage": service.image,
        "awsBatchMount": (f"{tmp}:{tmp}", f"{REPO_ROOT}:{REPO_ROOT}:ro"),
    },
}
# system name -> the containers of its jobs still there, from its started service
CONTAINERS: dict[str, Callable[[Any], list[str]]] = {
    "aws_batch": lambda service: service.containers(),
}
JOB_COUNT: dict[str, int] = {"aws_batch": 8}
# system name -> fixture giving the test's directory, where its jobs can write (HTCondor's
# jobs run as the pool's user, who cannot enter pytest's own temporary directories)
JOB_DIRECTORIES: dict[str, str] = {"htcondor": "htcondor_job_dir"}


def _systems() -> list[Any]:
    """Every registered batch system, with the markers of the service it needs."""
    return [
        pytest.param(name, id=IDS.get(name, name), marks=MARKS.get(name, []))
        for name in known_names(BATCH_SYSTEM_GROUP)
    ]


@pytest.fixture(params=_systems())
def batch_system_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def tmp_path(tmp_path: Path, batch_system_name: str, request: pytest.FixtureRequest) -> Path:
    """pytest's own, unless the system's jobs need another (``JOB_DIRECTORIES``)."""
    if batch_system_name in JOB_DIRECTORIES:
        made: Path = request.getfixturevalue(JOB_DIRECTORIES[batch_system_name])
        return made
    return tmp_path


@pytest.fixture
def htcondor_job_dir(request: pytest.FixtureRequest) -> Path:
    """A directory of the HTCondor pool's user in the pool's ``work/``, for this test."""
    pool: HTCondorPool = request.getfixturevalue("htcondor_pool")
    name = re.sub(r"\W", "_", request.node.name)[:60]
    return users.user_dir(pool.work_dir / f"contract-{os.getpid()}-{name}", pool.user)


@pytest.fixture
def target(
    batch_system_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[BatchTarget]:
    """The ``batch_target`` of the suite for the system ``batch_system_name``."""
    service = SERVICE_FIXTURES.get(batch_system_name)
    environment: Mapping[str, str] = {}
    options = dict(SYSTEM_OPTIONS.get(batch_system_name, {}))
    containers_left = None
    if service:
        started = request.getfixturevalue(service)
        if batch_system_name in SERVICE_ENVIRONMENT:
            environment = SERVICE_ENVIRONMENT[batch_system_name](started)
        if batch_system_name in SYSTEM_OPTIONS_PER_TEST:
            options.update(SYSTEM_OPTIONS_PER_TEST[batch_system_name](started, tmp_path))
        if batch_system_name in CONTAINERS:
            containers = CONTAINERS[batch_system_name]
            containers_left = lambda: containers(started)
    with target_for(
        load(BATCH_SYSTEM_GROUP, batch_system_name),
        tmp_path,
        settings=options,
        environment=environment,
        containers_left=containers_left,
        job_count=JOB_COUNT.get(batch_system_name, 200),
    ) as made:
        yield made


class TestBatchContract(BatchSystemContract):
    """The suite over every registered system (``batch_system_name``)."""

    @pytest.fixture
    def batch_target(self, target: BatchTarget) -> BatchTarget:
        return target
