"""Bad input, as users (and careless scripts) give it, to the real commands: each case
must end with no Python traceback, exactly one error line that names the thing, the
documented exit code, and no job store or temporary directory left behind by a run that
never started (issue 12 item 8).

The cases run ``toil-cwl-runner``, ``toil-wdl-runner`` and a Toil-style Python script
(``api``) as processes, in a fresh directory holding the files ``_workspace`` makes, with
``TMPDIR`` pointed at a directory of their own so that a temporary store left behind shows.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backends.jobstore.file import FileJobStore
from tests.runner.commands import ECHO_CWL, HELLO_WDL, command_env, error_lines

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


def _workspace(root: Path) -> None:
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


STORE = ("--jobStore", "store")
CASES = [
    # -- CWL documents
    cwl("cwl-empty-document", 2, "empty.cwl", "empty.cwl", "job.yml"),
    cwl("cwl-binary-document", 2, "not UTF-8", "binary.bin", "job.yml"),
    cwl("cwl-directory-as-document", 2, "a-dir", "a-dir", "job.yml"),
    cwl("cwl-missing-document", 2, "nosuch.cwl", "nosuch.cwl", "job.yml"),
    cwl("cwl-document-not-a-mapping", 2, "scalar.cwl", "scalar.cwl"),
    cwl("cwl-no-document", 2, "document"),
    # -- CWL input objects
    cwl("cwl-input-nested-500-deep", 1, "nested", "echo.cwl", "deep.json"),
    cwl("cwl-yaml-nested-500-deep", 1, "nested", "echo.cwl", "deep.yml"),
    cwl("cwl-yaml-alias-bomb", 1, "values", "echo.cwl", "bomb.yml"),
    cwl("cwl-yaml-recursive-alias", 1, "itself", "echo.cwl", "self.yml"),
    cwl("cwl-job-file-is-a-list", 1, "list", "echo.cwl", "list.yml"),
    cwl("cwl-job-file-binary", 1, "not UTF-8", "echo.cwl", "binary.json"),
    cwl("cwl-job-file-invalid-utf8", 1, "not UTF-8", "echo.cwl", "bad-utf8.yml"),
    cwl("cwl-job-file-is-a-directory", 1, "a-dir", "echo.cwl", "a-dir"),
    cwl("cwl-job-file-missing", 1, "nosuch.yml", "echo.cwl", "nosuch.yml"),
    cwl("cwl-wrong-input-type", 1, "'message'", "echo.cwl", "wrong-type.yml"),
    cwl("cwl-missing-required-input", 1, "'message'", "echo.cwl"),
    cwl("cwl-unknown-input-argument", 2, "--nosuch", "echo.cwl", "--message", "x", "--nosuch", "1"),
    cwl(
        "cwl-missing-input-file",
        1,
        "nowhere.txt",
        *STORE,
        "cat.cwl",
        "missing-file.yml",
        absent=("store",),
    ),
    cwl("cwl-missing-input-file-temp-store", 1, "nowhere.txt", "cat.cwl", "missing-file.yml"),
    # -- option values, checked before anything is made
    cwl("cwl-outdir-is-a-file", 2, "--outdir", "--outdir", "a-file", "echo.cwl", "job.yml"),
    cwl("cwl-outdir-under-a-file", 2, "--outdir", "--outdir", "a-file/out", "echo.cwl", "job.yml"),
    cwl(
        "cwl-jobstore-under-a-file",
        2,
        "--jobStore",
        "--jobStore",
        "a-file/store",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-workdir-missing",
        2,
        "--workDir",
        "--workDir",
        "no-such-dir",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store", "no-such-dir"),
    ),
    cwl(
        "cwl-workdir-is-a-file",
        2,
        "--workDir",
        "--workDir",
        "a-file",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store",),
    ),
    cwl(
        "cwl-retry-count-negative",
        2,
        "--retryCount",
        "--retryCount",
        "-1",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store",),
    ),
    cwl(
        "cwl-max-cores-zero",
        2,
        "--maxCores",
        "--maxCores",
        "0",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store",),
    ),
    cwl("cwl-max-cores-negative", 2, "--maxCores", "--maxCores", "-2", "echo.cwl", "job.yml"),
    cwl("cwl-max-memory-zero", 2, "--maxMemory", "--maxMemory", "0", "echo.cwl", "job.yml"),
    cwl(
        "cwl-max-job-duration-negative",
        2,
        "--maxJobDuration",
        "--maxJobDuration",
        "-5",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-unknown-batch-system",
        2,
        "nope",
        "--batchSystem",
        "nope",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store",),
    ),
    cwl(
        "cwl-log-file-in-missing-directory",
        2,
        "--logFile",
        "--logFile",
        "no/such/x.log",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-write-logs-is-a-file", 2, "--writeLogs", "--writeLogs", "a-file", "echo.cwl", "job.yml"
    ),
    cwl(
        "cwl-tmpdir-prefix-under-a-file",
        2,
        "--tmpdir-prefix",
        "--tmpdir-prefix",
        "a-file/x/tmp",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-restart-without-store",
        2,
        "--restart",
        "--restart",
        *STORE,
        "echo.cwl",
        absent=("store",),
    ),
    cwl("cwl-malformed-locator", 2, "aws:x", "--jobStore", "aws:x", "echo.cwl", "job.yml"),
    cwl("cwl-not-a-size", 2, "--defaultMemory", "--defaultMemory", "lots", "echo.cwl"),
    cwl("cwl-unknown-option", 2, "--nosuchoption", "--nosuchoption", "echo.cwl"),
    # -- WDL
    wdl("wdl-binary-document", 2, "not UTF-8", "binary.bin"),
    wdl("wdl-empty-document", 2, "empty.wdl", "empty.wdl"),
    wdl("wdl-directory-as-document", 2, "a-dir", "a-dir"),
    wdl("wdl-missing-document", 2, "nosuch.wdl", "nosuch.wdl"),
    wdl("wdl-binary-inputs", 2, "not UTF-8", "hello.wdl", "binary.json"),
    wdl("wdl-invalid-utf8-inputs", 2, "not UTF-8", "hello.wdl", "bad-utf8.json"),
    wdl("wdl-inputs-is-a-directory", 2, "a-dir", "hello.wdl", "a-dir"),
    wdl("wdl-inputs-is-a-list", 2, "JSON object", "hello.wdl", "list.json"),
    wdl("wdl-inputs-nested-500-deep", 2, "nested", "hello.wdl", "deep-wdl.json"),
    wdl("wdl-inputs-yaml-alias-bomb", 2, "values", "hello.wdl", "bomb.json"),
    wdl("wdl-inputs-not-json", 2, "JSON", "hello.wdl", "-i", "{not json"),
    wdl("wdl-unknown-input", 2, "hello.nosuch", "hello.wdl", "unknown.json"),
    wdl("wdl-wrong-input-type", 2, "hello.name", "hello.wdl", "wrong-type.json"),
    wdl("wdl-missing-required-input", 2, "hello.name", "hello.wdl"),
    wdl(
        "wdl-missing-input-file",
        2,
        "nowhere.txt",
        *STORE,
        "cat.wdl",
        "missing-file.json",
        absent=("store",),
    ),
    wdl("wdl-unknown-task", 2, "nosuch", "--task", "nosuch", "hello.wdl", "inputs.json"),
    wdl(
        "wdl-output-directory-is-a-file",
        2,
        "--outputDirectory",
        "hello.wdl",
        "inputs.json",
        "-o",
        "a-file",
        *STORE,
        absent=("store",),
    ),
    wdl(
        "wdl-output-file-is-a-directory",
        2,
        "--outputFile",
        "hello.wdl",
        "inputs.json",
        "-m",
        "a-dir",
    ),
    wdl(
        "wdl-output-file-in-missing-directory",
        2,
        "--outputFile",
        "hello.wdl",
        "inputs.json",
        "-m",
        "no/such/out.json",
    ),
    wdl(
        "wdl-log-file-in-missing-directory",
        2,
        "--logFile",
        "hello.wdl",
        "inputs.json",
        "--logFile",
        "no/such/x.log",
    ),
    wdl(
        "wdl-workdir-is-a-file",
        2,
        "--workDir",
        "hello.wdl",
        "inputs.json",
        "--workDir",
        "a-file",
        *STORE,
        absent=("store",),
    ),
    wdl(
        "wdl-retry-count-negative",
        2,
        "--retryCount",
        "hello.wdl",
        "inputs.json",
        "--retryCount",
        "-1",
    ),
    wdl(
        "wdl-unknown-batch-system",
        2,
        "nope",
        "hello.wdl",
        "inputs.json",
        "--batchSystem",
        "nope",
        *STORE,
        absent=("store",),
    ),
    # -- the Python API (a Toil script)
    api("api-retry-count-negative", 2, "--retryCount", "store", "retryCount=-1", absent=("store",)),
    api("api-max-cores-zero", 2, "--maxCores", "store", "maxCores=0.0", absent=("store",)),
    api("api-unknown-batch-system", 2, "nope", "store", "batchSystem=nope", absent=("store",)),
    api(
        "api-workdir-missing",
        2,
        "--workDir",
        "store",
        "workDir=no-such-dir",
        absent=("store", "no-such-dir"),
    ),
    api("api-restart-without-store", 2, "--restart", "store", "restart", absent=("store",)),
    api("api-jobstore-under-a-file", 2, "--jobStore", "a-file/store"),
    Case(
        "api-restart-store-without-journal",
        "api",
        ("store", "restart"),
        2,
        "no workflow",
        empty_store=True,
    ),
    Case(
        "cwl-restart-store-without-journal",
        "cwl",
        ("--restart", *STORE, "echo.cwl"),
        2,
        "no workflow",
        empty_store=True,
    ),
]


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


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_clear_error(case: Case, tmp_path: Path) -> None:
    _workspace(tmp_path)
    if case.empty_store:
        FileJobStore(f"file:{tmp_path / 'store'}", str(tmp_path / "store")).create()
    result = run_command(case, tmp_path)
    assert_one_clear_error(result, case)
    assert_nothing_left(tmp_path, case)


def test_the_table_covers_each_command() -> None:
    """The table names each case once, and holds cases for every command."""
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.command for c in CASES} == {"cwl", "wdl", "api"}


# -- as a user whom permission bits stop --------------------------------------------------
#: as root (CI), the cases run as ``nobody``: permission bits do not stop root
NOBODY = 65534

PERMISSION_CASES = [
    cwl(
        "cwl-jobstore-in-unwritable-directory",
        2,
        "--jobStore",
        "--jobStore",
        "{locked}/store",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-outdir-in-unwritable-directory",
        2,
        "--outdir",
        "--outdir",
        "{locked}/out",
        "echo.cwl",
        "job.yml",
    ),
    cwl("cwl-workdir-unwritable", 2, "--workDir", "--workDir", "{locked}", "echo.cwl", "job.yml"),
    cwl(
        "cwl-log-file-in-unwritable-directory",
        2,
        "--logFile",
        "--logFile",
        "{locked}/x.log",
        "echo.cwl",
        "job.yml",
    ),
    cwl("cwl-unreadable-document", 2, "secret.cwl", "{secret}.cwl", "job.yml"),
    cwl("cwl-unreadable-job-file", 1, "secret.yml", "echo.cwl", "{secret}.yml"),
    cwl("cwl-unreadable-input-file", 1, "secret.txt", "cat.cwl", "unreadable-file.yml"),
    wdl("wdl-unreadable-document", 2, "secret.wdl", "{secret}.wdl"),
    wdl("wdl-unreadable-inputs", 2, "secret.json", "hello.wdl", "{secret}.json"),
    wdl(
        "wdl-output-directory-in-unwritable-directory",
        2,
        "--outputDirectory",
        "hello.wdl",
        "inputs.json",
        "-o",
        "{locked}/out",
    ),
    api("api-jobstore-in-unwritable-directory", 2, "--jobStore", "{locked}/store"),
]


@pytest.fixture
def shared_workspace(tmp_path: Path) -> Iterator[Path]:
    """A workspace the other user can enter (pytest's own temp root is 0700 to root), with
    ``locked/`` (not writable to that user) and ``secret.*`` files (not readable)."""
    base = Path(tempfile.mkdtemp(prefix="moil-perms-", dir=tempfile.gettempdir()))
    try:
        base.chmod(0o755)
        home = base / "home"
        home.mkdir()
        _workspace(home)
        (home / "unreadable-file.yml").write_text(
            f"f: {{class: File, path: {base / 'secret.txt'}}}\n"
        )
        (base / "locked").mkdir(mode=0o555)
        for name, source in (
            ("cwl", "echo.cwl"),
            ("yml", "job.yml"),
            ("wdl", "hello.wdl"),
            ("json", "inputs.json"),
            ("txt", "job.yml"),
        ):
            secret = base / f"secret.{name}"
            secret.write_text((home / source).read_text())
            secret.chmod(0o000)
        if os.geteuid() == 0:
            for path in [home, *home.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        yield home
    finally:
        (base / "locked").chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def _as_other_user() -> list[str]:
    """The prefix that runs a command as a user permission bits stop."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("as root, these cases need setpriv (util-linux) to run as nobody")
    prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import cwltool"],
        check=False,
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run {sys.executable}: {probe.stderr.strip()[:200]}")
    return prefix


@pytest.mark.slow
@pytest.mark.parametrize("case", PERMISSION_CASES, ids=[c.name for c in PERMISSION_CASES])
def test_bad_input_without_permission_gives_one_clear_error(
    case: Case, shared_workspace: Path
) -> None:
    base = shared_workspace.parent
    args = tuple(a.format(locked=base / "locked", secret=base / "secret") for a in case.args)
    result = run_command(
        Case(case.name, case.command, args, case.code, case.names),
        shared_workspace,
        prefix=_as_other_user(),
    )
    assert_one_clear_error(result, case)
    assert_nothing_left(shared_workspace, case)
    assert os.listdir(base / "locked") == []
