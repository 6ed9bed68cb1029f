"""`toil stats` on a real run made with --stats, the HTML report's content, and the job log
options (--writeLogs, --writeLogsGzip, --writeLogsFromAllJobs, --maxLogFileSize, --logFile)."""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

#: the follow-on's displayName ("summing up") names it, as in Toil's stats
WORKER_NAMES = {"root", "burn", "nap", "summing up"}
FIELDS = ("min", "med", "ave", "max", "total")


@pytest.fixture(scope="module")
def stats_run(tmp_path_factory: pytest.TempPathFactory, cli: Any) -> Path:
    base = tmp_path_factory.mktemp("stats")
    store, work = base / "store", base / "work"
    work.mkdir()
    result = cli.run(store, work, "stats", "--stats")
    assert result.returncode == 0, result.stderr
    assert "TOTAL 7" in result.stdout
    assert store.exists(), "--stats keeps the store"
    return store


def test_stats_reports_every_job_name_with_consistent_figures(stats_run: Path, cli: Any) -> None:
    result = cli.toil("stats", "--raw", str(stats_run))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    types = {t["name"]: t for t in data["job_types"]}
    assert set(types) == WORKER_NAMES
    assert [types[n]["count"] for n in ("root", "burn", "nap", "summing up")] == [1, 4, 3, 1]
    total = data["total"]
    assert total["count"] == sum(t["count"] for t in types.values()) == 9
    for category in ("time", "clock", "wait", "memory", "disk"):
        assert math.isclose(
            total[category]["total"],
            sum(t[category]["total"] for t in types.values()),
            rel_tol=1e-9,
        )
        for entry in [*types.values(), total]:
            figures = entry[category]
            assert figures["min"] <= figures["med"] <= figures["max"]
            assert figures["min"] <= figures["ave"] <= figures["max"]
            assert math.isclose(figures["ave"] * entry["count"], figures["total"], rel_tol=1e-9)
    for name in WORKER_NAMES:
        assert types[name]["time"]["min"] > 0 and types[name]["memory"]["min"] > 0
    assert types["burn"]["clock"]["min"] >= 0.25, "0.3 s of CPU burnt in each burn job"
    assert types["nap"]["time"]["min"] >= 0.29
    assert types["nap"]["clock"]["max"] < 0.2, "a nap does not use the CPU"
    # per-job peak memory: burn holds 80 MB more than a nap, even in a reused pool worker
    assert types["burn"]["memory"]["min"] >= types["nap"]["memory"]["max"] + 60 * 1024
    # disk: what each job's directory held when it ended (burn wrote 2 MiB, nap nothing)
    assert types["burn"]["disk"]["min"] >= 2 * 1024 * 1024 > types["nap"]["disk"]["max"]
    assert data["span"] > 0 and data["failed_attempts"] == 0
    assert data["run"]["batch_system"] == "single_machine"


def test_stats_sorts_like_toil_and_prints_a_table(stats_run: Path, cli: Any) -> None:
    def order(*options: str) -> list[str]:
        result = cli.toil("stats", "--raw", *options, str(stats_run))
        assert result.returncode == 0, result.stderr
        return [t["name"] for t in json.loads(result.stdout)["job_types"]]

    assert order("--sortCategory", "alpha") == sorted(WORKER_NAMES)
    assert order("--sortCategory", "alpha", "--sortReverse") == sorted(WORKER_NAMES)[::-1]
    assert order("--sortCategory", "count", "--reverseSort")[0] == "burn"
    assert order("--sortCategory", "clock", "--sortField", "max", "--sortReverse")[0] == "burn"
    text = cli.toil("stats", "--categories", "time,memory", str(stats_run))
    assert text.returncode == 0, text.stderr
    for name in WORKER_NAMES:
        assert re.search(rf"^{name}\s+\d+\s+time", text.stdout, re.MULTILINE), text.stdout
    assert "clock" not in text.stdout and "(all jobs)" in text.stdout
    bad = cli.toil("stats", "--sortField", "median", str(stats_run))
    assert bad.returncode == 2 and "--sortField" in bad.stderr


def test_stats_sort_takes_toils_directions(stats_run: Path, cli: Any) -> None:
    def order(*options: str) -> list[str]:
        result = cli.toil("stats", "--raw", "--sortCategory", "alpha", *options, str(stats_run))
        assert result.returncode == 0, result.stderr
        return [t["name"] for t in json.loads(result.stdout)["job_types"]]

    names = sorted(WORKER_NAMES)
    assert order("--sort", "decending") == order("--sort", "descending") == names[::-1]
    assert order("--sort", "ascending") == names
    assert order("--sort", "ascending", "--sortReverse") == names  # --sort decides
    assert order("--sortCategory", "count", "--sort", "decending")[0] == "burn"
    bad = cli.toil("stats", "--sort", "upwards", str(stats_run))
    assert bad.returncode == 2
    assert bad.stderr == (
        "toil stats: --sort: unknown upwards; choose from ascending, decending, descending\n"
    )


def test_stats_html_is_self_contained_with_every_attempt(
    stats_run: Path, tmp_path: Path, cli: Any
) -> None:
    page = tmp_path / "report.html"
    result = cli.toil("stats", "--html", str(page), str(stats_run))
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    assert "<div id='timeline'" in text and "echarts" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "nothing fetched"
    blob = re.search(
        r"<script type='application/json' id='moil-data'>(.*?)</script>", text, re.DOTALL
    )
    assert blob is not None
    data = json.loads(blob.group(1))
    assert data["summary"]["total"]["count"] == len(data["jobs"]) == 9, "one row per attempt"
    rows = [dict(zip(data["columns"], row, strict=True)) for row in data["jobs"]]
    assert {r["step"] for r in rows} == WORKER_NAMES
    workers = [r for r in rows if not r["local"]]
    assert all(r["queued"] <= r["start"] <= r["end"] for r in workers), "issued, then ran"
    assert all(r["cores"] and r["memory"] and r["batch_id"] is not None for r in workers)
    burn = [r for r in rows if r["step"] == "burn"]
    nap = [r for r in rows if r["step"] == "nap"]
    # a Python job's own memory is its growth in the worker: burn holds 80 MB, nap nothing
    assert min(r["tool_rss"] for r in burn) >= 60 * 1024 > max(r["tool_rss"] for r in nap)
    assert data["critical_path"], "the chain of jobs that ended last"
    on_path = {rows[i]["step"] for i in data["critical_path"]}
    assert "root" in on_path and "summing up" in on_path, on_path


def test_stats_of_a_run_without_stats_says_so(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    cli.run(store, work, "fail", "--retryCount", "0")
    result = cli.toil("stats", str(store))
    assert result.returncode == 1 and "--stats" in result.stderr


def test_failed_job_logs_go_to_write_logs_dirs(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    plain, zipped, leader_log = tmp_path / "logs", tmp_path / "gz", tmp_path / "leader.log"
    work.mkdir()
    result = cli.run(
        store,
        work,
        "fail",
        "--retryCount",
        "1",
        "--writeLogs",
        str(plain),
        "--writeLogsGzip",
        str(zipped),
        "--logFile",
        str(leader_log),
    )
    assert result.returncode != 0
    files = sorted(p.name for p in plain.iterdir())
    assert len(files) == 2 and all(f.startswith("explode_") for f in files), files
    assert files[0].endswith("_0.log") and files[1].endswith("_1.log"), "one per attempt"
    assert "secret 4242" in (plain / files[1]).read_text()
    unzipped = gzip.decompress((zipped / (files[1] + ".gz")).read_bytes()).decode()
    assert unzipped == (plain / files[1]).read_text()
    leader_text = leader_log.read_text()
    assert "explode" in leader_text and "boom 4242" in leader_text


def test_write_logs_from_all_jobs_truncated_to_max_size(tmp_path: Path, cli: Any) -> None:
    store, work, logs = tmp_path / "store", tmp_path / "work", tmp_path / "logs"
    work.mkdir()
    result = cli.run(
        store,
        work,
        "fail",
        "--retryCount",
        "0",
        "--writeLogs",
        str(logs),
        "--writeLogsFromAllJobs",
        "--maxLogFileSize",
        "400",
    )
    assert result.returncode != 0
    names = sorted(p.name.split("_")[0] for p in logs.iterdir())
    assert names == ["explode", "quick", "quick"]  # root wrote no log, gather never ran
    explode = next(p for p in logs.iterdir() if p.name.startswith("explode_")).read_bytes()
    assert len(explode) <= 400 + 100
    assert explode.startswith(b"[moil: ") and b"cut by --maxLogFileSize" in explode
    assert b"ValueError: boom 4242" in explode, "the end of the log is kept"


def test_report_live_refreshes_while_the_run_goes_and_stops_when_it_ends(
    tmp_path: Path, cli: Any
) -> None:
    import subprocess
    import sys

    store, work, page = tmp_path / "store", tmp_path / "work", tmp_path / "live.html"
    work.mkdir()
    (work / "runs").mkdir()
    run = cli.start(store, work, "wait", "--stats")
    live = None
    try:
        cli.wait_for(lambda: len(cli.executions(work)) >= 2, "the quick jobs")
        live = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner.cli.toil_cmd",
                "report",
                str(store),
                "-o",
                str(page),
                "--live",
                "--interval",
                "0.5",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        cli.wait_for(lambda: page.exists() and "moil-data" in page.read_text(), "a live page")
        text = page.read_text()
        assert "http-equiv='refresh' content='1'" in text and "<b>live</b>" in text
        assert "id='state'>running<" in text
        assert live.poll() is None, "it goes on while the run goes"
    finally:
        (work / "release").touch()
        _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert live is not None
    _, live_err = live.communicate(timeout=60)
    assert live.returncode == 0, live_err
    final = page.read_text()
    assert "http-equiv='refresh'" not in final and "id='state'>succeeded<" in final
    blob = re.search(
        r"<script type='application/json' id='moil-data'>(.*?)</script>", final, re.DOTALL
    )
    assert blob is not None and len(json.loads(blob.group(1))["jobs"]) == 7
