"""Bundles of short jobs on a real Slurm (``--jobsPerAllocation``, ``--workersPerAllocation``):
each job of a bundle keeps its own result, log, retry and restart."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.runner.cluster_workflows import REPO, run, scheduler_commands

FAN = Path(__file__).parent / "scripts" / "bundle_fan.py"
BUNDLED = ("--batchSystem", "slurm", "--statePollingWait", "0.5", "--jobsPerAllocation", "4",
           "--workersPerAllocation", "2")  # fmt: skip

ECHO_SCATTER = """\
cwlVersion: v1.2
class: Workflow
requirements: {ScatterFeatureRequirement: {}}
inputs: {xs: 'int[]'}
outputs: {echoed: {type: 'string[]', outputSource: echo/out}}
steps:
  echo:
    scatter: x
    in: {x: xs}
    out: [out]
    run:
      class: CommandLineTool
      requirements: {ResourceRequirement: {coresMin: 1, ramMin: 100}}
      inputs: {x: {type: int, inputBinding: {position: 1}}}
      baseCommand: echo
      stdout: out.txt
      outputs:
        out:
          type: string
          outputBinding: {glob: out.txt, loadContents: true, outputEval: "$(self[0].contents)"}
"""


def runs_of(runs: Path) -> Counter[int]:
    """How many times each child of bundle_fan.py ran."""
    return Counter(int(name.split(".")[0]) for name in os.listdir(runs))


@pytest.mark.slurm
def test_jobs_of_a_bundle_keep_their_own_logs_and_retries(
    tmp_path: Path, slurm_cluster: object
) -> None:
    runs, logs = tmp_path / "runs", tmp_path / "logs"
    runs.mkdir()
    done = run([sys.executable, str(FAN), f"file:{tmp_path / 'store'}", str(runs), "--n", "8",
                "--fail-first", "1", "6", *BUNDLED, "--writeLogs", str(logs),
                "--writeLogsFromAllJobs"], tmp_path)  # fmt: skip
    assert "TOTAL 140" in done.stdout
    assert runs_of(runs) == {i: 2 if i in (1, 6) else 1 for i in range(8)}
    # root, two bundles of 4, the 2 retries (together or not), the follow-on: 12 unbundled
    assert scheduler_commands(done.stderr, "slurm")["sbatch"] <= 6, done.stderr[-3000:]
    ran: dict[int, int] = {}
    for log in logs.glob("square_*.log"):  # a job's log holds its attempts so far
        children = re.findall(r"child (\d+) ran in process", log.read_text())
        assert len(set(children)) == 1, f"{log.name} holds the output of {children}"
        child = int(children[0])
        ran[child] = max(ran.get(child, 0), len(children))
    assert ran == runs_of(runs), "each job's log holds its own runs, and only those"


@pytest.mark.slurm
def test_a_bundled_cwl_scatter_is_right_under_bad_worker(
    tmp_path: Path, slurm_cluster: object
) -> None:
    (tmp_path / "fan.cwl").write_text(ECHO_SCATTER)
    (tmp_path / "job.json").write_text(json.dumps({"xs": list(range(12))}))
    done = run(
        [
            sys.executable,
            "-m",
            "languages.cwl.cli",
            *BUNDLED,
            "--badWorker",
            "0.4",
            "--retryCount",
            "4",
            "--outdir",
            "out",
            "fan.cwl",
            "job.json",
        ],
        tmp_path,
    )
    assert json.loads(done.stdout)["echoed"] == [f"{i}\n" for i in range(12)]
    killed = done.stderr.count("finished without writing a result")
    sbatch = scheduler_commands(done.stderr, "slurm")["sbatch"]
    assert sbatch <= 3 + killed, f"{sbatch} sbatch for 12 jobs and {killed} retries"


@pytest.mark.slurm
def test_restart_after_a_leader_killed_mid_bundle_reruns_no_finished_job(
    tmp_path: Path, slurm_cluster: object
) -> None:
    runs, store = tmp_path / "runs", f"file:{tmp_path / 'store'}"
    runs.mkdir()
    argv = [
        sys.executable,
        str(FAN),
        store,
        str(runs),
        "--n",
        "10",
        "--sleep",
        "0.6",
        "--batchSystem",
        "slurm",
        "--statePollingWait",
        "0.5",
        "--jobsPerAllocation",
        "10",
    ]
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(REPO))
    leader = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while len(os.listdir(runs)) < 3 and time.monotonic() < deadline and leader.poll() is None:
        time.sleep(0.05)
    leader.send_signal(signal.SIGKILL)
    leader.wait()
    before = len(os.listdir(runs))
    assert 3 <= before < 10, f"the leader was killed after {before} of 10 jobs, not mid-bundle"
    done = run([*argv, "--restart"], tmp_path)
    assert "TOTAL 285" in done.stdout
    assert runs_of(runs) == {i: 1 for i in range(10)}, "a job ran twice (or not at all)"
