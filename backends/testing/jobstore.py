"""The job-store contract suite: what every job store keeps, as pytest tests.

``JobStoreContract`` asks for one fixture, ``job_store_target``, giving a ``JobStoreTarget``:
a fresh, throw-away ``locator`` where no store exists yet (the suite creates the store,
opens second objects on it as the run's other processes would, and destroys it at the end),
and the hooks where a kind differs:

- ``damage(store, file_id, data)``: replace a stored file's bytes behind the store's back
  (bit rot), and make a reader opened afterwards see them as another host would (no copy
  this host has checked). Without it, the test that damage is refused is skipped;
- the kind's own answers: a store whose ``job_is_running`` is the base class's (never
  running) is not held to seeing a running lock from another object.

The kind must be registered (``backends.registry``): the suite opens stores by locator.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.errors import (
    JobStoreExistsError,
    JobStoreLeasedError,
    NoSuchFileError,
    NoSuchJobStoreError,
    StoredFileDamagedError,
)
from backends.jobstore.base import FileID, JobStore, open_job_store

ODD_JOB_IDS = [
    "plain-1",
    "with/slash",
    ".dot",
    "%41",
    "A",
    "sp ace",
    "ü-ñ",
    "~t",
    "x" * 300,
    "y" * 180,
    "ü" * 90,
]


@dataclass
class JobStoreTarget:
    """One job store kind under test (see the module docstring)."""

    locator: str
    damage: Callable[[JobStore, str, bytes], None] | None = None


def other(store: JobStore) -> JobStore:
    """A second object on the same store, as another process of the run would have."""
    again = open_job_store(store.locator)
    again.open()
    return again


def soon(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Whether ``check`` holds within ``seconds`` (an aws: worker marks a job running once
    it has run a second)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def sha1_digest(data: bytes) -> str:
    """A stored file's digest as ``JobStore.file_digest`` gives it."""
    return f"sha1${hashlib.sha1(data).hexdigest()}"


class JobStoreContract:
    """The contract suite; subclass it as ``Test...`` with a ``job_store_target`` fixture."""

    @pytest.fixture
    def locator(self, job_store_target: JobStoreTarget) -> Iterator[str]:
        yield job_store_target.locator
        open_job_store(job_store_target.locator).destroy()

    @pytest.fixture
    def store(self, locator: str) -> JobStore:
        created = open_job_store(locator)
        created.create()
        return created

    def test_create_open_exists_destroy(self, locator: str) -> None:
        store = open_job_store(locator)
        assert not store.exists()
        with pytest.raises(NoSuchJobStoreError):
            store.open()
        store.create()
        assert store.exists()
        second = open_job_store(store.locator)
        assert second.exists()
        second.open()
        with pytest.raises(JobStoreExistsError, match="already exists"):
            second.create()
        store.write_shared("config", b"c")
        second.destroy()
        assert not store.exists()
        with pytest.raises(NoSuchJobStoreError):
            store.open()
        store.destroy()  # destroying a missing store is not an error
        store.create()  # and the place can be used again
        with pytest.raises(NoSuchFileError):
            store.read_shared("config")

    def test_lease_is_exclusive_until_released(self, store: JobStore) -> None:
        assert store.lease_holder() is None
        lease = store.acquire_lease("leader-1")
        holder = other(store).lease_holder()
        assert holder is not None and holder == lease.holder
        assert (holder.owner, holder.pid, holder.host) == (
            "leader-1",
            os.getpid(),
            socket.gethostname(),
        )
        assert abs(holder.since - time.time()) < 60 and f"pid {os.getpid()}" in holder.describe()
        with pytest.raises(JobStoreLeasedError, match="in use by a running leader") as refused:
            other(store).acquire_lease("leader-2")
        assert refused.value.holder == holder
        lease.keep()  # a holder's loop calls this; it renews only when a renewal is due
        lease.release()
        lease.release()
        assert other(store).lease_holder() is None
        with other(store).acquire_lease("leader-2") as second:
            assert store.lease_holder() == second.holder
        assert store.lease_holder() is None

    def test_create_leased_holds_the_lease_from_the_start(self, locator: str) -> None:
        store = open_job_store(locator)
        lease = store.create_leased("leader-1")
        assert store.exists() and store.lease_holder() == lease.holder
        with pytest.raises(JobStoreExistsError):
            open_job_store(locator).create_leased("leader-2")
        with pytest.raises(JobStoreLeasedError):
            other(store).acquire_lease("leader-2")
        lease.release()

    def test_lease_of_a_missing_store(self, locator: str) -> None:
        store = open_job_store(locator)
        with pytest.raises(NoSuchJobStoreError):
            store.acquire_lease("leader")

    def test_shared_blobs(self, store: JobStore) -> None:
        assert not store.shared_exists("config")
        with pytest.raises(NoSuchFileError, match="config"):
            store.read_shared("config")
        store.write_shared("config", b"one")
        store.write_shared("config", b"two")
        assert other(store).read_shared("config") == b"two"
        assert store.shared_exists("config")
        for name in ("stats/run 1", ".hidden", "%2F"):
            store.write_shared(name, name.encode())
        assert [store.read_shared(n) for n in ("stats/run 1", ".hidden", "%2F")] == [
            b"stats/run 1",
            b".hidden",
            b"%2F",
        ]
        store.delete_shared("config")
        store.delete_shared("config")
        assert not store.shared_exists("config")
        assert store.read_shared(".hidden") == b".hidden"

    def test_shared_replace_is_atomic(self, store: JobStore) -> None:
        blobs = [b"a" * 300_000, b"b" * 400_000]
        store.write_shared("flag", blobs[0])
        seen: set[bytes] = set()
        done = threading.Event()

        def read_until_done() -> None:
            reader = other(store)
            while not done.is_set():
                seen.add(reader.read_shared("flag"))

        thread = threading.Thread(target=read_until_done)
        thread.start()
        try:
            for index in range(60):
                store.write_shared("flag", blobs[index % 2])
        finally:
            done.set()
            thread.join()
        assert seen <= set(blobs) and seen

    def test_journal_append_read_replace(self, store: JobStore) -> None:
        assert list(store.read_records()) == []
        store.append_records([b"r1", b"", b"r3"])
        store.append_records([])
        store.append_records([bytes(range(256)) * 100])
        assert list(other(store).read_records()) == [b"r1", b"", b"r3", bytes(range(256)) * 100]
        store.replace_records([b"compact-1", b"compact-2"])
        assert list(store.read_records()) == [b"compact-1", b"compact-2"]
        store.append_records([b"after"])
        assert list(other(store).read_records()) == [b"compact-1", b"compact-2", b"after"]
        store.replace_records([])
        assert list(store.read_records()) == []

    def test_journal_survives_reopen(self, store: JobStore) -> None:
        store.append_records([b"x"])
        restarted = other(store)
        assert list(restarted.read_records()) == [b"x"]
        restarted.append_records([b"y"])
        assert list(store.read_records()) == [b"x", b"y"]

    def test_job_input_result_clear(self, store: JobStore) -> None:
        worker = other(store)
        store.write_job_input("j1", b"input")
        assert worker.read_job_input("j1") == b"input"
        assert store.read_job_result("j1") is None
        assert store.list_job_results() == []
        worker.write_job_result("j1", b"result")
        worker.write_job_result("j1", b"result 2")
        assert store.read_job_result("j1") == b"result 2"
        assert store.list_job_results() == ["j1"]
        store.clear_job_io("j1")
        store.clear_job_io("j1")
        assert store.read_job_result("j1") is None
        with pytest.raises(NoSuchFileError, match="j1"):
            worker.read_job_input("j1")
        assert store.list_job_results() == []

    def test_finish_job_keeps_result_and_log(self, store: JobStore, tmp_path: Path) -> None:
        worker, reader = other(store), other(store)
        store.write_job_input("j1", b"input")
        assert worker.read_job_input("j1") == b"input"
        log_path = worker.job_log_target("j1")
        Path(log_path).write_bytes(b"what the job said\n")
        with worker.job_running_lock("j1"):
            worker.finish_job("j1", b"the result", log_path)
        assert store.read_job_result("j1") == b"the result"
        assert store.read_job_log("j1") == reader.read_job_log("j1") == b"what the job said\n"
        assert reader.list_job_results() == ["j1"]
        store.clear_jobs_io(["j1"])
        assert reader.list_job_results() == []
        assert reader.read_job_result("j1") is None
        assert other(store).read_job_log("j1") == b"what the job said\n"  # the log stays
        store.write_job_input("j1", b"second attempt")  # a retry: the newer log is the one read
        assert worker.read_job_input("j1") == b"second attempt"
        log_path = worker.job_log_target("j1")
        Path(log_path).write_bytes(b"second log\n")
        with worker.job_running_lock("j1"):
            worker.finish_job("j1", b"second result", log_path)
        assert store.read_job_result("j1") == b"second result"
        assert other(store).read_job_log("j1") == b"second log\n"

    def test_odd_job_ids_stay_apart(self, store: JobStore) -> None:
        for job_id in ODD_JOB_IDS:
            store.write_job_input(job_id, f"in {job_id}".encode())
        for job_id in ODD_JOB_IDS:  # the input may be gone once the result is written
            assert store.read_job_input(job_id) == f"in {job_id}".encode()
        for job_id in ODD_JOB_IDS:
            store.write_job_result(job_id, f"out {job_id}".encode())
        assert store.list_job_results() == sorted(ODD_JOB_IDS)
        for job_id in ODD_JOB_IDS:
            assert store.read_job_result(job_id) == f"out {job_id}".encode()
            target = store.job_log_target(job_id)
            Path(target).write_text(job_id)
            store.save_job_log(job_id, target)
            with store.job_running_lock(job_id):
                pass
        assert [store.read_job_log(job_id) for job_id in ODD_JOB_IDS] == [
            job_id.encode() for job_id in ODD_JOB_IDS
        ]
        for job_id in ODD_JOB_IDS:
            store.clear_job_io(job_id)
        assert store.list_job_results() == []

    def test_running_lock_in_process(self, store: JobStore) -> None:
        leader = other(store)
        assert not leader.job_is_running("j1")
        with store.job_running_lock("j1"):
            if type(store).job_is_running is not JobStore.job_is_running:
                assert soon(lambda: leader.job_is_running("j1"))
                assert leader.job_is_running("j1")  # a probe does not disturb the lock
            assert not leader.job_is_running("j2")
        assert not leader.job_is_running("j1")
        with store.job_running_lock("j1"):  # the lock can be taken again (a retry)
            pass

    def test_logs(self, store: JobStore, tmp_path: Path) -> None:
        assert store.read_job_log("j1") is None
        target = store.job_log_target("j1")
        Path(target).write_bytes(b"line 1\nline 2\n")
        store.save_job_log("j1", target)
        assert other(store).read_job_log("j1") == b"line 1\nline 2\n"
        assert store.job_log_location("j1")
        elsewhere = tmp_path / "my.log"
        elsewhere.write_bytes(b"rerun\n")
        store.save_job_log("j1", str(elsewhere))
        assert store.read_job_log("j1") == b"rerun\n"
        assert elsewhere.read_bytes() == b"rerun\n"

    def test_write_stream_open_read_size_delete(self, store: JobStore) -> None:
        file_id, stream = store.write_stream("out.txt")
        assert isinstance(file_id, FileID)
        with stream:
            stream.write(b"hello ")
            assert not store.file_exists(file_id)  # not there until the stream closes
            stream.write(b"world")
        assert file_id.endswith("/out.txt") and file_id.basename == "out.txt"
        assert file_id.size == 11
        reader = other(store)
        assert reader.file_exists(file_id)
        with reader.open_read(file_id) as read:
            assert read.read() == b"hello world"
        assert reader.file_size(file_id) == 11
        copied = pickle.loads(pickle.dumps(file_id))
        assert (copied, copied.size, type(copied)) == (file_id, 11, FileID)
        store.delete_file(file_id)
        store.delete_file(file_id)
        assert not store.file_exists(file_id)
        with pytest.raises(NoSuchFileError):
            store.open_read(file_id)
        with pytest.raises(NoSuchFileError):
            store.file_size(file_id)

    def test_list_files_lists_stored_files_only(self, store: JobStore, tmp_path: Path) -> None:
        try:
            listed = sorted(store.list_files())
        except NotImplementedError:
            pytest.skip("this store does not list its files (optional: toil debug-file)")
        assert listed == []
        first, stream = store.write_stream("a.txt")
        with stream:
            stream.write(b"a")
            assert list(other(store).list_files()) == []  # not until the stream closes
        src = tmp_path / "b.txt"
        src.write_bytes(b"b")
        second = store.import_local(str(src))
        third = store.import_local(str(src), basename="a.txt")
        assert sorted(other(store).list_files()) == sorted([first, second, third])
        store.delete_file(first)
        assert sorted(other(store).list_files()) == sorted([second, third])

    def test_write_stream_failure_leaves_nothing(self, store: JobStore) -> None:
        file_id, stream = store.write_stream("partial")
        with pytest.raises(RuntimeError), stream:
            stream.write(b"half")
            raise RuntimeError("the producer failed")
        assert not store.file_exists(file_id)

    @pytest.mark.parametrize("bad", ["nope", "0" * 32 + "/../../x", "../../etc/passwd", ""])
    def test_unknown_file_ids(self, store: JobStore, bad: str) -> None:
        assert not store.file_exists(bad)
        with pytest.raises(NoSuchFileError):
            store.open_read(bad)
        with pytest.raises(NoSuchFileError):
            store.file_size(bad)
        store.delete_file(bad)

    def test_import_export(self, store: JobStore, tmp_path: Path) -> None:
        src = tmp_path / "tool.sh"
        src.write_bytes(b"#!/bin/sh\necho hi\n")
        src.chmod(0o755)
        plain = tmp_path / "data.txt"
        plain.write_bytes(b"data")
        tool = store.import_local(str(src))
        data = store.import_local(str(plain), basename="renamed.txt")
        assert (tool.size, tool.executable, tool.basename) == (18, True, "tool.sh")
        assert (data.size, data.executable, data.basename) == (4, False, "renamed.txt")
        assert src.exists() and plain.exists()
        out = tmp_path / "out"
        out.mkdir()
        other(store).export_local(tool, str(out / "tool.sh"))
        store.export_local(data, str(out / "data.txt"))
        assert (out / "tool.sh").read_bytes() == src.read_bytes()
        assert os.access(out / "tool.sh", os.X_OK)
        assert not os.access(out / "data.txt", os.X_OK)
        with pytest.raises(FileExistsError):
            store.export_local(data, str(out / "data.txt"))
        with pytest.raises(NoSuchFileError):
            store.export_local("0" * 32 + "/gone", str(out / "gone"))

    def test_import_move(self, store: JobStore, tmp_path: Path) -> None:
        src = tmp_path / "big.bin"
        src.write_bytes(b"x" * 10_000)
        file_id = store.import_local(str(src), move=True)
        assert not src.exists()
        assert file_id.size == 10_000 and store.file_size(file_id) == 10_000
        with store.open_read(file_id) as stream:
            assert stream.read() == b"x" * 10_000

    def test_destroy_soon_removes_the_store_from_its_locator(self, store: JobStore) -> None:
        _file_id, stream = store.write_stream("a.txt")
        stream.close()
        store.destroy_soon()
        assert not store.exists()
        assert not open_job_store(store.locator).exists()

    def test_stored_files_carry_their_sha1(self, store: JobStore, tmp_path: Path) -> None:
        file_id, stream = store.write_stream("s.txt")
        with stream:
            stream.write(b"streamed ")
            stream.write(memoryview(b"bytes"))
        src = tmp_path / "in.txt"
        src.write_bytes(b"imported")
        imported = store.import_local(str(src))
        given = store.import_local(str(src), digest=sha1_digest(b"imported"))
        assert other(store).file_digest(file_id) == sha1_digest(b"streamed bytes")
        assert store.file_digest(imported) == store.file_digest(given) == sha1_digest(b"imported")
        with pytest.raises(NoSuchFileError):
            store.file_digest("0" * 32 + "/gone")

    @pytest.mark.parametrize("damage", [b"", b"IMPORTED"], ids=["truncated", "same-size"])
    def test_a_damaged_stored_file_is_refused(
        self, job_store_target: JobStoreTarget, store: JobStore, tmp_path: Path, damage: bytes
    ) -> None:
        if job_store_target.damage is None:
            pytest.skip("the target gives no way to damage a stored file (JobStoreTarget.damage)")
        src = tmp_path / "made" / "out.txt"
        src.parent.mkdir()
        src.write_bytes(b"imported")
        file_id = store.import_local(str(src), move=True)
        with store.open_read(file_id) as stream:  # read (and checked) once while intact
            assert stream.read() == b"imported"
        time.sleep(0.01)  # a later write has a later mtime even on a coarse clock
        job_store_target.damage(store, file_id, damage)
        reader = other(store)
        for read in (
            lambda: reader.open_read(file_id),
            lambda: reader.local_path(file_id),
            lambda: reader.export_local(file_id, str(tmp_path / "exported")),
        ):
            with pytest.raises(StoredFileDamagedError, match="out.txt.*damaged") as caught:
                read()
            assert caught.value.file_id == file_id
        assert not (tmp_path / "exported").exists()
