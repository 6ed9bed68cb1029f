"""`toil kill` then `--restart` on a real run; `toil clean` leaves nothing behind."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

LINKS = 6 * 8


def _done_job_ids(store: Path) -> set[str]:
    from backends.jobstore.base import open_job_store
    from runner.model.events import JobRan, decode_kind

    job_store = open_job_store(f"file:{store}")
    job_store.open()
    return {event.job_id for event in decode_kind(job_store.read_records(), JobRan)}


def test_kill_then_restart_finishes_without_rerunning_finished_jobs(tmp_path: Path,
                                                                      cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    leader = cli.start(store, work, "chain")
    deadline = time.monotonic() + 120
    while len(cli.executions(work)) < 12 and time.monotonic() < deadline:
        assert leader.poll() is None, leader.communicate()
        time.sleep(0.05)
    killed = cli.toil("kill", str(store))
    assert killed.returncode == 0, killed.stderr
    assert "asked the leader" in killed.stdout
    _, err = leader.communicate(timeout=60)
    assert leader.returncode != 0
    assert "toil kill" in err and "--restart" in err

    data = cli.status_json(store)
    assert data["state"] == "stopped" and "toil kill" in data["detail"]
    assert not (store / "shared" / "kill-request").exists(), "the leader took the flag"
    done_before = _done_job_ids(store)
    ran_before = cli.executions(work)
    finished_links = done_before & set(ran_before)
    assert 0 < len(finished_links) < LINKS, "the kill must land in the middle of the run"

    again = cli.toil("kill", str(store))
    assert again.returncode == 0 and "nothing to stop" in again.stdout
    assert not (store / "shared" / "kill-request").exists(), "no flag for a gone leader"

    result = cli.run(store, work, "chain", "--restart")
    assert result.returncode == 0, result.stderr
    assert "TOTAL 48" in result.stdout
    counts = cli.executions(work)
    assert len(counts) == LINKS
    assert {job_id: counts[job_id] for job_id in finished_links} == dict.fromkeys(
        finished_links, 1), "a job that had finished ran again"
    assert not store.exists(), "cleaned after the successful restart"


def test_clean_removes_the_store_and_the_runs_work_dirs(tmp_path: Path, cli: Any) -> None:
    store, work, scratch = tmp_path / "store", tmp_path / "work", tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()
    foreign = scratch / "moil-deadbeef-notours"
    foreign.mkdir()
    result = cli.run(store, work, "fail", "--retryCount", "0", "--workDir", str(scratch),
                     "--cleanWorkDir", "never")
    assert result.returncode != 0
    left = sorted(p.name for p in scratch.iterdir() if p != foreign)
    assert len(left) == 3, left  # two quick jobs and explode kept their directories

    cleaned = cli.toil("clean", str(store))
    assert cleaned.returncode == 0, cleaned.stderr
    assert not store.exists()
    assert [p.name for p in scratch.iterdir()] == [foreign.name]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".store")]

    assert cli.toil("clean", str(store)).returncode == 0, "cleaning again is fine"
    assert cli.toil("clean", str(tmp_path / "never-was")).returncode == 0
