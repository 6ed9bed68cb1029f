"""Kill ``toil-wdl-runner`` with SIGKILL in the middle of a scatter; ``--restart`` finishes
the run with the same outputs and no task that had finished runs again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

DOC = """\
version 1.0
workflow r {
  input { Int n  String marks }
  scatter (i in range(n)) {
    call step { input: i = i, marks = marks }
  }
  call total { input: xs = step.out }
  output { Int sum = total.s }
}
task step {
  input { Int i  String marks }
  command <<<
    echo run >> ~{marks}/step-~{i}
    # the later steps wait for the test to let them go
    while [ ~{i} -ge 2 ] && [ ! -e ~{marks}/go ]; do sleep 0.05; done
    echo ~{i}
  >>>
  output { Int out = read_int(stdout()) }
}
task total {
  input { Array[Int] xs }
  command <<< echo $(( ~{sep=" + " xs} )) >>>
  output { Int s = read_int(stdout()) }
}
"""


def _wait_for(predicate: object, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.05)


def test_sigkill_then_restart_runs_nothing_twice(tmp_path: Path) -> None:
    (tmp_path / "r.wdl").write_text(DOC)
    marks = tmp_path / "marks"
    marks.mkdir()
    args = [
        sys.executable,
        "-m",
        "languages.wdl.cli",
        "r.wdl",
        json.dumps({"r.n": 4, "r.marks": str(marks)}),
        "--jobStore",
        "js",
        "-o",
        "out",
        "--logLevel",
        "WARNING",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    first = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_for(lambda: all((marks / f"step-{i}").exists() for i in range(4)))
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    (marks / "go").touch()
    second = subprocess.run(
        [*args, "--restart"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"r.sum": 6}
    assert [(marks / f"step-{i}").read_text() for i in range(4)] == ["run\n"] * 4
