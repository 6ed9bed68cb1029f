"""Restart after the leader is killed, and fault injection with --badWorker."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

SCRIPT = Path(__file__).parent / "scripts" / "graph200.py"
EXPECTED_TOTAL = 20 * 9  # each chain returns the depth of its last job
JOBS = 20 * 10


def _run(store: Path, runs: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(store), str(runs), "--logLevel", "WARNING", *extra],
        capture_output=True, text=True, timeout=600,
    )


def _executions(runs: Path) -> collections.Counter[str]:
    return collections.Counter(name.split(".")[0] for name in os.listdir(runs))


@pytest.mark.slow
def test_sigkill_leader_then_restart_runs_no_finished_job_twice(tmp_path: Path) -> None:
    store, runs = tmp_path / "store", tmp_path / "runs"
    runs.mkdir()
    leader = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(store), str(runs), "--logLevel", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while len(os.listdir(runs)) < JOBS // 3 and time.monotonic() < deadline:
        assert leader.poll() is None, leader.communicate()
        time.sleep(0.01)
    workers = psutil.Process(leader.pid).children(recursive=True)
    leader.send_signal(signal.SIGKILL)
    leader.wait()
    done_before = len(os.listdir(runs))
    assert 0 < done_before < JOBS, "the kill must land in the middle of the run"
    psutil.wait_procs(workers, timeout=30)  # orphaned workers finish their job and leave

    result = _run(store, runs, "--restart")
    assert result.returncode == 0, result.stderr
    assert f"TOTAL {EXPECTED_TOTAL}" in result.stdout
    counts = _executions(runs)
    assert len(counts) == JOBS
    assert [name for name, n in counts.items() if n > 1] == []
    assert not store.exists(), "the store is cleaned after the successful restart"


@pytest.mark.slow
def test_bad_worker_with_retries_finishes(tmp_path: Path) -> None:
    store, runs = tmp_path / "store", tmp_path / "runs"
    runs.mkdir()
    result = _run(store, runs, "--badWorker", "0.3", "--retryCount", "5")
    assert result.returncode == 0, result.stderr
    assert f"TOTAL {EXPECTED_TOTAL}" in result.stdout
    counts = _executions(runs)
    assert len(counts) == JOBS
    # a killed worker dies after its job ran, so some jobs must have run more than once
    assert sum(counts.values()) > JOBS


def test_existing_store_without_restart_is_refused(tmp_path: Path) -> None:
    store, runs = tmp_path / "store", tmp_path / "runs"
    runs.mkdir()
    store.mkdir()
    (store / "keep").write_text("x")
    from runner import Job, Toil
    from runner.errors import JobStoreInUseError

    options = Job.Runner.getDefaultOptions(str(store))
    with pytest.raises(JobStoreInUseError, match="--restart"):
        with Toil(options):
            pass
    assert (store / "keep").read_text() == "x", "nothing of the existing directory is lost"
