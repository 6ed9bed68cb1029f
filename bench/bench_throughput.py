"""Benchmark: moil's throughput beside its floor, measured in the same run, and the ratio.

    PYTHONPATH=. .venv/bin/python bench/bench_throughput.py [--sections slurm gridengine
        single] [--n 200] [--bundle 50 --bundle-workers 2] [--cpus 8] [--poll 1.0]
        [--local-n 1000] [--big-n 10000] [--python-n 10000]

Every CWL row runs the same document (bench_slurm_scatter.py's: a scatter of ``echo``, each
output read back with ``loadContents``, 1 core and 256 MiB per job) as a user runs it (a
fresh ``toil-cwl-runner``), and checks its output. The floor is what the same work costs
without moil, measured the same way in the same minutes:

- slurm (a private Slurm from tests/services/slurm.py, ``--cpus`` advertised): the N-job
  scatter with one scheduler job per job, and with ``--jobsPerAllocation --bundle
  --workersPerAllocation --bundle-workers``; floor: N ``sbatch --wrap 'echo I'`` of the same
  cores and memory from one shell loop, then ``squeue`` every ``--poll`` s until none is left.
- gridengine (a private cell from tests/services/gridengine.py): the same two runs, beside
  N plain ``qsub`` (bench_gridengine.py's ``run_moil`` and ``run_plain``).
- single (single_machine): the ``--local-n`` scatter; floor: fork+exec of as many ``echo``
  on all cores (``xargs -P``) plus one start (moil's run of a 1-job scatter); the
  ``--big-n`` scatter with the leader's peak RSS (floor the same way); ``--python-n``
  trivial Python jobs (bench_python_jobs.py's fan; no floor).

Prints one table (moil, floor, ratio, notes) with the machine's load before each row: on a
shared 2-core machine the wall times move with it, the ratios less. Schedulers are stopped
at the end, always.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import bench_gridengine
import bench_python_jobs
from _common import run_measured
from bench_slurm_scatter import check_output, workload

from tests.services import gridengine, slurm

RUNNER = str(REPO / ".venv" / "bin" / "toil-cwl-runner")


@dataclass
class Row:
    workload: str
    moil: float
    floor: float | None
    notes: str
    load: float

    def text(self) -> str:
        floor = "-" if self.floor is None else f"{self.floor:.1f} s"
        ratio = "-" if self.floor is None else f"{self.moil / self.floor:.2f}x"
        return (f"| {self.workload} | {self.moil:.1f} s | {floor} | {ratio} | "
                f"{self.load:.1f} | {self.notes} |")


def load() -> float:
    return os.getloadavg()[0]


def moil_scatter(n: int, work: Path, env: dict[str, str], options: Sequence[str]) -> tuple[
        float, float, str]:
    """The CWL scatter of ``n`` through moil with ``options``: (wall, leader peak RSS MiB,
    the scheduler commands the leader counted or "")."""
    work.mkdir(parents=True)
    head, tail = workload("cwl", n, work)
    argv = [sys.executable, *head, "--logLevel", "INFO", *options, *tail]
    measured = run_measured(argv, str(work), env=dict(env, TMPDIR=str(work)), timeout=7200)
    if measured.returncode != 0:
        raise SystemExit(f"moil {options} N={n} failed:\n{measured.stderr_tail}")
    check_output("cwl", n, measured.stdout)
    counted = re.findall(r"\w+ commands: (.*)", measured.stderr_tail)
    return measured.wall, measured.leader_peak_rss_mib, counted[-1] if counted else ""


def sbatch_floor(n: int, env: dict[str, str], work: Path, poll: float) -> tuple[float, float]:
    """N plain ``sbatch --wrap 'echo I'`` (1 core, 256 MiB): (seconds to submit, seconds
    until the queue is empty), outputs checked."""
    work.mkdir(parents=True)
    loop = (f"for i in $(seq 0 {n - 1}); do sbatch --parsable -c 1 --mem=256 -J floor "
            f"-o out.$i --wrap \"echo $i\" >/dev/null || exit 1; done")
    started = time.monotonic()
    subprocess.run(["sh", "-c", loop], cwd=work, env=env, check=True)
    submitted = time.monotonic() - started
    while subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True,
                         check=True).stdout.strip():  # fmt: skip
        time.sleep(poll)
    ended = time.monotonic() - started
    wrong = [i for i in range(n) if (work / f"out.{i}").read_text() != f"{i}\n"]
    if wrong:
        raise SystemExit(f"plain sbatch jobs {wrong[:5]} gave a wrong output")
    return submitted, ended


def bundled(args: argparse.Namespace) -> list[str]:
    return ["--jobsPerAllocation", str(args.bundle), "--workersPerAllocation",
            str(args.bundle_workers)]  # fmt: skip


def slurm_rows(args: argparse.Namespace, scratch: Path) -> list[Row]:
    cluster = slurm.start(scratch / "slurm", cpus=args.cpus)
    try:
        env = {**os.environ, **cluster.env, "PYTHONPATH": str(REPO)}
        common = ["--batchSystem", "slurm", "--statePollingWait", str(args.poll)]
        n, rows = args.n, []
        at = load()
        submit, floor = sbatch_floor(n, env, scratch / "sbatch", args.poll)
        what = f"Slurm ({args.cpus} CPUs advertised, poll {args.poll:g} s): {n}-job CWL scatter"
        at = max(at, load())
        wall, _, counts = moil_scatter(n, scratch / "slurm-one", env, common)
        rows.append(Row(what, wall, floor, f"{counts}; floor: {n} sbatch --wrap (submitted in "
                        f"{submit:.1f} s), all done", max(at, load())))  # fmt: skip
        at = load()
        wall, _, counts = moil_scatter(n, scratch / "slurm-bundled", env, common + bundled(args))
        rows.append(Row(f"{what}, {' '.join(bundled(args))}", wall, floor, counts,
                        max(at, load())))  # fmt: skip
        return rows
    finally:
        cluster.stop()


def gridengine_rows(args: argparse.Namespace, scratch: Path) -> list[Row]:
    base = scratch / "sge"
    base.mkdir()
    cell = gridengine.start(base, slots=args.cpus, root_may_submit=True)
    try:
        env = {**os.environ, **gridengine.exports(cell), "TOIL_GRIDENGINE_PE": "smp"}
        n, rows = args.n, []
        what = f"Grid Engine ({args.cpus} slots, poll {args.poll:g} s): {n}-job CWL scatter"
        at = load()
        submit, floor, polls = bench_gridengine.run_plain(n, env, scratch / "qsub", args.poll)
        wall, counts = bench_gridengine.run_moil(n, env, scratch / "sge-one", args.poll)
        rows.append(Row(what, wall, floor, f"{counts}; floor: {n} qsub (submitted in "
                        f"{submit:.1f} s), {polls} qstat", max(at, load())))  # fmt: skip
        at = load()
        wall, counts = bench_gridengine.run_moil(n, env, scratch / "sge-bundled", args.poll,
                                                 bundled(args))  # fmt: skip
        rows.append(Row(f"{what}, {' '.join(bundled(args))}", wall, floor, counts,
                        max(at, load())))  # fmt: skip
        return rows
    finally:
        cell.stop()


def echo_floor(n: int, work: Path) -> float:
    """Seconds for fork+exec of ``n`` ``echo`` on every core (xargs -P)."""
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    subprocess.run(f"seq 0 {n - 1} | xargs -P {os.cpu_count() or 1} -n 1 echo > /dev/null",
                   shell=True, check=True, cwd=work)  # fmt: skip
    return time.monotonic() - started


def single_rows(args: argparse.Namespace, scratch: Path) -> list[Row]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rows = []
    start, _, _ = moil_scatter(1, scratch / "start", env, [])
    for n in (args.local_n, args.big_n):
        at = load()
        echo = echo_floor(n, scratch / f"echo-{n}")
        wall, rss, _ = moil_scatter(n, scratch / f"local-{n}", env, [])
        rows.append(Row(f"single machine: {n}-job CWL scatter", wall, echo + start,
                        f"leader peak RSS {rss:.0f} MiB; floor: {n} echo on "
                        f"{os.cpu_count()} cores {echo:.2f} s + one start (a 1-job scatter) "
                        f"{start:.2f} s", max(at, load())))  # fmt: skip
    at = load()
    fig = bench_python_jobs.measure(sys.executable, "moil", "fan", args.python_n, str(scratch))
    rows.append(Row(f"single machine: {args.python_n} Python jobs (a fan)", fig["wall"], None,
                    f"leader peak RSS {fig['rss_kib'] / 1024:.0f} MiB; whole process "
                    f"{fig['process_wall']:.1f} s", max(at, load())))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", nargs="+", default=["slurm", "gridengine", "single"],
                        choices=["slurm", "gridengine", "single"])  # fmt: skip
    parser.add_argument("--n", type=int, default=200, help="jobs of the cluster scatters")
    parser.add_argument("--bundle", type=int, default=50, help="--jobsPerAllocation")
    parser.add_argument("--bundle-workers", type=int, default=2, help="--workersPerAllocation")
    parser.add_argument("--cpus", type=int, default=8, help="CPUs (slots) the node advertises")
    parser.add_argument("--poll", type=float, default=1.0, help="--statePollingWait")
    parser.add_argument("--local-n", type=int, default=1000)
    parser.add_argument("--big-n", type=int, default=10000)
    parser.add_argument("--python-n", type=int, default=10000)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="moil-bench-throughput-", dir="/tmp"))
    scratch.chmod(0o755)  # munged needs every parent of its socket searchable
    makers = {"slurm": slurm_rows, "gridengine": gridengine_rows, "single": single_rows}
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores; load before "
          f"{load():.1f}", flush=True)  # fmt: skip
    print("| workload | moil | floor | moil / floor | load | notes |\n| --- | --- | --- | --- | "
          "--- | --- |", flush=True)  # fmt: skip
    try:
        for section in args.sections:
            for row in makers[section](args, scratch):
                print(row.text(), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
