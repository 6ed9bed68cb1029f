"""The job-store contract suite (``backends.testing.jobstore``), run over every registered
job store kind (the registry is asked: ``known_names``), then each kind's own promises.

A new kind adds a recipe to ``_LOCATORS`` (how to make a fresh, throw-away locator); a kind
without one fails here, so no registered store goes untested. ``aws`` runs once per S3 server
the fixtures start (moto and s3rver, marker ``s3``), each store in a bucket of its own (on
s3rver under a key prefix, so both locator forms are covered). Tests of one kind's own
promises (hard links, flock, the journal file) sit at the end, named after the kind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from backends.errors import (
    InvalidLocatorError,
    JobStoreExistsError,
    JobStoreLeasedError,
    NoSuchJobStoreError,
    StoredFileDamagedError,
)
from backends.jobstore.base import JobStore, open_job_store, parse_locator
from backends.jobstore.file import FileJobStore
from backends.jobstore.s3 import S3JobStore
from backends.registry import JOB_STORE_GROUP, known_names
from backends.testing.jobstore import JobStoreContract, JobStoreTarget
from backends.testing.jobstore import other as _other
from backends.testing.jobstore import sha1_digest as _sha1
from tests.services.s3 import KINDS as S3_KINDS
from tests.services.s3 import S3Server

_LOCATORS: dict[str, Callable[[Path], str]] = {
    "file": lambda tmp: f"file:{tmp / 'store'}",
    "memory": lambda tmp: f"memory:test-{uuid.uuid4().hex}",
}


def _kinds() -> list[object]:
    """Every registered kind; ``aws`` once per S3 server (``aws-moto``, ``aws-s3rver``)."""
    params: list[object] = []
    for name in known_names(JOB_STORE_GROUP):
        if name == "aws":
            params += [pytest.param(f"aws-{kind}", marks=pytest.mark.s3) for kind in S3_KINDS]
        else:
            params.append(name)
    return params


def use_s3_server(server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point boto3 (through the environment, as a user would) at ``server``, with the
    store's file cache under ``tmp_path``."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "TOIL_S3_")):
            monkeypatch.delenv(name)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MOIL_S3_CACHE", str(tmp_path / "s3-cache"))


def _aws_locator(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = request.param.removeprefix("aws-")
    server: S3Server = request.getfixturevalue(f"{kind}_s3")
    use_s3_server(server, request.getfixturevalue("monkeypatch"), tmp_path)
    prefix = "/runs/store-1" if kind == "s3rver" else ""
    return f"aws:{server.region}:{server.new_bucket()}{prefix}"


class TestJobStoreContract(JobStoreContract):
    """The suite over every registered kind."""

    @pytest.fixture(params=_kinds())
    def job_store_target(self, request: pytest.FixtureRequest, tmp_path: Path) -> JobStoreTarget:
        if request.param.startswith("aws-"):
            monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")

            def damage_seen_elsewhere(store: JobStore, file_id: str, data: bytes) -> None:
                _damage(store, file_id, data)
                # the reader on another host: this host's checked copy is not used
                monkeypatch.setenv("MOIL_S3_CACHE", str(tmp_path / "other-host"))

            return JobStoreTarget(_aws_locator(request, tmp_path), damage_seen_elsewhere)
        make = _LOCATORS.get(request.param)
        if make is None:
            pytest.fail(f"job store kind {request.param!r} has no locator recipe in _LOCATORS")
        return JobStoreTarget(make(tmp_path), _damage)


# -- kinds' own promises, and the locators ---------------------------------------------------
def test_file_result_takes_the_place_of_the_input(file_store: FileJobStore) -> None:
    # no file is created for a result: the input's file is rewritten and renamed (creating
    # one costs ~1 ms on some file systems); a half-written one is never seen as a result
    file_store.write_job_input("j1", b"a long input " * 100)
    inode = os.stat(Path(file_store.root) / "jobs" / "j1.in").st_ino
    with file_store.job_running_lock("j1"):
        file_store.write_job_result("j1", b"short result")
    assert file_store.read_job_result("j1") == b"short result"
    assert os.stat(Path(file_store.root) / "jobs" / "j1.out").st_ino == inode
    assert not (Path(file_store.root) / "jobs" / "j1.in").exists()
    assert not file_store.job_is_running("j1")
    assert file_store.list_job_results() == ["j1"]
    file_store.write_job_result("j2", b"no input file")  # a job without one: a new file
    assert file_store.read_job_result("j2") == b"no input file"


def test_store_objects_do_no_io(tmp_path: Path) -> None:
    for make in _LOCATORS.values():
        store = open_job_store(make(tmp_path / "never"))
        assert not store.exists()
    assert not (tmp_path / "never").exists()
    aws = open_job_store("aws:us-east-1:no-such-bucket/x")  # no client, no request yet
    assert isinstance(aws, S3JobStore) and aws._client is None


# -- locators --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("locator", "expected"),
    [
        ("file:/data/js", ("file", "/data/js")),
        ("/data/js", ("file", "/data/js")),
        ("relative/js", ("file", os.path.abspath("relative/js"))),
        ("./odd:name", ("file", os.path.abspath("./odd:name"))),
        ("C:/js", ("file", os.path.abspath("C:/js"))),
        ("memory:scratch", ("memory", "scratch")),
        ("aws:us-west-2:my-bucket", ("aws", "us-west-2:my-bucket")),
        ("aws:us-west-2:my-bucket/runs/a/", ("aws", "us-west-2:my-bucket/runs/a")),
    ],
)
def test_parse_locator(locator: str, expected: tuple[str, str]) -> None:
    assert parse_locator(locator) == expected


@pytest.mark.parametrize(
    ("locator", "message"),
    [
        ("", "file:PATH"),
        ("file:", "names no location; use file:LOCATION"),
        ("memory:", "names no location; use memory:LOCATION"),
        ("ftp:host/js", "unknown job store kind 'ftp' in 'ftp:host/js'; known: "),
        ("aws:us-west-2", "aws:REGION:BUCKET"),
        ("aws:us-west-2:b-1:c", "aws:REGION:BUCKET"),
        ("aws:us-west-2:Bad_Bucket", "not a valid S3 bucket name"),
        ("aws:us-west-2:bucket/a/../b", "no empty, '.' or '..' parts"),
    ],
)
def test_bad_locators(locator: str, message: str) -> None:
    with pytest.raises(InvalidLocatorError, match=message):
        parse_locator(locator)
    with pytest.raises(InvalidLocatorError, match=message):
        open_job_store(locator)


def test_open_job_store_kinds(tmp_path: Path) -> None:
    from backends.jobstore.memory import MemoryJobStore

    by_prefix = open_job_store(f"file:{tmp_path}/a")
    bare = open_job_store(str(tmp_path / "a"))
    assert isinstance(by_prefix, FileJobStore) and isinstance(bare, FileJobStore)
    assert by_prefix.locator == bare.locator == f"file:{tmp_path}/a"
    assert isinstance(open_job_store("memory:x"), MemoryJobStore)
    with pytest.raises(InvalidLocatorError, match="known: .*file"):
        open_job_store("gs:some-bucket")


def test_file_locator_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_job_store("file:rel/js")
    assert store.location == str(tmp_path / "rel" / "js")
    assert store.locator == f"file:{tmp_path / 'rel' / 'js'}"
    assert not (tmp_path / "rel").exists()


# -- file: its own promises ------------------------------------------------------------------
REPO = str(Path(__file__).resolve().parents[2])


@pytest.fixture
def file_store(tmp_path: Path) -> FileJobStore:
    store = FileJobStore(f"file:{tmp_path / 'js'}", str(tmp_path / "js"))
    store.create()
    return store


@contextmanager
def _python(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A Python child running ``code`` with pipes to talk to; killed if still alive."""
    env = {**os.environ, "PYTHONPATH": REPO}
    with subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def test_file_create_rules(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    FileJobStore(str(empty), str(empty)).create()  # an empty directory is fine (mkdtemp)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("precious")
    with pytest.raises(JobStoreExistsError, match="not empty"):
        FileJobStore(str(busy), str(busy)).create()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(JobStoreExistsError, match="not a directory"):
        FileJobStore(str(a_file), str(a_file)).create()
    FileJobStore(str(busy), str(busy)).destroy()  # not a job store: left alone
    assert (busy / "thesis.tex").read_text() == "precious"
    assert not FileJobStore(str(busy), str(busy)).exists()


def test_file_destroy_removes_everything(file_store: FileJobStore, tmp_path: Path) -> None:
    file_store.write_job_input("j", b"i")
    file_store.append_records([b"r"])
    file_store.destroy()
    assert sorted(os.listdir(tmp_path)) == []
    with pytest.raises(NoSuchJobStoreError):
        file_store.write_job_input("j", b"i")  # a destroyed store is not silently recreated


def test_file_layout_is_flat(file_store: FileJobStore, tmp_path: Path) -> None:
    """Job hand-off files sit in one directory and each stored file in one directory of its
    own: no bucket directories, each of which would cost a removal on destroy."""
    file_store.write_job_input("job-1", b"i")
    assert (tmp_path / "js" / "jobs" / "job-1.in").is_file()
    file_id, stream = file_store.write_stream("a.txt")
    stream.close()
    uid = file_id.split("/")[0]
    assert (tmp_path / "js" / "files" / uid / "a.txt").is_file()


def _append_batches(store: FileJobStore, count: int) -> list[list[bytes]]:
    batches = [[f"{i}:{k}".encode() for k in range(i + 1)] for i in range(count)]
    for batch in batches:
        store.append_records(batch)
    return batches


def test_file_journal_torn_tail(file_store: FileJobStore) -> None:
    batches = _append_batches(file_store, 3)
    path = Path(file_store.root, "records", "journal")
    whole = path.read_bytes()
    path.write_bytes(whole + b"\x10\x00\x00\x00garbage")
    assert list(file_store.read_records()) == [r for b in batches for r in b]
    last = len(whole) - len(b"".join(batches[2])) - 4 * 3
    path.write_bytes(whole[: last + 2])  # cut inside the last batch's payload
    assert list(FileJobStore(file_store.locator, file_store.root).read_records()) == [
        r for b in batches[:2] for r in b
    ]
    flipped = bytearray(whole)
    flipped[-1] ^= 0xFF  # a corrupt byte in the last batch
    path.write_bytes(bytes(flipped) + b"\x00" * 64)
    restarted = FileJobStore(file_store.locator, file_store.root)
    restarted.open()
    assert list(restarted.read_records()) == [r for b in batches[:2] for r in b]
    restarted.append_records([b"new"])  # lands after the last whole batch, not the garbage
    assert list(file_store.read_records()) == [r for b in batches[:2] for r in b] + [b"new"]


_APPENDER = """
import sys
from backends.jobstore.file import FileJobStore
store = FileJobStore(sys.argv[1], sys.argv[1])
store.open()
i = 0
while True:
    store.append_records([b"%d:%d:" % (i, k) + b"x" * 50_000 for k in range(i % 7 + 1)])
    if i == 20:
        print("ready", flush=True)
    i += 1
"""


def test_file_journal_sigkill_leaves_whole_batches(file_store: FileJobStore) -> None:
    with _python(_APPENDER, file_store.root) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.kill()
        proc.wait()
    batches: dict[int, list[int]] = {}
    for record in file_store.read_records():
        batch, index, _ = record.split(b":", 2)
        batches.setdefault(int(batch), []).append(int(index))
    assert len(batches) > 20
    assert sorted(batches) == list(range(len(batches)))
    assert all(got == list(range(i % 7 + 1)) for i, got in batches.items())


_LOCK_HOLDER = """
import sys
from backends.jobstore.file import FileJobStore
store = FileJobStore(sys.argv[1], sys.argv[1])
store.open()
with store.job_running_lock("job 7"):
    print("held", flush=True)
    sys.stdin.readline()
    store.write_job_result("job 7", b"done")
"""


@pytest.mark.parametrize("with_input", [True, False], ids=["on-input", "on-lock-file"])
def test_file_running_lock_across_processes(file_store: FileJobStore, with_input: bool) -> None:
    if with_input:
        file_store.write_job_input("job 7", b"in")
    with _python(_LOCK_HOLDER, file_store.root) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stdout.readline() == "held\n"
        assert file_store.job_is_running("job 7")
        assert not file_store.job_is_running("job 8")
        assert Path(file_store.root, "locks").exists() is not with_input  # no file made
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait() == 0
    assert file_store.read_job_result("job 7") == b"done"
    assert not file_store.job_is_running("job 7")
    assert list(Path(file_store.root, "locks").glob("*/*")) == []


@pytest.mark.parametrize("with_input", [True, False], ids=["on-input", "on-lock-file"])
def test_file_running_lock_dies_with_worker(file_store: FileJobStore, with_input: bool) -> None:
    if with_input:
        file_store.write_job_input("job 7", b"in")
    with _python(_LOCK_HOLDER, file_store.root) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        assert file_store.job_is_running("job 7")
        proc.kill()
        proc.wait()
    assert not file_store.job_is_running("job 7")
    assert file_store.read_job_result("job 7") is None


def test_file_import_export_share_the_inode(file_store: FileJobStore, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"y" * 4096)
    file_id = file_store.import_local(str(src))
    stored = file_store.local_path(file_id)
    assert os.stat(stored).st_ino == os.stat(src).st_ino
    assert os.stat(src).st_nlink == 2
    file_store.export_local(file_id, str(tmp_path / "out.bin"))
    assert os.stat(tmp_path / "out.bin").st_ino == os.stat(src).st_ino
    assert os.stat(src).st_nlink == 3
    file_store.export_local(file_id, str(tmp_path / "link.bin"), symlink=True)
    assert os.readlink(tmp_path / "link.bin") == stored
    moved = tmp_path / "moved.bin"
    moved.write_bytes(b"z")
    inode = os.stat(moved).st_ino
    moved_id = file_store.import_local(str(moved), move=True)
    assert os.stat(file_store.local_path(moved_id)).st_ino == inode
    assert os.stat(file_store.local_path(moved_id)).st_nlink == 1


def test_file_import_across_file_systems_copies(file_store: FileJobStore) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(file_store.root).st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's tmp_path")
    src = shm / f"moil-test-{uuid.uuid4().hex}.sh"
    src.write_bytes(b"#!/bin/sh\n")
    src.chmod(0o755)
    try:
        file_id = file_store.import_local(str(src))
        stored = file_store.local_path(file_id)
        assert os.stat(stored).st_ino != os.stat(src).st_ino
        assert os.access(stored, os.X_OK) and file_id.executable
        moved_id = file_store.import_local(str(src), move=True)
        assert not src.exists()
        assert Path(file_store.local_path(moved_id)).read_bytes() == b"#!/bin/sh\n"
        dest = shm / f"moil-test-{uuid.uuid4().hex}.out"
        file_store.export_local(file_id, str(dest))
        assert dest.read_bytes() == b"#!/bin/sh\n" and os.access(dest, os.X_OK)
        dest.unlink()
    finally:
        src.unlink(missing_ok=True)


def test_file_fsync_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOIL_FSYNC", "1")
    store = FileJobStore(str(tmp_path / "js"), str(tmp_path / "js"))
    assert store.fsync
    store.create()
    store.append_records([b"a"])
    store.write_job_result("j", b"r")
    assert list(store.read_records()) == [b"a"] and store.read_job_result("j") == b"r"


def _legacy_frame(records: list[bytes]) -> bytes:
    """A frame as store format 1 wrote it (no magic)."""
    import struct
    import zlib

    payload = b"".join(struct.pack("<I", len(r)) + r for r in records)
    length = struct.pack("<I", len(payload))
    return length + struct.pack("<I", zlib.crc32(payload, zlib.crc32(length))) + payload


def _frame_offsets(path: Path) -> list[int]:
    from backends.jobstore import journal

    with open(path, "rb") as stream:
        ends = [end for end, _ in journal.scan(stream)]
    return [0, *ends[:-1]]


@pytest.mark.parametrize("where", ["payload", "magic", "length"])
def test_file_journal_damage_in_the_middle_keeps_the_frames_after_it(
    file_store: FileJobStore, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    batches = _append_batches(file_store, 6)
    path = Path(file_store.root, "records", "journal")
    start = _frame_offsets(path)[2]
    data = bytearray(path.read_bytes())
    index = {"payload": start + 14, "magic": start, "length": start + 5}[where]
    data[index] ^= 0x5A
    path.write_bytes(bytes(data))
    restarted = FileJobStore(file_store.locator, file_store.root)
    restarted.open()
    with caplog.at_level("WARNING"):
        got = list(restarted.read_records())
    assert got == [r for i, b in enumerate(batches) if i != 2 for r in b]
    damage = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(damage) == 1 and f"at byte {start}:" in damage[0], damage
    restarted.append_records([b"after"])  # appended after the last whole frame: none lost
    assert list(_other(restarted).read_records()) == [*got, b"after"]


def test_file_journal_reads_older_frames_and_appends_new_ones(
    file_store: FileJobStore,
) -> None:
    path = Path(file_store.root, "records", "journal")
    path.write_bytes(_legacy_frame([b"old-1", b"old-2"]) + _legacy_frame([b"old-3"]))
    Path(file_store.root, "moil-job-store.json").write_text(
        '{"kind": "moil file job store", "format": 1}\n'
    )
    older = FileJobStore(file_store.locator, file_store.root)
    older.open()
    assert list(older.read_records()) == [b"old-1", b"old-2", b"old-3"]
    older.append_records([b"new-1"])
    assert list(_other(older).read_records()) == [b"old-1", b"old-2", b"old-3", b"new-1"]
    with older.acquire_lease("restart of an older store"):
        pass


def test_file_journal_garbage_tail_after_damage_stays_quiet(
    file_store: FileJobStore, caplog: pytest.LogCaptureFixture
) -> None:
    batches = _append_batches(file_store, 3)
    path = Path(file_store.root, "records", "journal")
    path.write_bytes(path.read_bytes() + b"\xd7MJ\xfe" + b"\x40\x00\x00\x00" + b"x" * 20)
    with caplog.at_level("WARNING"):
        assert list(file_store.read_records()) == [r for b in batches for r in b]
    assert not [r for r in caplog.records if "damaged" in r.getMessage()]


_LEASE_HOLDER = """
import os, sys, time
from backends.jobstore.file import FileJobStore
store = FileJobStore(sys.argv[1], sys.argv[1])
lease = store.acquire_lease("holder")
if sys.argv[2] == "fork":
    child = os.fork()
    if child == 0:  # a pool worker of the leader: outlives it for a while
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.mark.parametrize("fork", [False, True], ids=["alone", "with-forked-child"])
def test_file_lease_dies_with_its_holder(file_store: FileJobStore, fork: bool) -> None:
    """A SIGKILLed leader never blocks a restart, not even while a worker it forked lives."""
    with _python(_LEASE_HOLDER, file_store.root, "fork" if fork else "alone") as proc:
        assert proc.stdout is not None
        child = int(proc.stdout.readline()) if fork else None
        assert proc.stdout.readline() == "held\n"
        try:
            holder = file_store.lease_holder()
            assert holder is not None and (holder.owner, holder.pid) == ("holder", proc.pid)
            with pytest.raises(JobStoreLeasedError, match=f"pid {proc.pid} on "):
                file_store.acquire_lease("second")
            proc.kill()
            proc.wait()
            assert file_store.lease_holder() is None
            file_store.acquire_lease("second").release()
        finally:
            if child is not None:
                os.kill(child, 9)  # not ours to reap: its parent was the killed holder


_LEASE_HOLDER_SLOW_CHILD = """
import subprocess, sys
from backends.jobstore.file import FileJobStore
store = FileJobStore(sys.argv[1], sys.argv[1])
lease = store.acquire_lease("holder")
# a child that has not run yet when its parent dies: it still has the locked file open
subprocess.Popen(["sleep", "0.5"], pass_fds=[lease._fd])
print("held", flush=True)
sys.stdin.readline()
"""


def test_file_lease_of_a_dead_holder_outlasts_its_unscheduled_child(
    file_store: FileJobStore,
) -> None:
    """A leader SIGKILLed right after a fork: its child holds the lock until it first runs;
    a restart then waits for it instead of being refused."""
    with _python(_LEASE_HOLDER_SLOW_CHILD, file_store.root) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "held\n"
        proc.kill()
        proc.wait()
        assert file_store.lease_holder() is None
        file_store.acquire_lease("second").release()


def test_file_lease_waits_out_a_status_probe(file_store: FileJobStore) -> None:
    """``toil status`` probes the lock with LOCK_SH for a moment: a leader starting then is
    not refused."""
    import fcntl

    fd = os.open(Path(file_store.root, "lease"), os.O_RDONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    threading.Timer(0.2, os.close, [fd]).start()
    file_store.acquire_lease("leader").release()


# -- checksums of stored files ---------------------------------------------------------------


def _damage(store: JobStore, file_id: str, data: bytes) -> None:
    """Replace the stored bytes of ``file_id`` behind the store's back, in place."""
    if isinstance(store, FileJobStore):
        with open(Path(store.root, "files", file_id), "r+b") as stream:
            stream.truncate(0)
            stream.write(data)
        return
    if isinstance(store, S3JobStore):  # the object replaced, its metadata kept (bit rot)
        key = store.root + "files/" + file_id
        meta = store.s3.head_object(Bucket=store.bucket, Key=key)["Metadata"]
        store.s3.put_object(Bucket=store.bucket, Key=key, Body=data, Metadata=meta)
        return
    from backends.jobstore import memory

    memory.REGISTRY[store.location].files[file_id].data = data


def test_file_stream_written_around_write_is_hashed_as_stored(file_store: FileJobStore) -> None:
    file_id, stream = file_store.write_stream("a.bin")
    with stream:
        stream.write(b"start ")
        stream.flush()
        os.write(stream.fileno(), b"direct ")  # past the buffered writer: not hashed by it
        stream.seek(0)
        stream.write(b"START ")
    assert file_store.file_digest(file_id) == _sha1(b"START direct ")


def test_file_touched_but_unchanged_is_intact(file_store: FileJobStore, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"same bytes")
    file_id = file_store.import_local(str(src))
    os.utime(src, ns=(1, 1))  # the same inode as the stored file: a touch, no new bytes
    with _other(file_store).open_read(file_id) as stream:
        assert stream.read() == b"same bytes"


def test_file_damaged_input_is_put_back_from_its_source(
    file_store: FileJobStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"input bytes")
    file_id = file_store.import_local(str(src))  # a hard link: the same inode as src
    restored = tmp_path / "restored"
    restored.write_bytes(b"input bytes")
    os.replace(restored, src)  # the user's input is a new file now, with the same bytes
    _damage(file_store, file_id, b"")  # and the stored one (the old inode) is truncated
    with caplog.at_level("WARNING"), _other(file_store).open_read(file_id) as stream:
        assert stream.read() == b"input bytes"
    assert any("put it back from" in r.getMessage() for r in caplog.records)
    src.write_bytes(b"other")  # the source changed too now: nothing to put back
    _damage(file_store, file_id, b"")
    with pytest.raises(StoredFileDamagedError, match="holds 0 bytes where 11 were stored"):
        _other(file_store).local_path(file_id)


def test_file_updated_in_place_on_purpose(file_store: FileJobStore, tmp_path: Path) -> None:
    file_id, stream = file_store.write_stream("listing.json")
    with stream:
        stream.write(b"{}")
    time.sleep(0.01)
    Path(file_store.local_path(file_id)).write_bytes(b'{"a": 1}')
    file_store.file_updated(file_id)
    assert file_store.file_digest(file_id) == _sha1(b'{"a": 1}')
    with _other(file_store).open_read(file_id) as read:
        assert read.read() == b'{"a": 1}'


def test_file_checksums_without_xattrs(
    file_store: FileJobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def refuse(*args: object) -> None:
        raise OSError(errno.ENOTSUP, "no xattrs here")

    monkeypatch.setattr(os, "setxattr", refuse)
    monkeypatch.setattr(os, "getxattr", refuse)
    store = FileJobStore(file_store.locator, file_store.root)
    file_id, stream = store.write_stream("a.txt")
    with stream:
        stream.write(b"abc")
    uid = file_id.split("/")[0]
    assert (Path(store.root) / "files" / f"{uid}.sum").is_file()
    assert _other(store).file_digest(file_id) == _sha1(b"abc")
    time.sleep(0.01)
    _damage(store, file_id, b"")
    with pytest.raises(StoredFileDamagedError):
        _other(store).open_read(file_id)
    store.delete_file(file_id)
    assert not (Path(store.root) / "files" / f"{uid}.sum").exists()


# -- file: private to its owner --------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_file_store_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        given = tmp_path / "given"
        given.mkdir(0o777)  # an empty directory the user names as --jobStore
        os.chmod(given, 0o777)
        store = FileJobStore(str(given), str(given))
        lease = store.create_leased("leader")
        store.write_shared("config", b"secret options")
        store.append_records([b"record"])
        store.write_job_input("j", b"input")
        store.write_job_result("j2", b"result")
        store.job_log_target("j")  # the log's directory (a worker writes the log: 0600)
        streamed, stream = store.write_stream("s.txt")
        with stream:
            stream.write(b"streamed")
        with store.job_running_lock("j3"):
            modes = {p: p.stat().st_mode & 0o777 for p in [given, *given.rglob("*")]}
        lease.release()
        out = tmp_path / "out.txt"
        store.export_local(streamed, str(out))  # it leaves the store: the umask's mode now
    finally:
        os.umask(old)
    assert {
        str(p.relative_to(tmp_path)): oct(m) for p, m in modes.items() if m not in (0o700, 0o600)
    } == {}
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
