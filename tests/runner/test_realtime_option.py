"""``--realTimeLogging``: a job's RealtimeLogger lines reach the leader at ``--logLevel``'s
level; without it at INFO and above only (Toil's rule)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.runner.commands import command_env

SCRIPT = """\
from runner import Job, Toil
from runner.realtimeLogger import RealtimeLogger

def work(job):
    RealtimeLogger.debug("a debug line from the job")
    RealtimeLogger.info("an info line from the job")

if __name__ == "__main__":
    options = Job.Runner.getDefaultArgumentParser().parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        toil.start(Job.wrapJobFn(work))
"""


@pytest.mark.parametrize(
    ("options", "debug_shown"),
    [
        (["--logDebug", "--realTimeLogging"], True),
        (["--logDebug", "--realTimeLogging", "true"], True),
        (["--logDebug"], False),
        (["--logDebug", "--realTimeLogging", "false"], False),
    ],
)
def test_real_time_logging_passes_the_leaders_level(
    tmp_path: Path, options: list[str], debug_shown: bool
) -> None:
    (tmp_path / "rt.py").write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "rt.py", f"file:{tmp_path / 'store'}", *options],
        cwd=tmp_path,
        env=command_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    realtime = [
        line
        for line in done.stderr.splitlines()
        if "runner.realtime" in line or "line from the job" in line
    ]
    assert any("an info line from the job" in line for line in realtime), done.stderr
    assert any("a debug line from the job" in line for line in realtime) is debug_shown
