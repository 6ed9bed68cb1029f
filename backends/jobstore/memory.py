"""The ``memory:`` job store: everything in this process's memory. A test double.

Stores live in a process-wide registry keyed by name, so two ``MemoryJobStore`` objects
built from the same locator (say the leader's and an in-process worker's) see one store.
Nothing survives the process, and a worker in another process sees nothing: use it with an
in-process batch system only. It keeps every promise of the contract that does not need a
file system: atomic blobs and results, whole batches, files that keep their executable bit.
``local_path`` answers None, so callers exercise their copy paths against it. Its lease
is held in the registry: a second ``acquire_lease`` (say a second in-process leader) is
refused until the first is released.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO

from backends.errors import (
    JobStoreExistsError,
    JobStoreLeasedError,
    NoSuchFileError,
    NoSuchJobStoreError,
    StoredFileDamagedError,
)
from backends.jobstore.base import FileID, JobStore, new_file_id
from backends.jobstore.lease import Lease, LeaseHolder


def _sha1(data: bytes) -> str:
    return f"sha1${hashlib.sha1(data).hexdigest()}"


@dataclass
class _StoredFile:
    data: bytes
    executable: bool
    digest: str = ""

    def __post_init__(self) -> None:
        self.digest = self.digest or _sha1(self.data)


@dataclass
class _State:
    """One store. Every access holds ``lock``: workers may be threads."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    shared: dict[str, bytes] = field(default_factory=dict)
    records: list[bytes] = field(default_factory=list)
    inputs: dict[str, bytes] = field(default_factory=dict)
    results: dict[str, bytes] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)
    logs: dict[str, bytes] = field(default_factory=dict)
    log_targets: dict[str, str] = field(default_factory=dict)
    files: dict[str, _StoredFile] = field(default_factory=dict)
    lease: _MemoryLease | None = None


#: the stores of this process, by location (a test may damage one behind its back here)
REGISTRY: dict[str, _State] = {}
_REGISTRY_LOCK = threading.Lock()


class MemoryJobStore(JobStore):
    """A job store in a process-global dict, named by its location (``memory:NAME``)."""

    kind = "memory"
    process_local = True

    def __repr__(self) -> str:
        return f"MemoryJobStore({self.location!r})"

    @property
    def _state(self) -> _State:
        state = REGISTRY.get(self.location)
        if state is None:
            raise NoSuchJobStoreError(f"no job store at {self.locator}")
        return state

    # -- life cycle ---------------------------------------------------------------------
    def exists(self) -> bool:
        return self.location in REGISTRY

    def create(self) -> None:
        with _REGISTRY_LOCK:
            if self.location in REGISTRY:
                raise JobStoreExistsError(
                    f"a job store already exists at {self.locator}; use another name"
                )
            REGISTRY[self.location] = _State()

    def open(self) -> None:
        self._state  # noqa: B018 (raises NoSuchJobStoreError)

    def acquire_lease(self, owner: str) -> Lease:
        state = self._state
        with state.lock:
            if state.lease is not None:
                holder = state.lease.holder
                raise JobStoreLeasedError(
                    f"the job store {self.locator} is in use by a running leader "
                    f"({holder.describe()})",
                    holder,
                )
            lease = _MemoryLease(
                state, LeaseHolder(owner, socket.gethostname(), os.getpid(), time.time())
            )
            state.lease = lease
        return lease

    def lease_holder(self) -> LeaseHolder | None:
        state = self._state
        with state.lock:
            return None if state.lease is None else state.lease.holder

    def destroy(self) -> None:
        with _REGISTRY_LOCK:
            state = REGISTRY.pop(self.location, None)
        if state is not None:
            for path in state.log_targets.values():
                _unlink_quietly(path)

    # -- shared blobs -------------------------------------------------------------------
    def write_shared(self, name: str, data: bytes) -> None:
        state = self._state
        with state.lock:
            state.shared[name] = bytes(data)

    def read_shared(self, name: str) -> bytes:
        state = self._state
        with state.lock:
            try:
                return state.shared[name]
            except KeyError:
                raise NoSuchFileError(f"no shared file {name!r} in {self.locator}") from None

    def shared_exists(self, name: str) -> bool:
        state = self._state
        with state.lock:
            return name in state.shared

    def delete_shared(self, name: str) -> None:
        state = self._state
        with state.lock:
            state.shared.pop(name, None)

    # -- journal --------------------------------------------------------------------------
    def append_records(self, records: Sequence[bytes]) -> None:
        batch = [bytes(record) for record in records]
        state = self._state
        with state.lock:
            state.records.extend(batch)

    def read_records(self) -> Iterator[bytes]:
        state = self._state
        with state.lock:
            snapshot = list(state.records)
        return iter(snapshot)

    def replace_records(self, records: Sequence[bytes]) -> None:
        batch = [bytes(record) for record in records]
        state = self._state
        with state.lock:
            state.records = batch

    # -- job hand-off -----------------------------------------------------------------------
    def write_job_input(self, job_id: str, data: bytes) -> None:
        state = self._state
        with state.lock:
            state.inputs[job_id] = bytes(data)

    def read_job_input(self, job_id: str) -> bytes:
        state = self._state
        with state.lock:
            try:
                return state.inputs[job_id]
            except KeyError:
                raise NoSuchFileError(f"no input for job {job_id!r} in {self.locator}") from None

    def write_job_result(self, job_id: str, data: bytes) -> None:
        state = self._state
        with state.lock:
            state.results[job_id] = bytes(data)

    def read_job_result(self, job_id: str) -> bytes | None:
        state = self._state
        with state.lock:
            return state.results.get(job_id)

    def clear_job_io(self, job_id: str) -> None:
        state = self._state
        with state.lock:
            state.inputs.pop(job_id, None)
            state.results.pop(job_id, None)

    def list_job_results(self) -> list[str]:
        state = self._state
        with state.lock:
            return sorted(state.results)

    def job_running_lock(self, job_id: str) -> AbstractContextManager[object]:
        return self._running(self._state, job_id)

    @contextmanager
    def _running(self, state: _State, job_id: str) -> Iterator[str]:
        with state.lock:
            state.running[job_id] = state.running.get(job_id, 0) + 1
        try:
            yield job_id
        finally:
            with state.lock:
                left = state.running.pop(job_id) - 1
                if left:
                    state.running[job_id] = left

    def job_is_running(self, job_id: str) -> bool:
        state = self._state
        with state.lock:
            return job_id in state.running

    # -- logs -----------------------------------------------------------------------------
    def job_log_target(self, job_id: str) -> str:
        """A fresh temporary file; ``save_job_log`` reads it in and deletes it."""
        fd, path = tempfile.mkstemp(prefix="moil-memory-log-", suffix=".log")
        os.close(fd)
        state = self._state
        with state.lock:
            old = state.log_targets.pop(job_id, None)
            state.log_targets[job_id] = path
        if old is not None:
            _unlink_quietly(old)
        return path

    def save_job_log(self, job_id: str, local_path: str) -> None:
        with open(local_path, "rb") as stream:
            data = stream.read()
        state = self._state
        with state.lock:
            state.logs[job_id] = data
            ours = state.log_targets.get(job_id) == local_path
            if ours:
                del state.log_targets[job_id]
        if ours:
            _unlink_quietly(local_path)

    def read_job_log(self, job_id: str) -> bytes | None:
        state = self._state
        with state.lock:
            return state.logs.get(job_id)

    def job_log_location(self, job_id: str) -> str:
        return f"{self.locator} (log of job {job_id}, in memory)"

    # -- files ----------------------------------------------------------------------------
    def _get(self, file_id: str) -> _StoredFile:
        """The stored file, checked against its digest (memory is cheap to hash)."""
        state = self._state
        with state.lock:
            try:
                stored = state.files[file_id]
            except KeyError:
                raise NoSuchFileError(f"no file {file_id!r} in {self.locator}") from None
        if _sha1(stored.data) != stored.digest:
            raise StoredFileDamagedError(
                f"the stored file {file_id} is damaged: its bytes changed since it was "
                "stored; rerun the workflow in a new job store",
                file_id,
            )
        return stored

    def _put(self, basename: str, data: bytes, executable: bool) -> FileID:
        file_id = new_file_id(basename)
        state = self._state
        with state.lock:
            state.files[file_id] = _StoredFile(data, executable)
        return FileID(file_id, len(data), executable)

    def import_local(
        self,
        path: str,
        *,
        move: bool = False,
        basename: str | None = None,
        digest: str | None = None,
        keep_source: bool = True,
    ) -> FileID:
        with open(path, "rb") as stream:
            executable = bool(os.fstat(stream.fileno()).st_mode & 0o111)
            data = stream.read()
        file_id = self._put(basename or os.path.basename(path), data, executable)
        if move:
            os.unlink(path)
        return file_id

    def export_local(self, file_id: str, dest: str, *, symlink: bool = False) -> None:
        """Write a copy (a memory store has no file to link to); ``symlink`` is ignored."""
        stored = self._get(file_id)
        with open(dest, "xb") as stream:
            stream.write(stored.data)
            if stored.executable:
                mode = stat.S_IMODE(os.fstat(stream.fileno()).st_mode)
                os.fchmod(stream.fileno(), mode | (mode & 0o444) >> 2)

    def local_path(self, file_id: str) -> str | None:
        self._get(file_id)
        return None

    def open_read(self, file_id: str) -> IO[bytes]:
        return io.BytesIO(self._get(file_id).data)

    def write_stream(self, basename: str) -> tuple[FileID, IO[bytes]]:
        self._state  # noqa: B018 (raises NoSuchJobStoreError before anything is written)
        file_id = FileID(new_file_id(basename))
        return file_id, _MemoryWriter(self, file_id)

    def _publish(self, file_id: FileID, data: bytes) -> None:
        state = self._state
        with state.lock:
            state.files[str(file_id)] = _StoredFile(data, False)
        file_id.size = len(data)

    def file_digest(self, file_id: str) -> str | None:
        return self._get(file_id).digest

    def file_exists(self, file_id: str) -> bool:
        state = self._state
        with state.lock:
            return file_id in state.files

    def file_size(self, file_id: str) -> int:
        return len(self._get(file_id).data)

    def delete_file(self, file_id: str) -> None:
        state = self._state
        with state.lock:
            state.files.pop(file_id, None)

    def list_files(self) -> Iterator[str]:
        state = self._state
        with state.lock:
            return iter(list(state.files))


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class _MemoryLease(Lease):
    """The lease of a memory store: its registry entry names the holder."""

    def __init__(self, state: _State, holder: LeaseHolder) -> None:
        super().__init__(holder)
        self._state = state

    def renew(self) -> None:
        """Nothing to do: the lease lasts until released (or the process ends)."""

    def release(self) -> None:
        with self._state.lock:
            if self._state.lease is self:
                self._state.lease = None


class _MemoryWriter(io.BytesIO):
    """Publishes its bytes into the store on ``close``; an exception in a ``with`` block
    discards them."""

    def __init__(self, store: MemoryJobStore, file_id: FileID) -> None:
        super().__init__()
        self._store = store
        self._file_id = file_id

    def close(self) -> None:
        if not self.closed:
            self._store._publish(self._file_id, self.getvalue())
        super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            super().close()
        else:
            self.close()
