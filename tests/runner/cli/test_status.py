"""`toil status` on real runs: running, failed, finished, and a leader killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any


def test_status_of_a_running_run_shows_its_running_jobs(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    leader = cli.start(store, work, "wait", "--clean", "never")
    try:

        def three_running() -> dict[str, Any] | None:
            assert leader.poll() is None, leader.communicate()
            if not store.exists():
                return None
            data: dict[str, Any] = cli.status_json(store)
            return data if data["counts"]["running"] == 3 else None

        data = cli.wait_for(three_running, what="three running hold jobs")
        assert data["state"] == "running"
        assert data["leader"]["alive"] is True
        assert data["by_name"]["hold"]["running"] == 3
        assert data["by_name"]["quick"]["done"] == 2
        assert data["by_name"]["gather"]["waiting"] == 1
        assert {j["name"] for j in data["issued"] if j["running"]} == {"hold"}
        text = cli.toil("status", "--printStatus", str(store))
        assert text.returncode == 0, text.stderr
        assert "RUNNING" in text.stdout and "3 running" in text.stdout
        assert text.stdout.count("hold is running") == 3, text.stdout
        assert cli.toil("status", "--failIfNotComplete", str(store)).returncode == 1
    finally:
        (work / "release").touch()
        out, err = leader.communicate(timeout=120)
    assert leader.returncode == 0, err
    assert "TOTAL 5" in out
    finished = cli.status_json(store)
    assert finished["state"] == "succeeded" and finished["complete"] is True
    assert finished["counts"]["done"] == finished["total"] == 7
    assert cli.toil("status", "--failIfNotComplete", str(store)).returncode == 0


def test_status_of_a_failed_run_names_the_job_and_shows_its_log(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    result = cli.run(store, work, "fail", "--retryCount", "0")
    assert result.returncode != 0
    text = cli.toil("status", str(store))
    assert text.returncode == 0, text.stderr
    assert "FAILED" in text.stdout
    assert "explode" in text.stdout and "boom 4242" in text.stdout
    assert "| explode: about to fail with the secret 4242" in text.stdout
    assert "full log: " in text.stdout
    assert cli.toil("status", "--failIfNotComplete", str(store)).returncode == 1

    data = cli.status_json(store)
    assert data["state"] == "failed"
    assert [j["name"] for j in data["failed"]] == ["explode"]
    failed = data["failed"][0]
    assert "boom 4242" in failed["message"]
    assert any("secret 4242" in line for line in failed["log_tail"])
    assert Path(failed["log_location"]).is_file()
    assert data["counts"]["failed"] == 1 and data["by_name"]["quick"]["done"] == 2

    logs = cli.toil("status", "--printLogs", str(store))
    assert "filler line 0 of the exploding job" in logs.stdout  # the whole log, not a tail
    only_failed = cli.toil("status", "--printFailed", str(store))
    assert "explode" in only_failed.stdout and "quick" not in only_failed.stdout


def test_status_counts_from_the_journal_when_the_leader_was_killed(
    tmp_path: Path, cli: Any
) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    leader = cli.start(store, work, "wait")

    def quick_done() -> bool:
        if not store.exists():
            return False
        counts = cli.status_json(store)["by_name"]
        return counts.get("quick", {}).get("done") == 2 and counts["hold"]["running"] == 3

    cli.wait_for(quick_done, what="the quick jobs done, the hold jobs running")
    os.kill(leader.pid, signal.SIGKILL)
    leader.wait()
    (work / "release").touch()  # orphaned workers finish their jobs and exit
    data = cli.status_json(store)
    assert data["state"] == "stopped" and data["leader"]["alive"] is False
    assert data["source"] == "journal"
    assert "--restart" in data["detail"]
    assert data["total"] == 7
    assert data["by_name"]["quick"]["done"] == 2
    exact = json.loads(cli.toil("status", "--json", "--exact", str(store)).stdout)
    assert exact["counts"] == data["counts"]
    assert cli.toil("status", "--failIfNotComplete", str(store)).returncode == 1


def test_status_of_a_missing_store_is_not_an_error(tmp_path: Path, cli: Any) -> None:
    result = cli.toil("status", "--failIfNotComplete", str(tmp_path / "nothing"))
    assert result.returncode == 0
    assert "not found" in result.stdout


def test_per_job_children_and_dot_views_of_a_failed_run(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    assert cli.run(store, work, "fail", "--retryCount", "1", "--clean", "never").returncode != 0
    per_job = cli.toil("status", "--perJob", str(store))
    assert per_job.returncode == 0, per_job.stderr
    rows = [
        dict(part.split(":", 1) for part in line.split("\t"))
        for line in per_job.stdout.splitlines()
    ]
    by_name: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_name.setdefault(row["JOB"].split()[0], []).append(row)
    assert sorted(by_name) == ["explode", "gather", "quick", "root"]
    assert [r["STATE"] for r in by_name["quick"]] == ["done", "done"]
    (explode,) = by_name["explode"]
    assert (explode["STATE"], explode["FAILED_ATTEMPTS"], explode["TRYS_REMAINING"]) == (
        "failed",
        "2",
        "0",
    )
    assert Path(explode["LOG_FILE"]).read_text().count("boom 4242") >= 1
    assert by_name["gather"][0]["STATE"] == "waiting" and "LOG_FILE" not in by_name["gather"][0]
    assert by_name["root"][0]["CHILD_NUMBER"] == "4"
    ids = {name: [r["JOB"] for r in found] for name, found in by_name.items()}

    children = cli.toil("status", str(store), "--children", "--jobs", "root")
    assert children.returncode == 0, children.stderr
    (line,) = children.stdout.splitlines()
    assert line.startswith(f"CHILDREN_OF_JOB:{ids['root'][0]} ")
    successors = line.split("\t")[1:]
    assert sorted(successors) == sorted(
        [f"(CHILD_JOB:{job},PRECEDENCE:0)" for job in [*ids["quick"], *ids["explode"]]]
        + [f"(CHILD_JOB:{ids['gather'][0]},PRECEDENCE:1)"]
    )

    dot = cli.toil("status", "--dot", str(store))
    assert dot.returncode == 0, dot.stderr
    lines = dot.stdout.splitlines()
    assert lines[0] == "digraph toil_graph {" and lines[-1] == "}"
    nodes = [x for x in lines if "[label=" in x and "->" not in x]
    edges = [x for x in lines if "->" in x]
    assert len(nodes) == 5 and len(edges) == 4
    assert next(x for x in nodes if 'label="explode explode"' in x).endswith('color="red"];')
    only = cli.toil("status", "--dot", str(store), "--jobs", "root", "explode").stdout
    assert only.count("[label=") == 3 and only.count("->") == 1  # 2 nodes, 1 edge

    jobs = cli.toil("status", str(store), "--jobs", "quick", ids["explode"][0].split()[1][:8])
    assert jobs.returncode == 0, jobs.stderr
    assert sorted(x.split("\t")[0] for x in jobs.stdout.splitlines()) == sorted(
        f"JOB:{job}" for job in [*ids["quick"], *ids["explode"]]
    )
    unknown = cli.toil("status", "--perJob", str(store), "--jobs", "nosuch")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert "'nosuch'" in unknown.stderr
