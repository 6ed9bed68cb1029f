"""The contract every batch system keeps, run against each one (``BATCH_SYSTEMS``).

A batch system joins by adding a ``pytest.param`` to ``BATCH_SYSTEMS`` (with its marker, e.g.
``marks=pytest.mark.slurm``). If it needs a running service, name the fixture that starts it
(in a ``conftest.py``) in ``SERVICE_FIXTURES``; options its config needs go in
``SYSTEM_OPTIONS``, and the environment its commands need from that service in
``SERVICE_ENVIRONMENT``; where its jobs run as a user who cannot enter pytest's ``tmp_path``,
a fixture giving the test's directory goes in ``JOB_DIRECTORIES``. Jobs carry both ``entry`` (in-process pools) and ``argv`` (cluster
systems), and leave their traces as files in ``tmp_path`` (see ``jobs_for_tests``), which
must be on a filesystem the system's workers see (``SYSTEM_OPTIONS_PER_TEST`` may mount it
where jobs run in containers of their own).

A system whose jobs run in containers (``CONTAINERS``: how to list the containers still
there) is held to the container being gone where the others are held to the job's processes
being gone: the job's process IDs belong to the container's PID namespace, not the host's.
``JOB_COUNT`` lowers the number of jobs of the exactly-once test for systems that take
seconds per job (a container each).

Where the contract leaves a detail to the system (the exit status of a job killed by a
signal, say), the in-process systems are held to the exact value and the others to its kind.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest

from backends.batch.base import (
    BatchConfig,
    BatchJob,
    BatchSystem,
    ExitReason,
    Resources,
    UpdatedJob,
)
from backends.errors import InsufficientResourcesError
from backends.registry import BATCH_SYSTEM_GROUP, load
from backends.settings import from_values
from tests.services import aws_batch, gridengine, users
from tests.services.htcondor import HTCondorPool

BATCH_SYSTEMS = [
    pytest.param("single_machine", id="single_machine"),
    pytest.param("slurm", id="slurm", marks=pytest.mark.slurm),
    pytest.param("grid_engine", id="grid_engine", marks=pytest.mark.gridengine),
    pytest.param("torque", id="torque", marks=[pytest.mark.slurm, pytest.mark.torque]),
    pytest.param("lsf", id="lsf-stand-in", marks=pytest.mark.lsf),
    pytest.param(
        "aws_batch", id="aws_batch-moto", marks=[pytest.mark.aws_batch, pytest.mark.docker]
    ),
    pytest.param("htcondor", id="htcondor", marks=pytest.mark.htcondor),
]
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

JOBS_MODULE = "tests.backends.jobs_for_tests"
REPO_ROOT = Path(__file__).resolve().parents[2]
GiB = 1024**3
MiB = 1024**2
WAIT = 120.0  # upper bound on waiting for something that should happen; never an assertion

Factory = Callable[..., BatchSystem]


@pytest.fixture(params=BATCH_SYSTEMS)
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
def batch_system_factory(
    batch_system_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Factory]:
    """``make(max_cores=2, max_memory=8 GiB, max_disk=8 GiB)`` -> a started batch system,
    shut down at the end of the test."""
    service = SERVICE_FIXTURES.get(batch_system_name)
    environment: Mapping[str, str] = {}
    options = dict(SYSTEM_OPTIONS.get(batch_system_name, {}))
    if service:
        started = request.getfixturevalue(service)
        if batch_system_name in SERVICE_ENVIRONMENT:
            environment = SERVICE_ENVIRONMENT[batch_system_name](started)
        if batch_system_name in SYSTEM_OPTIONS_PER_TEST:
            options.update(SYSTEM_OPTIONS_PER_TEST[batch_system_name](started, tmp_path))
    cls = load(BATCH_SYSTEM_GROUP, batch_system_name)
    made: list[BatchSystem] = []

    def make(
        max_cores: float = 2.0, max_memory: int = 8 * GiB, max_disk: int = 8 * GiB
    ) -> BatchSystem:
        work_dir = tmp_path / "work"
        work_dir.mkdir(exist_ok=True)
        config = BatchConfig(
            max_cores,
            max_memory,
            max_disk,
            str(work_dir),
            settings=from_values(cls.settings_class, options),
            environment=environment,
        )
        system: BatchSystem = cls(config)
        system.start()
        made.append(system)
        return system

    yield make
    for system in made:
        system.shutdown()


@pytest.fixture
def containers_left(
    batch_system_name: str, request: pytest.FixtureRequest
) -> Callable[[], list[str]] | None:
    """For a system in CONTAINERS: the containers of its jobs still there; else None."""
    if batch_system_name not in CONTAINERS:
        return None
    started = request.getfixturevalue(SERVICE_FIXTURES[batch_system_name])
    return lambda: CONTAINERS[batch_system_name](started)


def wait_no_containers(containers_left: Callable[[], list[str]]) -> list[str]:
    """The containers still there after at most WAIT (empty once all are gone)."""
    end = time.monotonic() + WAIT
    while (left := containers_left()) and time.monotonic() < end:
        time.sleep(0.2)
    return left


def job(
    directory: Path,
    function: str,
    job_id: str,
    cores: float = 1.0,
    memory: int = 64 * MiB,
    disk: int = 64 * MiB,
    time_limit: float | None = None,
    environment: dict[str, str] | None = None,
) -> BatchJob:
    """A BatchJob running ``jobs_for_tests.function`` with ``directory`` as its locator."""
    return BatchJob(
        job_id=job_id,
        name=function,
        resources=Resources(cores=cores, memory=memory, disk=disk),
        locator=str(directory),
        entry=f"{JOBS_MODULE}:{function}",
        argv=(sys.executable, "-m", JOBS_MODULE, function, str(directory), job_id),
        environment={"PYTHONPATH": str(REPO_ROOT), **(environment or {})},
        time_limit=time_limit,
    )


def collect(system: BatchSystem, count: int) -> list[UpdatedJob]:
    """Take updates until ``count`` arrived (or WAIT passed: the caller's assert says so)."""
    updates: list[UpdatedJob] = []
    end = time.monotonic() + WAIT
    while len(updates) < count and time.monotonic() < end:
        update = system.get_updated_job(1.0)
        if update is not None:
            updates.append(update)
    return updates


def wait_for_file(path: Path) -> str:
    end = time.monotonic() + WAIT
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.02)
    return path.read_text()


def wait_gone(process: psutil.Process) -> bool:
    """Whether the process ended (a zombie counts: it runs no more) within WAIT."""
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def wait_pid_gone(pid: int) -> bool:
    """Whether process ``pid`` ended (or never existed) within WAIT."""
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    return wait_gone(process)


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = running = 0
    for _, step in events:  # at equal times, an end (-1) sorts before a start
        running += step
        peak = max(peak, running)
    return peak


def test_each_job_is_reported_exactly_once(
    batch_system_factory: Factory, batch_system_name: str, tmp_path: Path
) -> None:
    count = JOB_COUNT.get(batch_system_name, 200)
    system = batch_system_factory(max_cores=2.0)
    issued = [system.issue_job(job(tmp_path, "touch", f"job{i}", cores=0.1)) for i in range(count)]
    assert len(set(issued)) == count
    assert sorted(system.issued_ids()) == sorted(issued)
    updates = collect(system, count)
    assert sorted(u.batch_id for u in updates) == sorted(issued)
    assert {u.exit_reason for u in updates} == {ExitReason.FINISHED}
    assert {u.exit_status for u in updates} == {0}
    by_batch_id = {u.batch_id: u.job_id for u in updates}
    assert [by_batch_id[b] for b in issued] == [f"job{i}" for i in range(count)]
    assert all((tmp_path / f"job{i}").read_text() == "done" for i in range(count))
    assert system.get_updated_job(0.2) is None
    assert system.issued_ids() == []
    assert system.running_jobs() == {}


@pytest.mark.parametrize(
    ("cores", "memory", "max_cores", "max_memory", "expected"),
    [
        pytest.param(1.0, 64 * MiB, 2.0, 8 * GiB, 2, id="cores"),
        pytest.param(0.5, 64 * MiB, 2.0, 8 * GiB, 4, id="fractional-cores"),
        pytest.param(0.1, 1 * GiB, 2.0, 2 * GiB, 2, id="memory"),
    ],
)
def test_concurrency_is_limited_by_resources(
    batch_system_factory: Factory,
    tmp_path: Path,
    cores: float,
    memory: int,
    max_cores: float,
    max_memory: int,
    expected: int,
) -> None:
    system = batch_system_factory(max_cores=max_cores, max_memory=max_memory)
    count = 2 * expected
    for i in range(count):
        system.issue_job(job(tmp_path, "record_interval", f"j{i}", cores=cores, memory=memory))
    updates = collect(system, count)
    assert [u.exit_reason for u in updates] == [ExitReason.FINISHED] * count
    intervals = []
    for i in range(count):
        start, end = (tmp_path / f"j{i}.interval").read_text().split()
        intervals.append((float(start), float(end)))
    peak = peak_overlap(intervals)
    assert peak <= expected
    if system.capabilities.in_process:
        assert peak == expected  # jobs that fit start at once: the limit is reached


def test_job_environment_is_set(batch_system_factory: Factory, tmp_path: Path) -> None:
    system = batch_system_factory()
    system.issue_job(
        job(tmp_path, "write_environment", "env", environment={"MOIL_TEST_VALUE": "forty-two"})
    )
    [update] = collect(system, 1)
    assert update.exit_reason is ExitReason.FINISHED
    assert (tmp_path / "env").read_text() == "forty-two"


def test_failing_job_is_reported(batch_system_factory: Factory, tmp_path: Path) -> None:
    system = batch_system_factory()
    batch_id = system.issue_job(job(tmp_path, "fail", "bad"))
    [update] = collect(system, 1)
    assert (update.batch_id, update.job_id) == (batch_id, "bad")
    assert update.exit_reason is ExitReason.FAILED
    assert update.exit_status == 1
    if system.capabilities.in_process:
        assert "job bad fails on purpose" in update.message


def test_dead_worker_is_reported_and_the_system_recovers(
    batch_system_factory: Factory, tmp_path: Path
) -> None:
    system = batch_system_factory(max_cores=1.0)
    killed = system.issue_job(job(tmp_path, "die_by_sigkill", "killed"))
    exited = system.issue_job(job(tmp_path, "exit_3", "exited"))
    after = [system.issue_job(job(tmp_path, "touch", f"after{i}")) for i in range(3)]
    updates = {u.batch_id: u for u in collect(system, 5)}
    assert sorted(updates) == sorted([killed, exited, *after])
    assert updates[killed].exit_status != 0
    assert updates[killed].exit_reason in (ExitReason.KILLED, ExitReason.FAILED)
    if system.capabilities.in_process:
        assert (updates[killed].exit_status, updates[killed].exit_reason) == (-9, ExitReason.KILLED)
    assert (updates[exited].exit_status, updates[exited].exit_reason) == (3, ExitReason.FAILED)
    assert all(updates[b].exit_reason is ExitReason.FINISHED for b in after)
    assert all((tmp_path / f"after{i}").exists() for i in range(3))


def test_kill_jobs_kills_the_job_and_its_children(
    batch_system_factory: Factory,
    tmp_path: Path,
    containers_left: Callable[[], list[str]] | None,
) -> None:
    system = batch_system_factory()
    batch_id = system.issue_job(job(tmp_path, "spawn_child_and_sleep", "parent"))
    child_pid = int(wait_for_file(tmp_path / "parent.child"))
    assert batch_id in system.running_jobs()
    assert system.running_jobs()[batch_id] >= 0
    if containers_left is not None:
        assert containers_left(), "the job runs in a container"
        system.kill_jobs([batch_id])
        assert wait_no_containers(containers_left) == []
    else:
        child = psutil.Process(child_pid)
        system.kill_jobs([batch_id])
        assert wait_gone(child)
    [update] = collect(system, 1)
    assert update.batch_id == batch_id
    assert update.exit_reason is ExitReason.KILLED
    assert system.get_updated_job(0.2) is None
    assert system.issued_ids() == []


def test_kill_jobs_of_a_queued_job(batch_system_factory: Factory, tmp_path: Path) -> None:
    system = batch_system_factory(max_cores=1.0)
    running = system.issue_job(job(tmp_path, "sleep_long", "running"))
    queued = system.issue_job(job(tmp_path, "touch", "queued"))
    wait_for_file(tmp_path / "running.started")
    system.kill_jobs([queued])
    system.kill_jobs([running])
    updates = {u.batch_id: u for u in collect(system, 2)}
    assert sorted(updates) == sorted([running, queued])
    assert {u.exit_reason for u in updates.values()} == {ExitReason.KILLED}
    assert not (tmp_path / "queued").exists()
    assert system.get_updated_job(0.2) is None


@pytest.mark.parametrize(
    ("resources", "words"),
    [
        pytest.param({"cores": 3.0}, ["3 cores", "2 "], id="cores"),
        pytest.param({"memory": 16 * GiB}, ["16.0 GiB", "8.0 GiB", "memory"], id="memory"),
        pytest.param({"disk": 16 * GiB}, ["16.0 GiB", "8.0 GiB", "disk"], id="disk"),
    ],
)
def test_a_job_that_can_never_fit_is_refused(
    batch_system_factory: Factory,
    tmp_path: Path,
    resources: dict[str, Any],
    words: list[str],
) -> None:
    system = batch_system_factory(max_cores=2.0, max_memory=8 * GiB, max_disk=8 * GiB)
    with pytest.raises(InsufficientResourcesError) as raised:
        system.issue_job(job(tmp_path, "touch", "huge", **resources))
    for word in words:
        assert word in str(raised.value)
    assert system.issued_ids() == []


def test_time_limit(batch_system_factory: Factory, tmp_path: Path) -> None:
    system = batch_system_factory()
    if not system.capabilities.time_limits:
        pytest.skip(f"{system.name} does not enforce time limits itself")
    slow = system.issue_job(job(tmp_path, "sleep_long", "slow", time_limit=1.0))
    quick = system.issue_job(job(tmp_path, "touch", "quick", time_limit=60.0))
    updates = {u.batch_id: u for u in collect(system, 2)}
    assert updates[slow].exit_reason is ExitReason.TIMELIMIT
    assert updates[quick].exit_reason is ExitReason.FINISHED
    assert wait_pid_gone(int((tmp_path / "slow.started").read_text()))


def test_shutdown_leaves_no_processes(
    batch_system_factory: Factory,
    tmp_path: Path,
    containers_left: Callable[[], list[str]] | None,
) -> None:
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    system = batch_system_factory(max_cores=2.0)
    system.issue_job(job(tmp_path, "spawn_child_and_sleep", "a", cores=0.5))
    system.issue_job(job(tmp_path, "sleep_long", "b", cores=0.5))
    system.issue_job(job(tmp_path, "touch", "c", cores=0.5))
    system.issue_job(job(tmp_path, "sleep_long", "queued", cores=2.0))
    grandchild_pid = int(wait_for_file(tmp_path / "a.child"))
    wait_for_file(tmp_path / "b.started")
    wait_for_file(tmp_path / "c")
    if containers_left is not None:
        assert containers_left(), "the jobs run in containers"
        system.shutdown()
        assert wait_no_containers(containers_left) == []
        assert not (tmp_path / "queued.started").exists()
        return
    grandchild = psutil.Process(grandchild_pid)
    started = [p for p in me.children(recursive=True) if p.pid not in before]
    if system.capabilities.in_process:
        assert grandchild in started
    system.shutdown()
    assert all(wait_gone(p) for p in [grandchild, *started])
    assert not (tmp_path / "queued.started").exists()
    # Not even zombies: the system reaps what it started.
    assert [p for p in me.children(recursive=True) if p.pid not in before] == []
