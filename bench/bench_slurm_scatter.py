"""Benchmark: a scatter of N trivial jobs on a real single-node Slurm, as a user runs it.

    PYTHONPATH=. .venv/bin/python bench/bench_slurm_scatter.py [--n 50 200]
        [--kinds python wdl cwl] [--cpus 8] [--poll 1.0]

Starts a private Slurm with the test fixture's module (tests/services/slurm.py; ``--cpus``
advertised, more than the host has), then for each kind and each N runs one workflow as a
fresh process with ``--batchSystem slurm --statePollingWait POLL``:

- python: the Python API, a root job fanning out N children (1 core, 256 MiB, each returns
  i*i) and a follow-on summing them (N + 2 Slurm jobs);
- wdl: ``toil-wdl-runner`` on a WDL 1.0 scatter of N calls of a one-line task;
- cwl: ``toil-cwl-runner`` on a CWL v1.2 scatter of N runs of ``echo``.

Per run it checks the outputs and prints: wall time of the command; for the N scatter jobs
(the N submissions closest together), jobs issued per second (sbatch submissions, from the
leader's DEBUG log with millisecond times: N-1 over the span from the first to the last) and
jobs completed per second (N over the span from the first submission to the last job's end
in Slurm's job completion log, 1 s resolution); the Slurm jobs of the run; and the scheduler
commands by kind as the leader counted them ("slurm commands: ..."). The
number of squeue calls should follow the run's duration over POLL, not N: the table shows
squeue per second of run and per job for each N. The cluster is stopped at the end, always.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.services.slurm import SlurmCluster, start  # after the path is set

PYTHON_FAN = """\
import sys
from runner import Job, Toil


def square(i):
    return i * i


def fan(job, n):
    squares = [job.addChildFn(square, i, cores=1, memory="256M").rv() for i in range(n)]
    return job.addFollowOnFn(sum, squares, cores=1, memory="256M").rv()


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("--n", type=int, required=True)
    options = parser.parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        total = toil.start(Job.wrapJobFn(fan, options.n, cores=1, memory="256M"))
    print(f"TOTAL {total}")
"""

WDL = """\
version 1.0

workflow fan {
  input { Int n }
  scatter (i in range(n)) {
    call square { input: x = i }
  }
  output { Array[Int] squares = square.y }
}

task square {
  input { Int x }
  command <<< echo $(( ~{x} * ~{x} )) >>>
  output { Int y = read_int(stdout()) }
  runtime { cpu: 1  memory: "256 MiB" }
}
"""

CWL = """\
cwlVersion: v1.2
class: Workflow
requirements:
  ScatterFeatureRequirement: {}
inputs:
  xs: int[]
outputs:
  echoed:
    type: string[]
    outputSource: echo/out
steps:
  echo:
    scatter: x
    in:
      x: xs
    out: [out]
    run:
      class: CommandLineTool
      requirements:
        ResourceRequirement: {coresMin: 1, ramMin: 256}
      inputs:
        x: {type: int, inputBinding: {position: 1}}
      baseCommand: echo
      stdout: out.txt
      outputs:
        out:
          type: string
          outputBinding:
            glob: out.txt
            loadContents: true
            outputEval: $(self[0].contents)
"""

# The core's --logFile lines carry milliseconds; the CWL runner's only HH:MM:SS for now.
_SUBMITTED = re.compile(r"^\[([^\]]+)\] DEBUG (?:[\w.]+: )?slurm: job \S+ submitted as (\d+)")
_COMP_FIELD = re.compile(r"(\w+)=(\S*)")


@dataclass
class Figures:
    kind: str
    n: int
    wall: float
    jobs: int
    issued_per_s: float
    issued_exact: bool
    completed_per_s: float
    commands: dict[str, int]

    @property
    def issued_text(self) -> str:
        """The issue rate; ">=" when the log had whole seconds only (a lower bound)."""
        return f"{self.issued_per_s:.1f}" if self.issued_exact else f">={self.issued_per_s:.0f}"

    def row(self) -> str:
        squeue = self.commands.get("squeue", 0)
        text = ", ".join(f"{v} {k}" for k, v in self.commands.items())
        return (
            f"{self.kind:<6} {self.n:>5} {self.jobs:>5} {self.wall:>7.1f} "
            f"{self.issued_text:>8} {self.completed_per_s:>8.2f} "
            f"{squeue / self.wall:>9.2f} {squeue / self.jobs:>9.3f}   {text}"
        )


HEADER = (
    f"{'kind':<6} {'N':>5} {'jobs':>5} {'wall s':>7} {'issued/s':>8} {'done/s':>8} "
    f"{'squeue/s':>9} {'squeue/job':>9}   scheduler commands"
)


def workload(kind: str, n: int, work: Path) -> tuple[list[str], list[str]]:
    """The command (after the Python executable) before the run's options, and after."""
    if kind == "python":
        script = work / "fan.py"
        script.write_text(PYTHON_FAN)
        return [str(script)], [f"file:{work / 'store'}", "--n", str(n)]
    if kind == "wdl":
        doc = work / "fan.wdl"
        doc.write_text(WDL)
        return ["-m", "languages.wdl.cli"], [str(doc), json.dumps({"fan.n": n}), "-o", "out"]
    doc, job = work / "fan.cwl", work / "job.json"
    doc.write_text(CWL)
    job.write_text(json.dumps({"xs": list(range(n))}))
    # cwltool's convention: options before the document; after it come the tool's inputs.
    return ["-m", "languages.cwl.cli", "--outdir", "out"], [str(doc), str(job)]


def check_output(kind: str, n: int, stdout: str) -> None:
    """Raise SystemExit if the run's output is not the expected one."""
    if kind == "python":
        ok = f"TOTAL {sum(i * i for i in range(n))}" in stdout
    elif kind == "wdl":
        ok = json.loads(stdout).get("fan.squares") == [i * i for i in range(n)]
    else:
        ok = json.loads(stdout).get("echoed") == [f"{i}\n" for i in range(n)]
    if not ok:
        raise SystemExit(f"{kind} with N={n} gave a wrong output:\n{stdout[-2000:]}")


def completion_log(cluster: SlurmCluster) -> dict[str, dict[str, str]]:
    """Slurm's job completion records (JobCompType=jobcomp/filetxt), by job ID."""
    path = cluster.base_dir / "log" / "jobcomp.txt"
    records: dict[str, dict[str, str]] = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            fields = dict(_COMP_FIELD.findall(line))
            if "JobId" in fields:
                records[fields["JobId"]] = fields
    return records


def run_one(kind: str, n: int, cluster: SlurmCluster, scratch: Path, poll: float) -> Figures:
    work = scratch / f"{kind}-{n}"
    work.mkdir()
    head, tail = workload(kind, n, work)
    log_file = work / "leader.log"
    command = [
        sys.executable, *head, "--batchSystem", "slurm", "--statePollingWait", str(poll),
        "--logLevel", "DEBUG", "--logFile", str(log_file), *tail,
    ]  # fmt: skip
    env = {**cluster.env, "PYTHONPATH": str(REPO), "TMPDIR": str(work)}
    began = time.monotonic()
    done = subprocess.run(
        command, cwd=work, env=env, capture_output=True, text=True, timeout=3600, check=False
    )
    wall = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"{kind} with N={n} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    check_output(kind, n, done.stdout)
    text = log_file.read_text(errors="replace")
    submitted: dict[str, datetime.datetime] = {}
    for line in text.splitlines():
        match = _SUBMITTED.match(line)
        if match:
            submitted[match[2]] = parse_stamp(match[1])
    counted = re.findall(r"slurm commands: (.*)", text)
    commands = {name: int(k) for k, name in re.findall(r"(\d+) (\w+)", counted[-1])}
    issued, completed = scatter_rates(submitted, completion_log(cluster), n)
    exact = any(stamp.microsecond for stamp in submitted.values())
    return Figures(kind, n, wall, len(submitted), issued, exact, completed, commands)


def parse_stamp(text: str) -> datetime.datetime:
    """A log line's time: ``2026-01-02 10:11:12,345``, or ``10:11:12`` of today."""
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")
    except ValueError:
        clock = datetime.datetime.strptime(text, "%H:%M:%S").time()
        return datetime.datetime.combine(datetime.date.today(), clock)


def scatter_rates(
    submitted: dict[str, datetime.datetime], ends: dict[str, dict[str, str]], n: int
) -> tuple[float, float]:
    """Issue and completion rates of the scatter: the n submissions closest together (the
    Python fan also submits its root before and its sum after them)."""
    order = sorted(submitted, key=submitted.__getitem__)
    if len(order) < n or n < 2:
        raise SystemExit(f"only {len(order)} submissions logged for a scatter of {n}")
    start = min(
        range(len(order) - n + 1),
        key=lambda i: submitted[order[i + n - 1]] - submitted[order[i]],
    )
    window = order[start : start + n]
    first = submitted[window[0]]
    issue_span = max((submitted[window[-1]] - first).total_seconds(), 1e-3)
    if not any(submitted[j].microsecond for j in window):
        issue_span += 1.0  # whole-second stamps: the true span is below this (a lower bound)
    last_end = max(datetime.datetime.fromisoformat(ends[j]["EndTime"]) for j in window)
    done_span = max((last_end - first.replace(microsecond=0)).total_seconds(), 1.0)
    return (n - 1) / issue_span, n / done_span


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--kinds", nargs="+", default=["python", "wdl", "cwl"])
    parser.add_argument("--cpus", type=int, default=8, help="CPUs the Slurm node advertises")
    parser.add_argument("--poll", type=float, default=1.0, help="--statePollingWait")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="moil-slurm-bench-", dir="/tmp"))
    base.chmod(0o755)  # munged needs every parent of its socket searchable
    began = time.monotonic()
    cluster = start(base / "slurm", cpus=args.cpus)
    print(
        f"# Slurm up in {time.monotonic() - began:.2f}s: 1 node, {args.cpus} CPUs advertised "
        f"({os.cpu_count()} real), statePollingWait {args.poll}s; load {os.getloadavg()[0]:.1f}"
    )
    print(HEADER, flush=True)
    try:
        for kind in args.kinds:
            for n in args.n:
                print(run_one(kind, n, cluster, base, args.poll).row(), flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
