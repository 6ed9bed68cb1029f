"""Benchmark: a 200-job CWL scatter on a real Grid Engine cell beside 200 plain ``qsub`` of
the same command on the same daemons, in one run.

    .venv/bin/python bench/bench_gridengine.py [--n 200] [--slots 8] [--poll 1.0]

Starts a private cell with the test fixture's module (tests/services/gridengine.py; root may
submit, ``--slots`` slots in ``all.q``, more than the host's cores), then:

1. moil: ``toil-cwl-runner --batchSystem grid_engine --statePollingWait POLL`` on the CWL
   v1.2 scatter of N runs of ``echo`` (bench_slurm_scatter.py's document), 1 core and
   256 MiB each; its output is checked. Figures: wall time of the command, and the scheduler
   commands the leader counted (one qstat per poll).
2. plain: N ``qsub -terse -cwd -b y -o FILE -j y echo I`` from one shell loop (one qsub
   process per job, as a user's script would), then ``qstat`` every POLL seconds until the
   cell holds no job; the outputs are checked. Figures: time to submit, time until all ended.

Both use the same cell, one after the other; the difference is what moil adds per job (its
worker, the job store, staging of the CWL outputs) over Grid Engine's own dispatch. The cell
is stopped at the end, always.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench_slurm_scatter import CWL  # noqa: E402 - beside this file
from tests.services import gridengine  # noqa: E402 - after the path is set


def run_moil(
    n: int, env: dict[str, str], work: Path, poll: float, extra: Sequence[str] = ()
) -> tuple[float, str]:
    """The CWL scatter through moil (with ``extra`` options): (wall seconds, the leader's
    scheduler-command line)."""
    work.mkdir()
    (work / "fan.cwl").write_text(CWL)
    (work / "job.json").write_text(json.dumps({"xs": list(range(n))}))
    argv = [str(REPO / ".venv" / "bin" / "toil-cwl-runner"), "--batchSystem", "grid_engine",
            "--statePollingWait", str(poll), "--logLevel", "INFO", *extra, "--outdir", "out",
            "fan.cwl", "job.json"]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0 or json.loads(done.stdout).get("echoed") != [f"{i}\n" for i in range(n)]:
        raise SystemExit(f"the CWL scatter failed:\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}")
    counts = re.findall(r"grid_engine commands: (.*)", done.stderr)
    return wall, counts[-1] if counts else "?"


def run_plain(n: int, env: dict[str, str], work: Path, poll: float) -> tuple[float, float, int]:
    """N plain qsub of ``echo I``: (seconds to submit, seconds until all ended, qstat calls)."""
    work.mkdir()
    loop = (f"for i in $(seq 0 {n - 1}); do qsub -terse -cwd -b y -o out.$i -j y echo $i "
            ">/dev/null || exit 1; done")
    started = time.monotonic()
    subprocess.run(["sh", "-c", loop], cwd=work, env=env, check=True)
    submitted = time.monotonic() - started
    polls = 0
    while True:
        polls += 1
        listed = subprocess.run(["qstat"], env=env, capture_output=True, text=True, check=True)
        if not listed.stdout.strip():
            break
        time.sleep(poll)
    ended = time.monotonic() - started
    wrong = [i for i in range(n) if (work / f"out.{i}").read_text() != f"{i}\n"]
    if wrong:
        raise SystemExit(f"plain qsub jobs {wrong[:5]} gave a wrong output")
    return submitted, ended, polls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--poll", type=float, default=1.0)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="moil-bench-sge-", dir="/tmp"))
    cluster = gridengine.start(base, slots=args.slots, root_may_submit=True)
    try:
        env = {**os.environ, **gridengine.exports(cluster), "TOIL_GRIDENGINE_PE": "smp"}
        scratch = Path(tempfile.mkdtemp(prefix="moil-bench-sge-work-"))
        try:
            moil_wall, commands = run_moil(args.n, env, scratch / "moil", args.poll)
            submit, plain_wall, polls = run_plain(args.n, env, scratch / "plain", args.poll)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    n = args.n
    print(f"Grid Engine (Son of Grid Engine 8.1.9), {args.slots} slots on {os.cpu_count()} "
          f"cores, poll {args.poll:g} s, N={n}, load {os.getloadavg()[0]:.1f}")
    print(f"{'run':<28} {'wall s':>7} {'s/job':>6}   notes")
    print(f"{'moil CWL scatter':<28} {moil_wall:>7.1f} {moil_wall / n:>6.2f}   {commands}")
    print(f"{'plain qsub of echo':<28} {plain_wall:>7.1f} {plain_wall / n:>6.2f}   "
          f"{n} qsub in {submit:.1f} s, {polls} qstat")
    print(f"moil / plain: {moil_wall / plain_wall:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
