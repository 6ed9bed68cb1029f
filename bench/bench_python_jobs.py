"""Benchmark: engine overhead per trivial Python job, on single_machine with a file: store.

Two shapes, each for N = 100, 1000, 10000 (``--sizes``):
- fan: a root job that adds N children with ``addChildFn`` of a trivial function;
- chain: N jobs, each adding the next as its child (``addChildJobFn``).
Each run is a fresh process (the leader), so imports, the store and the worker pool are paid
for every run as a user pays them. Printed per run: wall seconds of ``Toil.start`` and of the
whole process, ms per job (whole run / N), marginal ms per job (minus a 1-job run of the same
shape: the engine's per-job overhead), jobs/s, the leader's peak RSS, and CPU ms per job
of the leader and of the workers (these do not depend on how busy the machine is).

If a side environment with Toil exists (``--toil-python``, default: the venv bench/peers.sh
makes, ``$PEERS_VENV`` or .venv-peers), the same runs are made with Toil for N=100 and
printed beside.

    .venv/bin/python bench/bench_python_jobs.py [--sizes 100 1000 10000] [--shapes fan chain]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

DEFAULT_TOIL_PYTHON = os.path.join(
    os.environ.get(
        "PEERS_VENV",
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv-peers"),
    ),
    "bin",
    "python",
)


# -- the workflow (run in the child process) ----------------------------------------------------
def trivial(index: int) -> int:
    return index


def fan(job: Any, count: int) -> None:
    for index in range(count):
        job.addChildFn(trivial, index)


def chain(job: Any, remaining: int) -> None:
    if remaining > 1:
        job.addChildJobFn(chain, remaining - 1)


def child_main(engine: str, shape: str, count: int, scratch_root: str | None = None) -> None:
    """Run one workflow in this process and print its figures as JSON."""
    # Toil only exists in its side environment, hence the imports by name.
    names = ("toil.job", "toil.common") if engine == "toil" else ("runner", "runner")
    Job: Any = importlib.import_module(names[0]).Job  # noqa: N806 (Toil's name)
    Toil: Any = importlib.import_module(names[1]).Toil  # noqa: N806 (Toil's name)
    scratch = tempfile.mkdtemp(prefix="bench-python-jobs-", dir=scratch_root)
    options = Job.Runner.getDefaultOptions(os.path.join(scratch, "store"))
    options.logLevel = "WARNING"
    options.clean = "always"
    options.disableProgress = True
    options.workDir = scratch
    if shape == "fan":
        root, jobs = Job.wrapJobFn(fan, count), count + 1
    else:
        root, jobs = Job.wrapJobFn(chain, count), count
    start = time.perf_counter()
    with Toil(options) as toil:
        toil.start(root)
    wall = time.perf_counter() - start
    shutil.rmtree(scratch, ignore_errors=True)
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, reaped at shutdown
    print(
        json.dumps(
            {
                "wall": wall,
                "jobs": jobs,
                "rss_kib": me.ru_maxrss,
                "leader_cpu": me.ru_utime + me.ru_stime,
                "worker_cpu": kids.ru_utime + kids.ru_stime,
            }
        )
    )


# -- the driver -----------------------------------------------------------------------------
def measure(
    python: str, engine: str, shape: str, count: int, scratch: str | None
) -> dict[str, float]:
    """Run one child; its figures plus the whole process's wall time."""
    start = time.perf_counter()
    where = ["--scratch", scratch] if scratch else []
    # as if the engine's venv were activated: Toil starts its workers by command name
    path = os.pathsep.join([os.path.dirname(python), os.environ.get("PATH", "")])
    out = subprocess.run(
        [python, os.path.abspath(__file__), "--child", engine, shape, str(count), *where],
        env=dict(os.environ, PATH=path),
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    process_wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{engine} {shape} N={count} failed:\n{out.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    figures["process_wall"] = process_wall
    return figures


def report(engine: str, shape: str, count: int, fig: dict[str, float], base: float) -> None:
    jobs = fig["jobs"]
    per_job = fig["wall"] / jobs * 1000
    marginal = (fig["wall"] - base) / max(jobs - 1, 1) * 1000
    print(
        f"{engine:<5} {shape:<5} {count:>6} {fig['wall']:9.2f} {fig['process_wall']:9.2f} "
        f"{per_job:9.2f} {marginal:9.2f} {jobs / fig['wall']:9.0f} {fig['rss_kib'] / 1024:8.1f}"
        f" {fig['leader_cpu'] / jobs * 1000:8.2f} {fig['worker_cpu'] / jobs * 1000:8.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--shapes", nargs="+", default=["fan", "chain"], choices=["fan", "chain"])
    parser.add_argument("--toil-python", default=DEFAULT_TOIL_PYTHON)
    parser.add_argument("--toil-sizes", type=int, nargs="+", default=[100])
    parser.add_argument(
        "--scratch",
        default=None,
        help="where the job store and work dir go (default: the temp dir)",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("ENGINE", "SHAPE", "N"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child_main(args.child[0], args.child[1], int(args.child[2]), args.scratch)
        return

    engines = [("moil", sys.executable, args.sizes)]
    if (
        os.path.exists(args.toil_python)
        and subprocess.run(
            [args.toil_python, "-c", "import toil"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        engines.append(("toil", args.toil_python, args.toil_sizes))
    else:
        print(f"(no Toil side environment at {args.toil_python}: Toil not measured)")
    print(f"scratch: {args.scratch or tempfile.gettempdir()}")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"{'engine':<5} {'shape':<5} {'N':>6} {'start s':>9} {'process s':>9} "
        f"{'ms/job':>9} {'marg ms':>9} {'jobs/s':>9} {'RSS MiB':>8} {'L cpu ms':>8} {'W cpu ms':>8}"
    )
    for engine, python, sizes in engines:
        for shape in args.shapes:
            base = measure(python, engine, shape, 1, args.scratch)["wall"]
            for count in sizes:
                figures = measure(python, engine, shape, count, args.scratch)
                report(engine, shape, count, figures, base)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
