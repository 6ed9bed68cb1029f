"""`toil debug-job`: rerun one job of a failed run in the foreground, journal untouched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _failed_run(tmp_path: Path, cli: Any) -> tuple[Path, Path]:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    result = cli.run(store, work, "fail", "--retryCount", "0")
    assert result.returncode != 0
    return store, work


def test_debug_job_reruns_the_failed_job_with_its_output(tmp_path: Path, cli: Any) -> None:
    store, work = _failed_run(tmp_path, cli)
    before = cli.journal(store)
    explode_id = cli.status_json(store)["failed"][0]["id"]
    runs_before = cli.executions(work)[explode_id]

    result = cli.toil("debug-job", str(store), "explode")
    assert result.returncode == 1, result.stderr
    assert "explode: about to fail with the secret 4242" in result.stdout  # the job's prints
    assert "ValueError: boom 4242" in result.stderr
    assert cli.executions(work)[explode_id] == runs_before + 1, "it really ran again"
    assert cli.journal(store) == before, "the journal is not changed"

    by_id = cli.toil("debug-job", str(store), explode_id[:10])
    assert by_id.returncode == 1 and "boom 4242" in by_id.stderr
    assert cli.status_json(store)["state"] == "failed"


def test_debug_job_runs_a_finished_job_and_refuses_ambiguous_names(
    tmp_path: Path, cli: Any
) -> None:
    store, work = _failed_run(tmp_path, cli)
    ambiguous = cli.toil("debug-job", str(store), "quick")
    assert ambiguous.returncode == 2
    assert "2 jobs match 'quick'" in ambiguous.stderr

    quick_ids = [
        job_id
        for job_id in cli.executions(work)
        if job_id != cli.status_json(store)["failed"][0]["id"]
    ]
    ok = cli.toil("debug-job", str(store), quick_ids[0])
    assert ok.returncode == 0, ok.stderr
    assert "succeeded" in ok.stderr and "returned 1" in ok.stderr

    blocked = cli.toil("debug-job", str(store), "gather")
    assert blocked.returncode == 2
    assert "cannot run yet" in blocked.stderr and "explode" in blocked.stderr

    missing = cli.toil("debug-job", str(store), "no-such-job")
    assert missing.returncode == 2 and "no job 'no-such-job'" in missing.stderr
    assert json.loads(cli.toil("status", "--json", str(store)).stdout)["total"] == 5


def test_print_job_info_describes_the_job_without_running_it(tmp_path: Path, cli: Any) -> None:
    store, work = _failed_run(tmp_path, cli)
    before = cli.journal(store)
    explode_id = cli.status_json(store)["failed"][0]["id"]
    runs_before = cli.executions(work)[explode_id]
    result = cli.toil("debug-job", "--printJobInfo", str(store), "explode")
    assert result.returncode == 0, result.stderr
    info = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert info["job"] == f"explode {explode_id}"
    assert info["state"] == "failed" and info["failed attempts"] == "1"
    assert info["failure"].startswith("ValueError: boom 4242")
    assert info["parent"].startswith("root ") and info["parent"].endswith("(child)")
    assert "boom" not in info["executor"] and info["successors"] == "none"
    assert Path(info["log"]).read_text().count("about to fail with the secret 4242") == 1
    assert str(work) in info["payload"]  # the function's argument, as it was given
    assert cli.executions(work)[explode_id] == runs_before, "it did not run"
    assert cli.journal(store) == before
