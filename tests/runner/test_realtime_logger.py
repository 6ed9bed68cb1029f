"""Toil's RealtimeLogger (issue 14): a job's ``RealtimeLogger.info`` reaches the leader's
log while the job still runs, with the job's name and ID, at INFO by default and at the
leader's ``--logLevel`` with ``--realTimeLogging``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.runner.commands import command_env

SCRIPT = """\
import os, time
from runner import Job, Toil
from runner.realtimeLogger import RealtimeLogger

def work(job, go):
    RealtimeLogger.info("waiting for %s", os.path.basename(go))
    RealtimeLogger.debug("a debug line")
    for _ in range(600):  # the test lets it go once the leader has logged the line
        if os.path.exists(go):
            RealtimeLogger.warning("let go")
            return "went"
        time.sleep(0.1)
    raise RuntimeError("the leader never logged the real-time line")

if __name__ == "__main__":
    options = Job.Runner.getDefaultArgumentParser().parse_args()
    options.retryCount = 0
    with Toil(options) as toil:
        print(toil.start(Job.wrapJobFn(work, os.environ["GO_FILE"])))
"""


@pytest.mark.parametrize("debug", [False, True])
def test_a_jobs_line_reaches_the_leader_while_it_runs(tmp_path: Path, debug: bool) -> None:
    (tmp_path / "rt.py").write_text(SCRIPT)
    log_file, go = tmp_path / "run.log", tmp_path / "go"
    extra = ["--realTimeLogging", "--logLevel", "DEBUG"] if debug else []
    proc = subprocess.Popen(
        [sys.executable, "rt.py", f"file:{tmp_path / 'store'}", "--logFile", str(log_file), *extra],
        cwd=tmp_path,
        env=dict(command_env(tmp_path), GO_FILE=str(go)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        while proc.poll() is None and not line:
            text = log_file.read_text() if log_file.exists() else ""
            line = next((x for x in text.splitlines() if "waiting for go" in x), "")
            time.sleep(0.1)
        go.touch()
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and stdout == "went\n", stderr
    issued = next(x for x in stderr.splitlines() if "Issued job 'work' " in x)
    job_id = issued.split("Issued job 'work' ")[1].split()[0]
    assert f" INFO runner.realtime: work {job_id}: waiting for go" in line
    assert f"WARNING work {job_id}: let go" in stderr
    # at INFO without --realTimeLogging (Toil's rule), at the leader's level with it
    assert (f"DEBUG runner.realtime: work {job_id}: a debug line" in log_file.read_text()) is debug
