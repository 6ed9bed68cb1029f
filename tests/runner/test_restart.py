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
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _executions(runs: Path) -> collections.Counter[str]:
    return collections.Counter(name.split(".")[0] for name in os.listdir(runs))


@pytest.mark.slow
def test_sigkill_leader_then_restart_runs_no_finished_job_twice(tmp_path: Path) -> None:
    store, runs = tmp_path / "store", tmp_path / "runs"
    runs.mkdir()
    leader = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(store), str(runs), "--logLevel", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    from backends.jobstore.base import open_job_store

    existing = open_job_store(str(store))
    existing.create()
    existing.write_shared("keep", b"x")
    result = _run(store, runs)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "--restart" in result.stderr
    assert "Traceback" not in result.stderr
    assert existing.read_shared("keep") == b"x", "nothing of the existing store is lost"


def test_a_directory_that_is_no_store_is_refused(tmp_path: Path) -> None:
    store, runs = tmp_path / "store", tmp_path / "runs"
    runs.mkdir()
    store.mkdir()
    (store / "keep").write_text("x")
    result = _run(store, runs)
    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert (store / "keep").read_text() == "x"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--restart"], "no job store"),
        (["--batchSystem", "nosuch"], "known: "),
    ],
)
def test_invalid_use_exits_2_with_a_clear_message(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    result = _run(tmp_path / "store", runs, *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_locator_exits_2(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "nosuchkind:abc", str(runs)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown job store kind 'nosuchkind'" in result.stderr


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_restart_finishes(tmp_path: Path) -> None:
    store, runs = tmp_path / "store", tmp_path / "runs"
    runs.mkdir()
    leader = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(store), str(runs), "--logLevel", "INFO"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(os.listdir(runs)) < JOBS // 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = psutil.Process(leader.pid).children(recursive=True)
    leader.send_signal(signal.SIGTERM)
    _, err = leader.communicate(timeout=60)
    assert leader.returncode != 0
    assert "--restart" in err
    _gone, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == [], "the leader kills its workers when it stops"
    result = _run(store, runs, "--restart")
    assert result.returncode == 0, result.stderr
    assert f"TOTAL {EXPECTED_TOTAL}" in result.stdout
    assert len(_executions(runs)) == JOBS
