"""The run report in a real browser: Debian's Chromium driven by Playwright (npm's
``playwright-core``, from the tools cache; it downloads no browser) through
``report_check.mjs``.

- A 10,000-attempt report (the stats written straight into a store through the store API, as
  the leader journals them: no 10,000 jobs run) opens in under 3 s at 1400x900, with no
  horizontal overflow, and its timeline draws the labels of its rows.
- The report a real CWL scatter run wrote with ``--report`` (one instance fails) filters to
  the failed attempt and shows its error and log tail.

Screenshots are kept as test artifacts (``$MOIL_TEST_ARTIFACTS``, default ``test-artifacts/``
in the checkout). Needs Debian's ``chromium``; the fixture installs it with apt-get when it
is missing (we are root) and skips, saying why, only if that fails.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.services import toolcache

ROOT = Path(__file__).parents[3]

WORKFLOW = """\
cwlVersion: v1.2
class: Workflow
requirements:
  ScatterFeatureRequirement: {}
inputs:
  words: string[]
outputs:
  counts: {type: 'File[]', outputSource: count/out}
steps:
  make:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ["sleep 0.`printf %s $0 | wc -c`; echo $0"]
      inputs: {w: {type: string, inputBinding: {position: 1}}}
      stdout: word.txt
      outputs: {out: stdout}
    scatter: w
    in: {w: words}
    out: [out]
  count:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ["sleep 0.3; grep -q epsilon $0 && { echo disk quota exceeded on $0 >&2; exit 3; }; wc -c < $0"]
      inputs: {f: {type: File, inputBinding: {position: 1}}}
      stdout: count.txt
      outputs: {out: stdout}
    scatter: f
    in: {f: make/out}
    out: [out]
"""
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and there is no apt-get to install it")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]
    subprocess.run(
        [*apt, "update"], capture_output=True, text=True, timeout=900, env=env, check=False
    )
    result = subprocess.run(
        [*apt, "install", "-y", "--no-install-recommends", "chromium"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"chromium could not be installed with apt-get: {result.stderr[-500:]}")
    return found


def read_png(path: Path) -> tuple[int, int, list[tuple[int, ...]]]:
    """Width, height and pixels (RGB tuples) of an 8-bit RGB/RGBA non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    channels = 4 if color == 6 else 3
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                best = min(
                    (abs(guess - left), 0, left),
                    (abs(guess - up), 1, up),
                    (abs(guess - corner), 2, corner),
                )[2]
                line[i] = (line[i] + best) & 0xFF
        rows.append(line)
        previous = line
    pixels = [tuple(row[x * channels : x * channels + 3]) for row in rows for x in range(width)]
    return width, height, pixels


STEPS, PER_STEP, LANES = 20, 500, 4
FAILED = {(7, 123), (12, 4), (19, 499)}


def artifacts() -> Path:
    where = Path(os.environ.get("MOIL_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    where.mkdir(parents=True, exist_ok=True)
    return where


def playwright_or_skip() -> tuple[str, Path]:
    try:
        prefix = toolcache.npm_prefix("playwright", toolcache.PLAYWRIGHT_PACKAGES)
        return toolcache.node(), prefix / "node_modules" / "playwright-core"
    except toolcache.ToolUnavailable as exc:
        pytest.skip(f"playwright-core cannot be installed here: {exc}")


def check_in_browser(
    chromium: str, page: Path, shots: str, failed_search: str | None = None
) -> dict[str, Any]:
    node, playwright = playwright_or_skip()
    argv = [
        node,
        str(Path(__file__).with_name("report_check.mjs")),
        str(playwright),
        chromium,
        page.as_uri(),
        str(artifacts() / shots),
    ]
    result = subprocess.run(
        argv + ([failed_search] if failed_search else []),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["errors"] == [] and seen["requests"] == [], seen  # no script error, no fetch
    assert not seen["overflow"], f"wider than the 1400 px window: {seen['width']}"
    return seen


def synthetic_store(where: Path) -> str:
    """A store holding the stats of 10,000 attempts of 20 steps (and the logs of the three
    failed ones), written through the store API the way the leader journals them."""
    from backends.jobstore.base import open_job_store
    from runner.engine import names
    from runner.engine.runinfo import start_info, update_run_info
    from runner.model.events import JobStats, encode

    store = open_job_store(f"file:{where}")
    store.create()
    rng = random.Random(21)
    records, t0, batch = [], time.time() - 3600, 0
    for step in range(STEPS):
        free = [t0 + step * 60.0] * LANES
        for index in range(PER_STEP):
            lane = min(range(LANES), key=lambda k: free[k])
            queued = free[lane]
            start = queued + rng.uniform(0.05, 2.0)
            tool = rng.uniform(0.5, 8.0)
            end = start + 0.2 + tool
            free[lane] = end
            batch += 1
            ok = (step, index) not in FAILED
            job_id = f"{step:02d}{index:04d}" + "0" * 26
            stats: dict[str, float | str] = {
                "wall": end - start,
                "cpu": tool * rng.uniform(0.1, 1.9),
                "rss_kib": 60_000.0,
                "tool_rss_kib": rng.uniform(1e3, 4e6),
                "start": start,
                "end": end,
                "tool_start": start + 0.1,
                "tool_end": end - 0.1,
                "local": 0.0,
                "ok": float(ok),
                "host": f"node{batch % 7}",
                "queued": queued,
                "batch_id": float(batch),
                "cores": 2.0,
                "memory": 8.0 * 2**30,
                "disk": 2.0 * 2**30,
                "rchar": 1e6,
                "wchar": 5e5,
                "read_bytes": 0.0,
                "write_bytes": 4096.0,
                "attempt": 0.0,
                "display": f"wf/step{step:02d}[{index}]",
            }
            if not ok:
                stats.update(exit_code=3.0, error=f"step{step:02d}[{index}]: the tool exited 3")
                log = where.parent / f"log-{job_id}.txt"
                log.write_text(
                    "".join(f"line {n} of the tool's chatter\n" for n in range(80))
                    + f"disk quota exceeded on shard {step}-{index}\n"
                )
                store.save_job_log(job_id, str(log))
            records += encode(JobStats(job_id, f"wf/step{step:02d}", stats))
    store.append_records(records)
    store.write_shared(names.STATUS, pickle.dumps({"state": "failed", "time": time.time()}))
    update_run_info(store, **start_info(["toil-cwl-runner", "wf.cwl", "job.yml"]))
    return store.locator


def test_a_10000_job_report_opens_fast_with_labels_and_fits_1400px(
    tmp_path: Path, chromium: str, cli: Any
) -> None:
    locator = synthetic_store(tmp_path / "store")
    page, trace = tmp_path / "report.html", tmp_path / "trace.tsv"
    made = cli.toil("report", locator, "-o", str(page), "--trace", str(trace), timeout=300)
    assert made.returncode == 0, made.stderr
    assert len(trace.read_text().splitlines()) == 1 + STEPS * PER_STEP
    seen = check_in_browser(chromium, page, "report-10000", failed_search="step12[4]")
    assert seen["bars"] == STEPS * PER_STEP
    assert [p["steps"] for p in seen["plots"]] == [STEPS] * 4, seen["plots"]
    assert seen["plots"][0]["series"] == ["requested", "peak (max)", "peak (median)"]
    assert seen["open_ms"] < 3000, f"the 10,000-job report opened in {seen['open_ms']:.0f} ms"
    assert len(seen["rows"]) == STEPS * LANES, "a step takes as many rows as it ran at once"
    drawn = set(seen["labels"])
    assert {f"wf/step{s:02d}" for s in range(10)} <= drawn, "row labels on the canvas"
    assert seen["filtered"] == 1, seen["count_text"]
    assert seen["log_tail"].rstrip().endswith("disk quota exceeded on shard 12-4")
    assert "the tool exited 3" in seen["error"]
    assert not seen["overflow_after"]


def test_report_of_a_cwl_scatter_shows_the_failed_tool_and_its_log_tail(
    tmp_path: Path, chromium: str
) -> None:
    (tmp_path / "wf.cwl").write_text(WORKFLOW)
    (tmp_path / "job.yml").write_text(f"words: [{', '.join(WORDS)}]\n")
    page, trace = tmp_path / "report.html", tmp_path / "trace.tsv"
    runner = Path(sys.executable).parent / "toil-cwl-runner"
    run = subprocess.run(
        [
            str(runner),
            "--jobStore",
            str(tmp_path / "store"),
            "--report",
            str(page),
            "--trace",
            str(trace),
            "--retryCount",
            "0",
            "--outdir",
            str(tmp_path / "out"),
            str(tmp_path / "wf.cwl"),
            str(tmp_path / "job.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    lines = [line.split("\t") for line in trace.read_text().splitlines()]
    rows = [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]
    count = [r for r in rows if r["process"] == "wf.cwl/count"]
    assert sorted(r["tag"] for r in count) == [str(i) for i in range(len(WORDS))]
    failed = [r for r in count if r["status"] == "FAILED"]
    assert len(failed) == 1 and failed[0]["exit"] == "3", failed
    for r in count:  # the tool's own run (sleep 0.3) and its own memory, not the worker's
        # the span starts when cwltool hands the started process to its monitor, which under
        # load is some tens of ms after the exec: a bound well above zero, below 300 ms
        assert 200 <= int(r["realtime"]) < 3000, r
        assert 0 < int(r["peak_rss"]) < 30 * 2**20, r
    seen = check_in_browser(chromium, page, "report-cwl", failed_search="count")
    assert seen["filtered"] == 1, seen["count_text"]
    assert "disk quota exceeded" in seen["log_tail"], seen["log_tail"]
    assert {"wf.cwl/make", "wf.cwl/count"} <= set(seen["labels"]), seen["labels"]
    html = page.read_text()
    assert "--report" in html and "cwltool" in html, "the command line and the versions"
