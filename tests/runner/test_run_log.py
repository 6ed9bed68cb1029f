"""The run's story at INFO without a terminal (issue 14): a start line, a line per job
issued, finished and failed carrying the job's ID, and a summary; ``--logFile`` holds the
same lines, so ``grep JOBID`` finds a job's whole story."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.runner.commands import command_env

SCATTER_CWL = """\
cwlVersion: v1.2
class: Workflow
requirements:
  ScatterFeatureRequirement: {}
inputs:
  items: int[]
outputs:
  out: {type: 'File[]', outputSource: echo/out}
steps:
  echo:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ['echo $0; [ $0 != "$(inputs.fail)" ]', $(inputs.x)]
      inputs:
        x: int
        fail: int
      outputs:
        out: stdout
      stdout: out.txt
    scatter: x
    in: {x: items, fail: {default: -1}}
    out: [out]
"""

ISSUED = re.compile(
    r"INFO Issued job '(?P<name>[^']+)' (?P<id>[0-9a-f]{32}) attempt 1 "
    r"with batch system ID \d+ \(cores 1, memory 2\.0 Gi, disk 2\.0 Gi\)$"
)
FINISHED = re.compile(
    r"INFO Job finished: '[^']+' (?P<id>[0-9a-f]{32}) attempt 1, "
    r"batch system ID \d+"
)


def run_scatter(tmp_path: Path, *extra: str, fail: int = -1) -> tuple[int, str, Path]:
    """Run the 50-job scatter with stderr to a file (not a terminal); returns the exit
    code, what stdout held and the stderr file."""
    (tmp_path / "wf.cwl").write_text(SCATTER_CWL.replace("default: -1", f"default: {fail}"))
    (tmp_path / "job.json").write_text(json.dumps({"items": list(range(50))}))
    err = tmp_path / "stderr.txt"
    with err.open("wb") as stream:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "languages.cwl.cli",
                "--retryCount",
                "0",
                "--outdir",
                "out",
                *extra,
                "wf.cwl",
                "job.json",
            ],
            cwd=tmp_path,
            env=command_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=stream,
            text=True,
            timeout=300,
            check=False,
        )
    return done.returncode, done.stdout, err


def test_a_50_job_scatter_logs_its_start_each_job_and_a_summary(tmp_path: Path) -> None:
    code, stdout, err = run_scatter(tmp_path, "--logFile", "run.log")
    text = err.read_text()
    assert code == 0, text
    assert len(json.loads(stdout)["out"]) == 50
    lines = text.splitlines()
    starts = [line for line in lines if " INFO Running the workflow: job store file:" in line]
    assert len(starts) == 1 and ", batch system single_machine, work dir " in starts[0]
    issued = [m for m in map(ISSUED.search, lines) if m]
    finished = [m for m in map(FINISHED.search, lines) if m]
    assert len(issued) == 50 and len(finished) == 50
    names = {m["name"] for m in issued}
    assert names == {f"wf.cwl/echo[{i}]" for i in range(50)}
    assert {m["id"] for m in issued} == {m["id"] for m in finished}
    summary = [line for line in lines if " INFO Run finished successfully in " in line]
    assert len(summary) == 1
    assert "50 issued to the batch system, 50 finished, 0 failed, 0 retried" in summary[0]
    assert lines.index(starts[0]) < lines.index(summary[0]) == len(lines) - 1
    # the --logFile has the same story, and one job's ID finds its issue and its end
    job_id = issued[7]["id"]
    story = [line for line in (tmp_path / "run.log").read_text().splitlines() if job_id in line]
    assert len(story) == 2, story
    assert "Issued job 'wf.cwl/echo[7]'" in story[0] and "Job finished:" in story[1]


def test_a_failed_job_tells_its_id_and_the_summary_counts_it(tmp_path: Path) -> None:
    code, stdout, err = run_scatter(tmp_path, fail=13)
    text = err.read_text()
    assert code == 1, text
    assert stdout == ""
    issued = {m["name"]: m["id"] for m in map(ISSUED.search, text.splitlines()) if m}
    job_id = issued["wf.cwl/echo[13]"]
    failed = [line for line in text.splitlines() if " ERROR wf.cwl/echo[13] failed (" in line]
    assert len(failed) == 1 and f"({job_id} attempt 1, batch system ID " in failed[0]
    summary = [line for line in text.splitlines() if " INFO Run failed in " in line]
    assert len(summary) == 1 and ", 1 failed, 0 retried" in summary[0], text
