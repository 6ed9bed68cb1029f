"""The progress bar under a pseudo-terminal (issue 14): it is drawn on stderr, never on
stdout, which holds exactly the output JSON; log lines printed while it is up come out
whole; a failure mid-run leaves both streams intact (the bar gone, the cursor shown again);
and nothing of the bar reaches a job's own log."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

from tests.runner.commands import command_env
from tests.runner.test_run_log import ISSUED, SCATTER_CWL

ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
#: a log line that starts a line of its own (not drawn after the bar's text)
LINE_START = re.compile(r"^\[\d\d:\d\d:\d\d\] (INFO|ERROR) ")


def run_on_terminal(tmp_path: Path, fail: int = -1) -> tuple[int, str, bytes]:
    """Run the 50-job scatter with stderr on a pseudo-terminal (120 columns) and stdout
    on a pipe; returns the exit code, stdout and all the terminal got."""
    (tmp_path / "wf.cwl").write_text(
        SCATTER_CWL.replace("default: -1", f"default: {fail}").replace(
            "'echo $0;", "'sleep 0.1; echo $0;"
        )
    )
    (tmp_path / "job.json").write_text(json.dumps({"items": list(range(50))}))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(command_env(tmp_path), TERM="xterm-256color")
    for name in ("NO_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "languages.cwl.cli",
            "--retryCount",
            "0",
            "--outdir",
            "out",
            "--writeLogs",
            "joblogs",
            "--writeLogsFromAllJobs",
            "wf.cwl",
            "job.json",
        ],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    got = bytearray()

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal's other side is gone
                return
            if not data:
                return
            got.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = proc.communicate(timeout=300)
    reader.join(timeout=60)
    os.close(master)
    return proc.returncode, stdout, bytes(got)


def check_terminal(screen: bytes) -> str:
    """What every run on the terminal must show: the bar was drawn (on stderr), with the
    cursor hidden meanwhile and shown again at the end; returns the text without escapes."""
    text = ESCAPE.sub(b"", screen).decode()
    assert re.search(r"jobs .*\d+/\d+ .*running \d+", text), text[-2000:]
    assert screen.rfind(b"\x1b[?25l") < screen.rfind(b"\x1b[?25h"), screen[-300:]
    return text


def check_job_logs(tmp_path: Path) -> None:
    logs = list((tmp_path / "joblogs").iterdir())
    assert len(logs) >= 50
    for path in logs:
        data = path.read_bytes()
        assert b"\x1b" not in data and b"running " not in data, (path, data[-500:])
        assert b"INFO [job " in data  # cwltool's lines of the job, as plain text


def test_bar_is_on_stderr_and_stdout_is_exactly_the_output(tmp_path: Path) -> None:
    code, stdout, screen = run_on_terminal(tmp_path)
    assert code == 0, screen[-3000:]
    assert stdout.startswith("{")
    assert len(json.loads(stdout)["out"]) == 50
    text = check_terminal(screen)
    # each line logged while the bar was up came out whole, on a line of its own
    lines = text.replace("\r", "\n").splitlines()
    issued = [line for line in lines if ISSUED.search(line)]
    assert len(issued) == 50, text[-3000:]
    assert all(LINE_START.match(line) for line in issued), issued
    assert " Run finished successfully in " in text
    check_job_logs(tmp_path)


def test_a_failure_mid_run_leaves_stdout_and_the_terminal_intact(tmp_path: Path) -> None:
    code, stdout, screen = run_on_terminal(tmp_path, fail=13)
    assert code == 1, screen[-3000:]
    assert stdout == ""
    text = check_terminal(screen)
    lines = text.replace("\r", "\n").splitlines()
    failed = [line for line in lines if re.search(r" ERROR wf\.cwl/echo\[13\] failed \(", line)]
    assert len(failed) == 1, text[-3000:]
    last = [line for line in lines if line.strip()][-1]
    assert "ERROR workflow failed: 1 job(s) failed: wf.cwl/echo[13]" in last, text[-3000:]
    check_job_logs(tmp_path)
