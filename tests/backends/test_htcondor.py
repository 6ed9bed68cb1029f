"""The htcondor batch system against a real HTCondor pool (Debian 13's, in a chroot:
``htcondor_pool``). Jobs are shell commands run as the pool's user (HTCondor refuses root),
leaving files in a directory of ``pool.work_dir`` that user owns; the batch system object
runs here as root through the pool's ``bin/`` wrappers. The contract suite runs on it too
(test_batch_contract.py, its jobs' directory in ``pool.work_dir``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.batch.base import ExitReason
from backends.batch.htcondor import HTCondorBatchSystem, quote_environment
from backends.errors import InsufficientResourcesError
from tests.backends.cluster_jobs import collect_by_job as collect
from tests.backends.cluster_jobs import make_system, shell_job
from tests.services import users
from tests.services.htcondor import HTCondorPool

MiB = 1024**2


def test_the_environment_is_quoted_as_htcondor_wants() -> None:
    env = {"A": "it's", "B": "two words", "BAD": 'a"b', "C": "x\ny", "D": ""}
    assert quote_environment(env) == "\"A='it''s' B='two words' D=''\""


@pytest.fixture
def work(htcondor_pool: HTCondorPool) -> Path:
    return users.user_dir(htcondor_pool.work_dir / f"backend-{os.getpid()}", htcondor_pool.user)


@pytest.fixture
def condor(htcondor_pool: HTCondorPool, work: Path) -> Iterator[HTCondorBatchSystem]:
    system = make_system(HTCondorBatchSystem, work / "bs", htcondor_pool.env)
    system.start()
    yield system
    system.shutdown()


HOG = f"{sys.executable} -c 'b = bytearray(300 * 2**20); b[::4096] = b\"x\" * len(b[::4096]); import time; time.sleep(60)'"


@pytest.mark.htcondor
def test_exit_codes_environment_and_one_condor_q_per_poll(
    condor: HTCondorBatchSystem, work: Path
) -> None:
    for i in range(12):
        script = f'echo "$MOIL_TEST_VALUE $(id -un)" > {work}/j{i}; exit {i % 3}'
        condor.issue_job(shell_job(f"j{i}", script, env={"MOIL_TEST_VALUE": f"v{i}"}))
    updates = collect(condor, 12)
    assert [updates[f"j{i}"].exit_status for i in range(12)] == [i % 3 for i in range(12)]
    assert updates["j1"].exit_reason is ExitReason.FAILED
    assert updates["j1"].message == "the worker exited with code 1"
    assert (work / "j4").read_text() == "v4 moiltest\n"
    counts = condor.command_counts
    assert counts["condor_submit"] == 12
    assert counts["condor_q"] == condor.poll_count < 12 * 3, counts


@pytest.mark.htcondor
def test_over_memory_is_memlimit_and_kill_removes_the_job(
    condor: HTCondorBatchSystem, htcondor_pool: HTCondorPool, work: Path
) -> None:
    condor.issue_job(shell_job("hog", HOG, memory=100 * MiB))
    sleeper = condor.issue_job(shell_job("sleeper", f"touch {work}/started; exec sleep 300"))
    while not (work / "started").exists():
        assert condor.get_updated_job(0.5) is None
    condor.kill_jobs([sleeper])
    updates = collect(condor, 2)
    assert updates["hog"].exit_reason is ExitReason.MEMLIMIT, updates["hog"]
    assert "memory usage exceeded request_memory" in updates["hog"].message
    assert updates["sleeper"].exit_reason is ExitReason.KILLED
    queue = htcondor_pool.run_as_user("condor_q", "-allusers", "-af", "ClusterId").stdout
    assert queue.strip() == ""


@pytest.mark.htcondor
def test_more_than_the_largest_machine_is_refused(condor: HTCondorBatchSystem) -> None:
    with pytest.raises(InsufficientResourcesError, match=r"largest machine of the pool"):
        condor.issue_job(shell_job("wide", "true", cores=64))
