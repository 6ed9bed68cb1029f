"""Workflows on a real HTCondor pool (Debian 13's, in a chroot: ``htcondor_pool``) give the
single-machine results: the WDL scatter and examples of Toil's documentation through the
Python API.

HTCondor refuses jobs from root, and the pool's user cannot enter pytest's directories, so
the leader here is what a site's user runs: the pool's user, inside the chroot (the
checkout and the interpreter are mounted there at the same paths), in a directory of the
pool's ``work/`` that user owns, submitting with the pool's own ``condor_submit``. Nothing is
made readable to other users for it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.runner.cluster_workflows import (
    ALL_BINARY_5,
    run_example,
    run_scatter,
    scheduler_commands,
)
from tests.services import users
from tests.services.htcondor import HTCondorPool

pytestmark = pytest.mark.htcondor


@pytest.fixture
def home(htcondor_pool: HTCondorPool, request: pytest.FixtureRequest) -> Path:
    """A directory of the pool's user for this test, seen at one path inside and out."""
    name = re.sub(r"\W", "_", request.node.name)[:40]
    return users.user_dir(htcondor_pool.work_dir / f"wf-{os.getpid()}-{name}", htcondor_pool.user)


def queue_is_empty(pool: HTCondorPool) -> bool:
    return pool.run_as_user("condor_q", "-allusers", "-af", "ClusterId").stdout.strip() == ""


def test_wdl_scatter_gives_the_single_machine_outputs(
    tmp_path: Path, home: Path, htcondor_pool: HTCondorPool
) -> None:
    local = run_scatter(tmp_path, "local", "--logLevel", "WARNING")
    condor = run_scatter(
        home,
        "condor",
        "--batchSystem",
        "htcondor",
        "--statePollingWait",
        "0.5",
        "--logLevel",
        "INFO",
        launch=htcondor_pool.user_argv,
        owner=htcondor_pool.user,
    )
    assert condor["fan.cubes"] == local["fan.cubes"] == [27, 1, 64, 1, 125, 8]
    files = condor["fan.files"]
    assert isinstance(files, list) and len(set(files)) == 6
    assert [Path(f).read_text() for f in files] == [
        f"condor{x}: {x**3}\n" for x in (3, 1, 4, 1, 5, 2)
    ]
    assert all(Path(f).stat().st_uid == users.ensure_user(htcondor_pool.user).pw_uid for f in files)
    counts = scheduler_commands(str(condor["_stderr"]), "htcondor")
    assert counts["condor_submit"] >= 6, "each task ran through condor_submit"
    assert queue_is_empty(htcondor_pool)


@pytest.mark.parametrize(
    ("example", "pattern", "expected"),
    [
        ("tutorial_promises", r"i is: (\d+)", ["1", "2", "3"]),
        ("tutorial_dynamic", r"Binary string: (\S*)", ALL_BINARY_5),
    ],
)
def test_python_api_examples_give_the_single_machine_results(
    tmp_path: Path,
    home: Path,
    htcondor_pool: HTCondorPool,
    example: str,
    pattern: str,
    expected: list[str],
) -> None:
    local = run_example(example, tmp_path / "local")
    # getDefaultOptions() takes the batch system from TOIL_BATCH_SYSTEM, as with Toil.
    condor = run_example(
        example,
        home / "condor",
        launch=htcondor_pool.user_argv,
        owner=htcondor_pool.user,
        TOIL_BATCH_SYSTEM="htcondor",
    )
    found = sorted(re.findall(pattern, condor.stderr, re.MULTILINE))
    assert found == sorted(re.findall(pattern, local.stderr, re.MULTILINE)) == sorted(expected)
    assert scheduler_commands(condor.stderr, "htcondor")["condor_submit"] >= len(expected)
    assert queue_is_empty(htcondor_pool)
