"""Benchmark: the call cache (``--cachedir``) of ``toil-cwl-runner``.

- scatter: ``echo`` over N items then one ``cat`` (N + 1 jobs), run once to fill a cache,
  then again on the same cache: every job reused. Figures: the wall time of the cached run,
  the time the leader spent deciding (keys, lookups, taking the results in; the run's
  "call cache: ... (deciding took X s)" line), and the wall time of a cached run of N = 1
  (start-up, loading, exporting outputs: what is not deciding).
- big: a ``--big-gib`` GiB input read by ``head -c 64``, three runs: without a cache (the
  job store hashes the input as it enters the store), and twice with one. ``read_chars``
  shows whether the input was read whole: the first cached run hashes it, the second
  takes its digest from the cache (same path, size, mtime and inode) and reads nothing of it.

    .venv/bin/python bench/bench_cache.py [--sizes 1 1000] [--big-gib 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Report, moil_command, run_measured  # bench/ is not a package
from bench_cwl import CAT, ECHO, SCATTER

HEAD = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [head, -c, "64"]
inputs:
  big: {type: File, inputBinding: {position: 1}}
stdout: head.txt
outputs:
  out: {type: stdout}
"""

DECIDING = re.compile(r"call cache: (\d+) job\(s\) reused, (\d+) run \(deciding took ([\d.]+) s\)")


def _run(work: str, doc: str, job: str, cache: str | None, outdir: str) -> dict[str, Any]:
    argv = [moil_command("toil-cwl-runner"), "--no-container", "--outdir", outdir]
    if cache:
        argv += ["--cachedir", cache]
    m = run_measured([*argv, doc, job], work)
    if m.returncode != 0:
        raise SystemExit(f"run failed ({m.returncode}): {m.stderr_tail}")
    found = DECIDING.search(m.stderr_tail)
    return {
        "wall_s": round(m.wall, 2), "cpu_s": round(m.cpu, 2),
        "read_mib": round(m.read_chars / 2**20, 1),
        "reused": int(found.group(1)) if found else None,
        "ran": int(found.group(2)) if found else None,
        "deciding_s": float(found.group(3)) if found else None,
    }


def scatter_case(work: str, n: int) -> dict[str, Any]:
    for name, text in (("echo.cwl", ECHO), ("cat.cwl", CAT), ("scatter.cwl", SCATTER)):
        with open(os.path.join(work, name), "w") as f:
            f.write(text)
    job = os.path.join(work, f"items-{n}.json")
    with open(job, "w") as f:
        json.dump({"items": list(range(n))}, f)
    cache = os.path.join(work, f"cache-{n}")
    fill = _run(work, "scatter.cwl", job, cache, f"out-{n}-a")
    cached = _run(work, "scatter.cwl", job, cache, f"out-{n}-b")
    return {"case": "scatter", "n": n, "fill_wall_s": fill["wall_s"], **cached}


def big_setup(work: str, gib: float) -> str:
    """The job file of the big case (its input written once)."""
    big = os.path.join(work, "big.bin")
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        f.writelines(block for _ in range(int(gib * 1024)))
    with open(os.path.join(work, "head.cwl"), "w") as f:
        f.write(HEAD)
    job = os.path.join(work, "big.json")
    with open(job, "w") as f:
        json.dump({"big": {"class": "File", "path": big}}, f)
    return job


def big_run(work: str, job: str, label: str, cache: str | None, gib: float) -> dict[str, Any]:
    row = _run(work, "head.cwl", job, cache, f"out-big-{label.replace(' ', '-')}")
    return {"case": f"big {gib:g} GiB: {label}", "n": 1, **row}


COLUMNS = [
    ("case", "case", ""), ("n", "N", "d"), ("fill_wall_s", "1st run s", ".2f"),
    ("wall_s", "wall s", ".2f"), ("deciding_s", "deciding s", ".2f"),
    ("reused", "reused", "d"), ("ran", "ran", "d"), ("read_mib", "read MiB", ".1f"),
    ("cpu_s", "cpu s", ".2f"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--big-gib", type=float, default=2.0)
    args = parser.parse_args()
    report = Report("bench_cache", "call cache", COLUMNS)
    work = tempfile.mkdtemp(prefix="bench-cache-")
    try:
        for n in args.sizes:
            report.run(scatter_case, work, n)
        if args.big_gib > 0:
            job = big_setup(work, args.big_gib)
            cache = os.path.join(work, "cache-big")
            for label, use in (("no cache", None), ("cache, 1st run", cache),
                               ("cache, 2nd run", cache)):
                report.run(big_run, work, job, label, use, args.big_gib)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.finish(args)


if __name__ == "__main__":
    main()
