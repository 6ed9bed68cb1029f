"""Benchmark of ``toil server`` (WES): submit-to-RUNNING latency, a burst of runs submitted at
once, and the server's memory.

Starts a real ``toil server`` on 127.0.0.1 (``--workers`` runs at once) with its work dir
in a temporary directory, and submits a one-tool CWL workflow (``echo``) through the WES API
as a client would (multipart POST, then polling ``/runs/ID/status`` every 20 ms):

- latency (``--repeat`` runs, one at a time): the POST itself (it validates the document
  with ``toil-cwl-runner --validate`` before answering), then submit-to-RUNNING (the
  server's scheduler starts the run's process, and its leader says it runs jobs) and
  submit-to-COMPLETE;
- burst: ``--burst`` runs POSTed at once from as many threads; the time until all are
  accepted, until all are COMPLETE, and that all are;
- memory: the server process's RSS at start, its peak during the burst (sampled every
  50 ms), and after; each run's own processes (its supervisor, leader, workers) are not the
  server's.

    PYTHONPATH=. .venv/bin/python bench/bench_wes.py [--repeat 5] [--burst 50] [--workers 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Report
from tests.services.wes import ECHO_TOOL as TOOL
from tests.services.wes import WesServer, submit

FIELDS = {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "echo.cwl"}
COLUMNS = [
    ("what", "what", "<28"),
    ("median", "median s", ">9.3f"),
    ("min", "min s", ">8.3f"),
    ("max", "max s", ">8.3f"),
    ("n", "n", ">4"),
    ("note", "note", "<40"),
]


def _submit(server: WesServer, message: str) -> tuple[str, float]:
    started = time.monotonic()
    status, body = submit(
        server, {**FIELDS, "workflow_params": {"msg": message}}, [("echo.cwl", TOOL.encode())]
    )
    if status != 200:
        raise RuntimeError(f"submission refused: {body}")
    return str(body["run_id"]), started


def _until(server: WesServer, run_id: str, states: tuple[str, ...]) -> str:
    while True:
        state = str(server.get(f"/runs/{run_id}/status")["state"])
        if state in states or state in ("COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"):
            return state
        time.sleep(0.02)


def latency(server: WesServer, repeat: int) -> list[dict[str, Any]]:
    posts, running, complete = [], [], []
    for i in range(repeat):
        run_id, started = _submit(server, f"latency {i}")
        accepted = time.monotonic()
        state = _until(server, run_id, ("RUNNING",))
        seen_running = time.monotonic()
        final = _until(server, run_id, ("COMPLETE",))
        done = time.monotonic()
        if final != "COMPLETE":
            raise RuntimeError(f"run {run_id} ended {final}")
        posts.append(accepted - started)
        running.append(seen_running - started if state == "RUNNING" else done - started)
        complete.append(done - started)
    return [
        _row("POST /runs (validates)", posts, "the request alone"),
        _row("submit to RUNNING", running, "POST included"),
        _row("submit to COMPLETE", complete, "POST included"),
    ]


def _row(what: str, values: list[float], note: str) -> dict[str, Any]:
    return {
        "what": what,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "note": note,
    }


def burst(server: WesServer, count: int, process: psutil.Process) -> list[dict[str, Any]]:
    peak = [process.memory_info().rss]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    ids: list[str] = []
    errors: list[str] = []
    started = time.monotonic()

    def one(i: int) -> None:
        try:
            ids.append(_submit(server, f"burst {i}")[0])
        except Exception as exc:  # noqa: BLE001 (counted and reported)
            errors.append(str(exc))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = time.monotonic() - started
    finals = [_until(server, run_id, ("COMPLETE",)) for run_id in ids]
    done = time.monotonic() - started
    sampling.set()
    sampler.join()
    ok = sum(1 for state in finals if state == "COMPLETE")
    note = f"{ok}/{count} COMPLETE" + (f", {len(errors)} refused" if errors else "")
    return [
        {
            "what": f"{count} at once: all accepted",
            "median": accepted,
            "min": accepted,
            "max": accepted,
            "n": count,
            "note": "POSTs from as many threads",
        },
        {
            "what": f"{count} at once: all COMPLETE",
            "median": done,
            "min": done,
            "max": done,
            "n": count,
            "note": note,
        },
        {
            "what": "server RSS peak (MiB)",
            "median": peak[0] / 2**20,
            "min": None,
            "max": None,
            "n": 1,
            "note": "during the burst",
        },
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    report = Report("wes", "toil server (WES)", COLUMNS)
    with tempfile.TemporaryDirectory(prefix="moil-bench-wes-") as work:
        server = WesServer(Path(work), args=["--workers", str(args.workers)])
        server.start()
        try:
            assert server.process is not None and server.process.process is not None
            process = psutil.Process(server.process.process.pid)
            idle = process.memory_info().rss / 2**20
            report.run(
                lambda: {
                    "what": "server RSS at start (MiB)",
                    "median": idle,
                    "n": 1,
                    "note": "idle, no runs",
                }
            )
            for row in latency(server, args.repeat):
                report.run(lambda r=row: r)
            for row in burst(server, args.burst, process):
                report.run(lambda r=row: r)
            after = process.memory_info().rss / 2**20
            runs = len(server.get("/runs?page_size=1000")["runs"])
            report.run(
                lambda: {
                    "what": "server RSS after (MiB)",
                    "median": after,
                    "n": runs,
                    "note": f"{runs} runs known",
                }
            )
        finally:
            server.stop()
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
