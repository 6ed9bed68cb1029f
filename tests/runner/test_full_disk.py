"""A job store on a full disk: every fill level ends in one clear line (exit 1), never a
traceback, and a run that started resumes with ``--restart`` once there is room (issue 12
item 8). The disk is a small tmpfs, mounted for the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runner.commands import ECHO_CWL, HELLO_WDL, command_env, error_lines

#: free space left on the disk before each run, in KiB: from none to more than a run needs
LEVELS_KIB = range(0, 44, 4)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs at ``tmp_path/disk`` (skips where this process may not mount one)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8); run the tests as root")
    made = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave_kib: int) -> None:
    """Fill ``disk`` but ``leave_kib`` KiB."""
    for entry in disk.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "wb") as stream:
        stream.write(b"\0" * max(0, free - leave_kib * 1024))


def _run(command: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = command_env(cwd / "tmp")
    if command == "cwl":
        argv = ["-m", "languages.cwl.cli", *args, "echo.cwl", "job.yml"]
    else:
        argv = ["-m", "languages.wdl.cli", "--container", "none", *args]
        argv += ["hello.wdl", "inputs.json", "-o", "out"]
    return subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", ["cwl", "wdl"])
def test_a_full_disk_under_the_job_store(small_disk: Path, tmp_path: Path, command: str) -> None:
    (tmp_path / "echo.cwl").write_text(ECHO_CWL)
    (tmp_path / "job.yml").write_text("message: hi\n")
    (tmp_path / "hello.wdl").write_text(HELLO_WDL)
    (tmp_path / "inputs.json").write_text(json.dumps({"hello.name": "you"}))
    (tmp_path / "work").mkdir()
    (tmp_path / "tmp").mkdir()
    store = small_disk / "store"
    options = ("--jobStore", str(store), "--workDir", str(tmp_path / "work"))
    seen: dict[int, str] = {}
    for leave in LEVELS_KIB:
        _fill(small_disk, leave)
        result = _run(command, tmp_path, *options)
        # lines "  | ..." quote the log of a job that failed (its own record, as for any
        # failed job); the leader's lines around them hold no traceback
        own = [line for line in result.stderr.splitlines() if not line.startswith("  |")]
        assert not any("Traceback" in line for line in own), (leave, result.stderr)
        if result.returncode == 0:
            seen[leave] = "ran"
            continue
        assert result.returncode == 1, (leave, result.stderr)
        errors = error_lines(result.stderr)
        if len(errors) == 1:  # the leader's own write failed
            assert "No space left on device" in errors[0], (leave, result.stderr)
            seen[leave] = "leader"
        else:  # a job's write failed: as for any failed job, its failure, then the summary
            *failures, summary = errors
            assert all("No space left on device" in f for f in failures), result.stderr
            assert "1 job(s) failed" in summary, (leave, result.stderr)
            seen[leave] = "job"
        if store.exists():  # the run started: it resumes once there is room
            (small_disk / "filler").unlink()
            again = _run(command, tmp_path, *options, "--restart")
            assert again.returncode == 0, (leave, again.stderr)
        assert not store.exists(), (leave, "a run that never started leaves no store")
    assert "leader" in seen.values(), seen
    assert "ran" in seen.values(), seen
