"""`toil kill` then `--restart` on a real run; `toil clean` leaves nothing behind."""

from __future__ import annotations

import signal
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


def test_kill_then_restart_finishes_without_rerunning_finished_jobs(
    tmp_path: Path, cli: Any
) -> None:
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
        finished_links, 1
    ), "a job that had finished ran again"
    assert not store.exists(), "cleaned after the successful restart"


def test_clean_removes_the_store_and_the_runs_work_dirs(tmp_path: Path, cli: Any) -> None:
    store, work, scratch = tmp_path / "store", tmp_path / "work", tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()
    foreign = scratch / "moil-deadbeef-notours"
    foreign.mkdir()
    result = cli.run(
        store,
        work,
        "fail",
        "--retryCount",
        "0",
        "--workDir",
        str(scratch),
        "--cleanWorkDir",
        "never",
    )
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


def test_kill_force_kills_a_local_leader_and_its_jobs_and_the_run_restarts(
    tmp_path: Path, cli: Any
) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    leader = cli.start(store, work, "wait", "--clean", "never")
    try:

        def holding() -> bool:
            assert leader.poll() is None, leader.communicate()
            if not store.exists():
                return False
            data = cli.status_json(store)
            return bool(data["counts"]["running"] == 3 and data["by_name"]["quick"]["done"] == 2)

        cli.wait_for(holding, what="three running hold jobs")
        killed = cli.toil("kill", "--force", str(store))
        assert killed.returncode == 0, killed.stderr
        assert f"(pid {leader.pid})" in killed.stdout and "SIGKILL" in killed.stdout
        leader.wait(timeout=30)
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()
    assert leader.returncode == -signal.SIGKILL
    (work / "release").touch()  # a hold job's worker still alive would now finish and record
    time.sleep(1.5)
    assert len(cli.executions(work)) == 2  # the quick jobs only: no hold job outlived it
    again = cli.run(store, work, "wait", "--restart")
    assert again.returncode == 0, again.stderr
    assert "TOTAL 5" in again.stdout
    assert len(cli.executions(work)) == 5


def test_kill_force_of_a_finished_run_kills_nothing(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    (work / "release").touch()
    assert cli.run(store, work, "wait", "--clean", "never").returncode == 0
    result = cli.toil("kill", "--force", str(store))
    assert result.returncode == 0, result.stderr
    assert "nothing to stop" in result.stdout and "SIGKILL" not in result.stdout
