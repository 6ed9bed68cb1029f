"""What the tests of bad input, signals and full disks share: the small documents they
run, the environment the commands run in, and how their error lines are found."""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: a line that reports an error: the CWL runner's log line, the WDL runner's or argparse's
#: "PROG: ..." line, the Python API's "error: ..." line
ERROR_LINE = re.compile(r"^(\[[^\]]*\] ERROR |toil-(cwl|wdl)-runner: |error: )")

ECHO_CWL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
stdout: output.txt
inputs:
  message: {type: string, inputBinding: {position: 1}}
outputs:
  output: {type: stdout}
"""

HELLO_WDL = """\
version 1.0
task hello {
  input { String name }
  command <<< echo "hello ~{name}" > out.txt >>>
  output { File out = "out.txt" }
}
"""


def error_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that report an error (see ERROR_LINE)."""
    return [line for line in stderr.splitlines() if ERROR_LINE.match(line)]


def command_env(tmp: Path) -> dict[str, str]:
    """The environment of a command under test: this checkout's code, ``TMPDIR`` ``tmp``."""
    return dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp))
