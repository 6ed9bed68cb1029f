"""SIGTERM ends a run with exit status 143 and SIGINT with 130, in one line and with no
traceback: for both runners and for a Toil script, while jobs run and before the leader's
loop (issue 12 item 8). A run that started keeps its store for ``--restart``; one that
never started leaves none."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.runner.commands import ECHO_CWL, HELLO_WDL, command_env, error_lines

SIGNALS = [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")]

SLEEP_CWL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, 'touch "$0"; exec sleep 120']
inputs:
  marker: {type: string, inputBinding: {position: 1}}
outputs: []
"""

SLEEP_WDL = """\
version 1.0
task nap {
  input { String marker }
  command <<< touch ~{marker}; exec sleep 120 >>>
}
"""

SCRIPT = """\
import os, sys, time
from runner import Job, Toil

def nap(job, marker):
    open(marker, "w").close()
    time.sleep(120)

if __name__ == "__main__":
    store, marker, where = sys.argv[1:4]
    options = Job.Runner.getDefaultOptions(store)
    with Toil(options) as toil:
        if where == "job":
            toil.start(Job.wrapJobFn(nap, marker))
        else:  # in the with block, before any run starts
            open(marker, "w").close()
            time.sleep(120)
"""


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = command_env(cwd)
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    """Signal ``proc``; its exit code and stderr, once it and its children are gone."""
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], f"left running: {alive}"
    return proc.returncode, stderr


def _assert_one_line(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr, stderr
    errors = error_lines(stderr)
    assert len(errors) == 1, stderr
    for needle in needles:
        assert needle in errors[0], stderr


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "name"), SIGNALS, ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", ["cwl", "wdl", "api"])
def test_a_signal_while_jobs_run(
    tmp_path: Path, command: str, signum: int, code: int, name: str
) -> None:
    marker = tmp_path / "started"
    if command == "cwl":
        (tmp_path / "nap.cwl").write_text(SLEEP_CWL)
        args = ["-m", "languages.cwl.cli", "--jobStore", "store", "nap.cwl"]
        args += ["--marker", str(marker)]
    elif command == "wdl":
        (tmp_path / "nap.wdl").write_text(SLEEP_WDL)
        args = ["-m", "languages.wdl.cli", "--jobStore", "store", "--container", "none"]
        args += ["nap.wdl", "-i", f'{{"nap.marker": "{marker}"}}']
    else:
        (tmp_path / "nap.py").write_text(SCRIPT)
        args = ["nap.py", "store", str(marker), "job"]
    proc = _start(args, tmp_path)
    _wait_for(marker, proc)
    returncode, stderr = _stop(proc, signum)
    _assert_one_line(stderr, name)
    assert returncode == code, stderr
    assert (tmp_path / "store").is_dir(), "a run that started keeps its store for --restart"


def _open_writer(fifo: Path, proc: subprocess.Popen[str]) -> int:
    """Open ``fifo`` for writing once the command has opened it to read (it then waits
    for its input: before any job store exists)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            assert exc.errno == errno.ENXIO, exc
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the command never read its inputs"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "name"), SIGNALS, ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", ["cwl", "wdl"])
def test_a_signal_while_reading_inputs(
    tmp_path: Path, command: str, signum: int, code: int, name: str
) -> None:
    fifo = tmp_path / "inputs.fifo"
    os.mkfifo(fifo)
    if command == "cwl":
        (tmp_path / "echo.cwl").write_text(ECHO_CWL)
        args = ["-m", "languages.cwl.cli", "--jobStore", "store", "echo.cwl", str(fifo)]
    else:
        (tmp_path / "hello.wdl").write_text(HELLO_WDL)
        args = ["-m", "languages.wdl.cli", "--jobStore", "store", "hello.wdl", str(fifo)]
    proc = _start(args, tmp_path)
    writer = _open_writer(fifo, proc)
    try:
        returncode, stderr = _stop(proc, signum)
    finally:
        os.close(writer)
    _assert_one_line(stderr, name)
    assert returncode == code, stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_sigterm_in_a_toil_script_before_its_run_starts(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    (tmp_path / "nap.py").write_text(SCRIPT)
    proc = _start(["nap.py", "store", str(marker), "with"], tmp_path)
    _wait_for(marker, proc)
    returncode, stderr = _stop(proc, signal.SIGTERM)
    _assert_one_line(stderr, "SIGTERM")
    assert returncode == 143, stderr
    assert not (tmp_path / "store").exists(), "the run never started: no store is left"
