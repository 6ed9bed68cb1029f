"""Refused up front: an unknown ``--batchSystem``, a ``--workDir`` that does not exist, and a
``memory:`` store with a batch system whose jobs run in other processes. Each command
(``toil-cwl-runner``, ``toil-wdl-runner``, a Toil script) exits 2 with exactly one error
line saying what and what to do, and leaves nothing behind: the whole of the command's
``HOME``, ``TMPDIR`` and working directory is compared before and after, with and without
``--jobStore``.

Two caches a command may fill while it loads the document are left out of the comparison,
as they are kept across runs on purpose: ``~/.cache/moil`` (the CWL schemas, pickled) and
lark's grammar cache ``$TMPDIR/.lark_cache_*`` (miniwdl's parser).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runner.badinput import workspace
from tests.runner.commands import REPO, error_lines

COMMANDS = {
    "cwl": ([sys.executable, "-m", "languages.cwl.cli"], ["echo.cwl", "job.yml"]),
    "wdl": ([sys.executable, "-m", "languages.wdl.cli"], ["hello.wdl", "inputs.json"]),
}
# what is refused -> (options of the CWL/WDL runners, the Toil script's, words of the line)
REFUSED = {
    "unknown-batch-system": (
        ["--batchSystem", "nope"],
        ["batchSystem=nope"],
        ["--batchSystem", "unknown batch system 'nope'", "known: ", "single_machine"],
    ),
    "missing-work-dir": (
        ["--workDir", "/missing"],
        ["workDir=/missing"],
        ["--workDir /missing", "no such directory", "create it"],
    ),
    "memory-store-elsewhere": (
        ["--jobStore", "memory:run"],
        [],
        ["memory:run", "lives in this process only", "--batchSystem inline"],
    ),
}
KEPT_CACHES = (os.path.join("home", ".cache", "moil"), os.path.join("tmp", ".lark_cache_"))
CACHE_PARENTS = {os.path.join("home", ".cache")}
CASES = [
    pytest.param(command, refused, store, id=f"{command}-{refused}-{kind}")
    for command in ("cwl", "wdl", "api")
    for refused in REFUSED
    for store, kind in ((False, "temporary-store"), (True, "given-store"))
    if store or refused != "memory-store-elsewhere"  # there the memory: store is the given one
]


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (relative), but the caches kept on purpose."""
    found = set()
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            relative = os.path.relpath(os.path.join(directory, name), root)
            if not relative.startswith(KEPT_CACHES) and relative not in CACHE_PARENTS:
                found.add(relative)
    return found


def run(root: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(root / "home"), TMPDIR=str(root / "tmp"))
    return subprocess.run(
        argv, cwd=root / "work", env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(("command", "refused", "store"), CASES)
def test_refused_before_anything_is_made(
    tmp_path: Path, command: str, refused: str, store: bool
) -> None:
    options, api_options, words = REFUSED[refused]
    for part in ("home", "tmp", "work"):
        (tmp_path / part).mkdir()
    workspace(tmp_path / "work")
    given = ["--jobStore", str(tmp_path / "work" / "store")] if store else []
    if command == "api":
        locator = (
            "memory:run"
            if refused == "memory-store-elsewhere"
            else str(tmp_path / "work" / "store")
        )
        argv = [sys.executable, "api.py", locator, *api_options]
    else:
        program, documents = COMMANDS[command]
        argv = [
            *program,
            *(given if refused != "memory-store-elsewhere" else []),
            *options,
            *documents,
        ]
    before = snapshot(tmp_path)
    result = run(tmp_path, argv)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = error_lines(result.stderr)
    for word in words:
        assert word in line, line
    assert snapshot(tmp_path) == before
