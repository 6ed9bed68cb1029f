"""Benchmark: a WDL scatter of N trivial tasks through ``toil-wdl-runner``.

Runs the command as a user would (a fresh process, a fresh temporary job store) for each N
and prints wall time and CPU time (the whole process tree: leader, workers, tasks) in total
and per task. "Overhead per task" subtracts what the tasks themselves cost: starting bash on
a one-line script, measured here the same number of times. ``--runner miniwdl`` runs the
same document with miniwdl (tasks on the host, as ``conformance.miniwdl_local`` does) for
comparison.

    PYTHONPATH=. .venv/bin/python bench/bench_wdl.py [--n 10 100 1000] [--runner miniwdl]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DOC = """\
version 1.0

workflow bench {
  input { Int n }
  scatter (i in range(n)) {
    call tiny { input: i = i }
  }
  output { Array[Int] out = tiny.out }
}

task tiny {
  input { Int i }
  command <<<
    echo ~{i}
  >>>
  output { Int out = read_int(stdout()) }
}
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def task_cost(n: int, scratch: str) -> float:
    """CPU seconds that ``n`` runs of the task's command cost by themselves."""
    script = os.path.join(scratch, "command.sh")
    with open(script, "w") as f:
        f.write("echo 1\n")
    before = _children_cpu()
    for _ in range(n):
        subprocess.run(["bash", script], stdout=subprocess.DEVNULL, check=True)
    return _children_cpu() - before


def command(runner: str, wdl: str, n: int, work: str) -> list[str]:
    inputs = f'{{"bench.n": {n}}}'
    if runner == "miniwdl":
        return [
            sys.executable,
            "-m",
            "conformance.miniwdl_local",
            "run",
            wdl,
            "-i",
            inputs,
            "-d",
            os.path.join(work, "run") + "/.",
            "--verbose",
        ]
    return [
        sys.executable,
        "-m",
        "languages.wdl.cli",
        wdl,
        inputs,
        "-o",
        os.path.join(work, "out"),
        "--logLevel",
        "WARNING",
    ]


def run_once(runner: str, n: int, scratch: str) -> tuple[float, float]:
    """Wall and CPU seconds of one run with ``n`` tasks."""
    work = tempfile.mkdtemp(dir=scratch)
    wdl = os.path.join(work, "bench.wdl")
    with open(wdl, "w") as f:
        f.write(DOC)
    env = dict(os.environ, PYTHONPATH=REPO)
    before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        command(runner, wdl, n, work),
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    cpu = _children_cpu() - before
    if proc.returncode != 0:
        raise SystemExit(f"{runner} failed with N={n}:\n{proc.stderr[-3000:]}")
    shutil.rmtree(work, ignore_errors=True)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--runner", choices=["moil", "miniwdl"], default="moil")
    args = parser.parse_args()
    print(f"WDL scatter of N trivial tasks with {args.runner} ({os.cpu_count()} cores)")
    print(
        f"{'N':>6} {'wall s':>8} {'cpu s':>8} {'ms/task wall':>13} {'ms/task cpu':>12} "
        f"{'overhead ms/task':>17}"
    )
    with tempfile.TemporaryDirectory(prefix="moil-bench-wdl-") as scratch:
        for n in args.n:
            wall, cpu = run_once(args.runner, n, scratch)
            own = task_cost(n, scratch)
            print(
                f"{n:>6} {wall:8.2f} {cpu:8.2f} {wall / n * 1e3:13.1f} {cpu / n * 1e3:12.1f} "
                f"{(cpu - own) / n * 1e3:17.1f}"
            )


if __name__ == "__main__":
    main()
