"""Bad input that permission bits make bad: unwritable directories and unreadable files,
given by a user whom they stop (as root, as ``nobody``: CI runs as root). Each case must end
as in ``test_bad_input.py``: no traceback, one error line naming the thing, the exit code,
nothing left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runner.badinput import (
    NOBODY,
    Case,
    api,
    assert_nothing_left,
    assert_one_clear_error,
    cwl,
    run_command,
    wdl,
    workspace,
)

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
def shared_workspace() -> Iterator[Path]:
    """A workspace the other user can enter (pytest's own temp root is 0700 to root), with
    ``locked/`` (not writable to that user) and ``secret.*`` files (not readable)."""
    base = Path(tempfile.mkdtemp(prefix="moil-perms-", dir=tempfile.gettempdir()))
    try:
        base.chmod(0o755)
        home = base / "home"
        home.mkdir()
        workspace(home)
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
