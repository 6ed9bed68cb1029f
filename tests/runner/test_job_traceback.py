"""A failing Python job prints its traceback once, with the user's frames only; moil's own
frames (the executor, the API's ``run``) only with ``--logDebug`` (issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.runner.commands import command_env

SCRIPT = """\
from runner import Job, Toil

def helper(x):
    raise ValueError(f"bad value {x}")

def work(job, x):
    return helper(x)

if __name__ == "__main__":
    options = Job.Runner.getDefaultArgumentParser().parse_args()
    options.retryCount = 0
    with Toil(options) as toil:
        toil.start(Job.wrapJobFn(work, 7))
"""


def run_script(tmp_path: Path, *extra: str) -> str:
    (tmp_path / "fails.py").write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "fails.py", f"file:{tmp_path / 'store'}", *extra],
        cwd=tmp_path,
        env=command_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    return done.stderr


@pytest.mark.parametrize("debug", [False, True])
def test_traceback_once_with_user_frames(tmp_path: Path, debug: bool) -> None:
    stderr = run_script(tmp_path, *(["--logDebug"] if debug else []))
    assert stderr.count('raise ValueError(f"bad value {x}")') == 1, stderr
    assert stderr.count("in helper") == 1 and stderr.count("in work") == 1, stderr
    assert "ValueError: bad value 7" in stderr
    # moil's frames between the executor and the user's function
    assert ("in run_python_job" in stderr) is debug, stderr
    assert ("runner/engine/execute.py" in stderr) is debug, stderr
    # the script's own end: one line saying what failed
    assert stderr.rstrip().splitlines()[-1] == (
        "runner.errors.WorkflowFailed: 1 job(s) failed: work"
    ), stderr
