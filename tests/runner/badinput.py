"""What the bad-input tests share (``test_bad_input*.py``): the files a case may name, a
case's shape, how it runs as a user runs the command, and what it must show.

A case runs ``toil-cwl-runner``, ``toil-wdl-runner`` or a Toil-style Python script
(``api``) as a process, in a fresh directory holding the files ``workspace`` makes, with
``TMPDIR`` pointed at a directory of its own so that a temporary store left behind shows.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.runner.commands import ECHO_CWL, HELLO_WDL, command_env, error_lines

#: as root (CI), the permission cases run as ``nobody``: permission bits do not stop root
NOBODY = 65534

CAT_CWL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: cat
inputs:
  f: {type: File, inputBinding: {position: 1}}
outputs: {out: stdout}
"""

CAT_WDL = """\
version 1.0
task cat {
  input { File f }
  command <<< cat ~{f} >>>
  output { String out = read_string(stdout()) }
}
"""

#: a Toil script: ``api.py STORE [restart] [OPTION=VALUE ...]``
API_SCRIPT = """\
import sys
from runner import Job, Toil

def hello(name):
    return "hello " + name

def value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text

if __name__ == "__main__":
    options = Job.Runner.getDefaultOptions(sys.argv[1])
    options.restart = "restart" in sys.argv[2:]
    for arg in sys.argv[2:]:
        if "=" in arg:
            key, text = arg.split("=", 1)
            setattr(options, key, value(text))
    with Toil(options) as toil:
        if options.restart:
            print(toil.restart())
        else:
            print(toil.start(Job.wrapFn(hello, "you")))
"""


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


def workspace(root: Path) -> None:
    """The files the cases name (one set for all: each case reads what it needs)."""
    files = {
        "echo.cwl": ECHO_CWL,
        "cat.cwl": CAT_CWL,
        "hello.wdl": HELLO_WDL,
        "cat.wdl": CAT_WDL,
        "api.py": API_SCRIPT,
        "job.yml": "message: hi\n",
        "inputs.json": json.dumps({"hello.name": "you"}),
        "empty.cwl": "",
        "empty.wdl": "",
        "scalar.cwl": "just a string\n",
        "a-file": "",
        "list.yml": "[1, 2]\n",
        "list.json": "[1, 2]\n",
        "wrong-type.yml": "message: {a: 1}\n",
        "wrong-type.json": json.dumps({"hello.name": {"a": 1}}),
        "unknown.json": json.dumps({"hello.name": "x", "hello.nosuch": 1}),
        "typo.json": json.dumps({"hello.nmae": "x"}),
        "bad.json": '{"hello.name": \n',
        "bad.yml": "message: [\n",
        "missing-file.yml": "f: {class: File, path: nowhere.txt}\n",
        "missing-file.json": json.dumps({"cat.f": "nowhere.txt"}),
        "deep.json": json.dumps({"message": _nested(500)}),
        "deep-wdl.json": json.dumps({"hello.name": _nested(500)}),
        "deep.yml": "message: " + "[" * 500 + "x" + "]" * 500 + "\n",
        "self.yml": "message: hi\nloop: &a [*a]\n",
        "bomb.yml": "\n".join(
            [f"a0: &a0 [{', '.join(['lol'] * 10)}]"]
            + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
            + ["message: hi", ""]
        ),
    }
    for name, text in files.items():
        (root / name).write_text(text)
    noise = random.Random(12).randbytes(400)
    for name in ("binary.bin", "binary.json"):
        (root / name).write_bytes(b"\x89\xd2" + noise)
    (root / "bad-utf8.yml").write_bytes(b'message: "caf\xe9"\n')
    (root / "bad-utf8.json").write_bytes(b'{"hello.name": "caf\xe9"}')
    (root / "bomb.json").write_text((root / "bomb.yml").read_text())  # YAML in a .json name
    (root / "a-dir").mkdir()


@dataclass(frozen=True)
class Case:
    """One bad input: the command (``cwl``, ``wdl``, ``api``), its arguments, the exit
    code, and a text the error line must hold (the thing it names)."""

    name: str
    command: str
    args: tuple[str, ...]
    code: int
    names: str
    #: paths (relative to the workspace) that must not exist afterwards
    absent: tuple[str, ...] = field(default=())
    #: a job store made at ``store`` before the command, with no run in it
    empty_store: bool = False


def cwl(name: str, code: int, names: str, *args: str, absent: tuple[str, ...] = ()) -> Case:
    return Case(name, "cwl", args, code, names, absent)


def wdl(name: str, code: int, names: str, *args: str, absent: tuple[str, ...] = ()) -> Case:
    return Case(name, "wdl", args, code, names, absent)


def api(name: str, code: int, names: str, *args: str, absent: tuple[str, ...] = ()) -> Case:
    return Case(name, "api", args, code, names, absent)


def run_command(
    case: Case, cwd: Path, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``case`` as a user would (after ``prefix``: another user), in ``cwd``, with
    TMPDIR of its own."""
    tmp = cwd / "tmp"
    tmp.mkdir(exist_ok=True)
    if os.geteuid() == 0 and prefix:
        os.chown(tmp, NOBODY, NOBODY)
    env = command_env(tmp)
    command = {
        "cwl": [sys.executable, "-m", "languages.cwl.cli"],
        "wdl": [sys.executable, "-m", "languages.wdl.cli"],
        "api": [sys.executable, "api.py"],
    }[case.command]
    return subprocess.run(
        [*(prefix or []), *command, *case.args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_one_clear_error(result: subprocess.CompletedProcess[str], case: Case) -> None:
    """No traceback, one error line that names the thing, the exit code."""
    stderr = result.stderr
    assert "Traceback" not in stderr, stderr
    errors = error_lines(stderr)
    assert len(errors) == 1, stderr
    assert case.names in errors[0], stderr
    assert result.returncode == case.code, stderr


def assert_nothing_left(cwd: Path, case: Case) -> None:
    """No temporary store or job directory, nor any path the case names as absent."""
    for kind in ("stores", "work"):
        left = cwd / "tmp" / f"moil-{kind}-{os.geteuid()}"
        assert not left.exists() or os.listdir(left) == [], f"left in {left}: {os.listdir(left)}"
    for name in case.absent:
        assert not (cwd / name).exists(), f"{name} was left behind"
    assert not (cwd / "output.txt").exists()
