"""A job's private directory: made lazily, emptied after the job, reused by the next one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.jobstore.memory import MemoryJobStore
from runner.jobenv import filestore
from runner.jobenv.filestore import SPARE_PREFIX, FileStore, remove_spares


@pytest.fixture(autouse=True)
def no_spares() -> None:
    remove_spares()


def job_dir(root: Path, kept: frozenset[str] = frozenset()) -> tuple[FileStore, str]:
    fs = FileStore(MemoryJobStore("memory:", ""), str(root), prefix="moil-abcdef12-")
    fs.kept_subdirs = kept
    return fs, fs.local_temp_dir


def test_the_next_job_gets_the_last_ones_directory_emptied(tmp_path: Path) -> None:
    fs, first = job_dir(tmp_path, frozenset({"out"}))
    inode = os.stat(first).st_ino
    for name in ("out", "in", "stage"):
        os.mkdir(os.path.join(first, name))
    Path(first, "in", "x.txt").write_text("x")
    Path(first, "junk").write_text("junk")
    fs.cleanup()
    [spare] = os.listdir(tmp_path)
    assert spare.startswith(f"{SPARE_PREFIX}") and f"-{os.getpid()}-" in spare

    _, second = job_dir(tmp_path)
    assert os.path.basename(second).startswith("moil-abcdef12-") and second != first
    assert os.stat(second).st_ino == inode
    assert os.listdir(second) == ["out"]  # kept: empty, made by the front end every job
    assert os.listdir(tmp_path) == [os.path.basename(second)]


def test_a_kept_subdirectory_that_is_not_empty_goes(tmp_path: Path) -> None:
    fs, first = job_dir(tmp_path, frozenset({"out"}))
    os.mkdir(os.path.join(first, "out"))
    Path(first, "out", "left.txt").write_text("an output nobody collected")
    fs.cleanup()
    _, second = job_dir(tmp_path)
    assert os.listdir(second) == []


def test_a_directory_a_tool_opened_up_is_not_reused(tmp_path: Path) -> None:
    fs, first = job_dir(tmp_path)
    os.chmod(first, 0o777)
    fs.cleanup()
    assert os.listdir(tmp_path) == []
    _, second = job_dir(tmp_path)
    assert os.stat(second).st_mode & 0o777 == 0o700


def test_one_spare_per_process(tmp_path: Path) -> None:
    a, _ = job_dir(tmp_path)
    b, _ = job_dir(tmp_path)
    a.cleanup()
    b.cleanup()
    assert len(os.listdir(tmp_path)) == 1


def test_remove_spares_sweeps_those_of_ended_processes_only(tmp_path: Path) -> None:
    host = filestore.SPARE_HOST
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = tmp_path / f"{SPARE_PREFIX}{host}-{ended.stdout.strip()}-00000000"
    live = tmp_path / f"{SPARE_PREFIX}{host}-{os.getppid()}-00000000"
    other_host = tmp_path / f"{SPARE_PREFIX}elsewhere.example-{ended.stdout.strip()}-0"
    for path in (dead, live, other_host):
        (path / "out").mkdir(parents=True)
    fs, _ = job_dir(tmp_path)
    fs.cleanup()
    remove_spares(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other_host.name])


def test_a_forked_child_does_not_take_its_parents_spare(tmp_path: Path) -> None:
    fs, first = job_dir(tmp_path)
    inode = os.stat(first).st_ino
    fs.cleanup()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - reported through the pipe
        try:
            _, mine = job_dir(tmp_path)
            os.write(write, mine.encode())
        finally:
            os._exit(0)
    os.close(write)
    child_dir = os.read(read, 4096).decode()
    os.close(read)
    os.waitpid(pid, 0)
    _, second = job_dir(tmp_path)  # the parent's spare is still there for the parent
    assert child_dir and os.path.isdir(child_dir) and os.path.isdir(second)
    assert os.stat(second).st_ino == inode != os.stat(child_dir).st_ino


def test_a_jobs_scratch_file_is_not_kept_as_a_source(tmp_path: Path) -> None:
    """The source of a stored file (to put its bytes back after damage) costs a disk block
    for its xattr: only a user's file, which outlives the job, is worth it."""
    from backends.jobstore.file import FileJobStore

    store = FileJobStore(str(tmp_path / "store"), str(tmp_path / "store"))
    store.create()
    fs = FileStore(store, str(tmp_path / "work"))
    os.makedirs(tmp_path / "work")
    scratch = Path(fs.getLocalTempFile())
    scratch.write_text("made by the job")
    users = tmp_path / "input.txt"
    users.write_text("the user's")
    for path, kept in ((scratch, False), (users, True)):
        file_id = fs.writeGlobalFile(str(path))
        names = os.listxattr(os.path.dirname(store.local_path(file_id)))
        assert ("user.moil.src" in names) is kept, (path, names)
    fs.cleanup()
