"""Benchmark: a WDL scatter of N trivial tasks through moil, miniwdl and Toil's runner.

Each engine runs the same document as a user would (a fresh process, its default job store
or run directory, outputs to a directory in the scratch dir), for N = 10, 100, 1000. Figures
per run (see bench/_common.py): wall, CPU of the whole process tree (leader, workers, tasks),
the leader's peak RSS, bytes written, and per task: CPU and wall, and the overhead, i.e. the
figure minus what the tasks cost by themselves (bash on a one-line script, run the same
number of times), divided by N.

Engines:
- moil: ``.venv/bin/toil-wdl-runner`` (tasks on the host);
- miniwdl: ``python -m conformance.miniwdl_local run`` (miniwdl with the host backend of the
  conformance harness: there is no container runtime here), with the peers venv's Python when
  bench/peers.sh made one, else moil's venv (which has miniwdl as a library);
- toil: the peers venv's ``toil-wdl-runner``. Toil runs every WDL task in Singularity or
  Docker, neither of which works here, so ``bench/shims/singularity`` stands in: it runs the
  task on the host in a private mount namespace with miniwdl's bind mounts (a few ms per task,
  charged to Toil). Only up to ``--toil-max-n`` (default 100): Toil pays ~a second per task.

    .venv/bin/python bench/bench_wdl.py [--n 10 100 1000] [--engines moil miniwdl toil]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # bench/ is not a package: found by the path above
    REPO,
    Measure,
    Report,
    bare_cost,
    moil_command,
    peer_command,
    run_measured,
)

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

ENGINES = ("moil", "miniwdl", "toil")
SHIMS = os.path.join(REPO, "bench", "shims")


def task_cost(n: int, scratch: str) -> Measure:
    """What ``n`` runs of the task's command cost by themselves."""
    script = os.path.join(scratch, "command.sh")
    with open(script, "w", encoding="utf-8") as f:
        f.write("echo 1\n")
    return bare_cost(["bash", script], n, scratch)


def command(engine: str, wdl: str, inputs: str, work: str) -> list[str] | None:
    """The command line of one run, or None when the engine is not installed."""
    out = os.path.join(work, "out")
    if engine == "moil":
        return [moil_command("toil-wdl-runner"), wdl, inputs, "-o", out, "--logLevel", "WARNING"]
    if engine == "toil":
        exe = peer_command("toil-wdl-runner")
        return None if exe is None else [exe, wdl, inputs, "-o", out, "--logLevel", "WARNING"]
    python = peer_command("python") or os.path.join(REPO, ".venv", "bin", "python")
    return [
        python,
        "-m",
        "conformance.miniwdl_local",
        "run",
        wdl,
        "-i",
        inputs,
        "-d",
        os.path.join(work, "run") + "/.",
    ]


def _outputs(stdout: str) -> list[Any] | None:
    """``bench.out`` from Toil's plain map or miniwdl's ``{"outputs": ...}``."""
    data = json.loads(stdout)
    data = data.get("outputs", data)
    value = data.get("bench.out")
    return value if isinstance(value, list) else None


def run_once(engine: str, n: int, scratch: str, timeout: float) -> dict[str, Any]:
    """One run with ``n`` tasks; its row of figures."""
    work = tempfile.mkdtemp(prefix=f"{engine}-{n}-", dir=scratch)
    wdl = os.path.join(work, "bench.wdl")
    inputs = os.path.join(work, "inputs.json")
    with open(wdl, "w", encoding="utf-8") as f:
        f.write(DOC)
    with open(inputs, "w", encoding="utf-8") as f:
        json.dump({"bench.n": n}, f)
    argv = command(engine, wdl, inputs, work)
    assert argv is not None
    # miniwdl_local is a module of this repository; Toil runs helpers by PATH, and finds
    # the host stand-in for singularity there (it has no way to run a task without one).
    dirs = [os.path.dirname(argv[0]), os.environ.get("PATH", "")]
    if engine == "toil":
        dirs.insert(0, SHIMS)
    path = os.pathsep.join(dirs)
    env = dict(os.environ, PYTHONPATH=REPO, PATH=path)
    m = run_measured(argv, cwd=work, env=env, timeout=timeout)
    status = "ok"
    if m.timed_out:
        status = f"timeout {timeout:.0f}s"
    elif m.returncode != 0:
        status = f"exit {m.returncode}"
    else:
        try:
            got = _outputs(m.stdout)
        except ValueError:
            got = None
        status = "ok" if got == list(range(n)) else "wrong outputs"
    if status != "ok":
        print(f"  {engine} N={n}: {status}\n{m.stderr_tail[-1500:]}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    own = task_cost(n, scratch)
    return {
        "engine": engine,
        "n": n,
        "status": status,
        "wall_s": m.wall,
        "cpu_s": m.cpu,
        "user_s": m.user,
        "sys_s": m.sys,
        "rss_mib": m.leader_peak_rss_mib,
        "wall_ms_task": m.wall / n * 1e3,
        "cpu_ms_task": m.cpu / n * 1e3,
        "ovh_wall_ms": (m.wall - own.wall) / n * 1e3,
        "ovh_cpu_ms": (m.cpu - own.cpu) / n * 1e3,
        "bare_wall_s": own.wall,
        "bare_cpu_s": own.cpu,
        "written_mib": m.write_bytes / 2**20,
    }


COLUMNS = [
    ("n", "N", "d"),
    ("engine", "engine", ""),
    ("status", "status", ""),
    ("wall_s", "wall s", ".2f"),
    ("cpu_s", "cpu s", ".2f"),
    ("rss_mib", "leader MiB", ".0f"),
    ("cpu_ms_task", "cpu ms/task", ".1f"),
    ("ovh_wall_ms", "ovh wall ms/task", ".1f"),
    ("ovh_cpu_ms", "ovh cpu ms/task", ".1f"),
    ("written_mib", "written MiB", ".1f"),
    ("load", "load", ".1f"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--toil-max-n", type=int, default=100)
    parser.add_argument("--miniwdl-max-n", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=3600, help="per run, seconds")
    parser.add_argument("--scratch", default=None, help="where runs go (default: temp dir)")
    args = parser.parse_args()
    limits = {"moil": None, "miniwdl": args.miniwdl_max_n, "toil": args.toil_max_n}
    engines = [e for e in args.engines if command(e, "", "", "") is not None]
    if set(args.engines) - set(engines):
        print("not installed (run bench/peers.sh): toil")
    report = Report("wdl", "WDL benchmark", COLUMNS)
    with tempfile.TemporaryDirectory(prefix="moil-bench-wdl-", dir=args.scratch) as scratch:
        for n in args.n:
            for engine in engines:
                limit = limits[engine]
                if limit is not None and n > limit:
                    continue
                report.run(run_once, engine, n, scratch, args.timeout)
    report.finish(args)


if __name__ == "__main__":
    main()
