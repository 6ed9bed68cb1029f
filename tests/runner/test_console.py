"""The console scripts' process end: what a normal exit does that matters still happens."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROGRAM = """\
import atexit, gc, sys, threading, time
from runner.cli import console

def main():
    atexit.register(lambda: open(sys.argv[1], "a").write("atexit\\n"))
    def late():
        time.sleep(0.3)
        open(sys.argv[1], "a").write("thread\\n")
    threading.Thread(target=late).start()
    print("buffered " * 2000)  # more than a pipe's worth is left in Python's buffer
    sys.stderr.write("gc on: %s\\n" % gc.isenabled())
    console.freeze_heap()
    sys.stderr.write("gc on after freeze: %s\\n" % gc.isenabled())
    return RESULT

console.run(main, defer_gc=True)
"""


@pytest.mark.parametrize(
    ("result", "code"), [("0", 0), ("3", 3), ("None", 0), ("'a message'", 1), ("256 + 7", 7)]
)
def test_run_exits_with_mains_code_after_flushing_threads_and_atexit(
    tmp_path: Path, result: str, code: int
) -> None:
    marks = tmp_path / "marks"
    program = textwrap.dedent(PROGRAM).replace("RESULT", result)
    proc = subprocess.run(
        [sys.executable, "-c", program, str(marks)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "buffered " * 2000 + "\n"
    assert "gc on: False" in proc.stderr and "gc on after freeze: True" in proc.stderr
    assert marks.read_text() == "thread\natexit\n"
    if result == "'a message'":
        assert "a message" in proc.stderr


def test_a_sys_exit_in_main_gives_its_code(tmp_path: Path) -> None:
    program = "from runner.cli import console\nimport sys\nconsole.run(lambda: sys.exit(5))\n"
    proc = subprocess.run([sys.executable, "-c", program], check=False, cwd=REPO, timeout=60)
    assert proc.returncode == 5
