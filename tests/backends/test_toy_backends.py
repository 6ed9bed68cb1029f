"""Toy backends defined only here, registered through the public registry, pass the shared
contract suites with no edit to moil's code: what a third party's plug-in does.

- ``ToyThreadBatchSystem`` (``toy_threads``): each job's ``argv`` runs as a command in a
  session of its own, waited on by a thread of its own, within the cores/memory/disk limits;
- ``ToyDictJobStore`` (``toydict:NAME``): a store in a dict of this module, with a lock.

Both are registered (``backends.registry.register``) for this module's tests only and
unregistered after, so the suites over every registered backend elsewhere do not see them.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar

import pytest

from backends.batch.base import (
    BatchConfig,
    BatchJob,
    BatchSystem,
    Capabilities,
    ExitReason,
    UpdatedJob,
)
from backends.errors import (
    InsufficientResourcesError,
    JobStoreExistsError,
    JobStoreLeasedError,
    NoSuchFileError,
    NoSuchJobStoreError,
    StoredFileDamagedError,
)
from backends.jobstore.base import FileID, JobStore, Lease, LeaseHolder, new_file_id
from backends.registry import BATCH_SYSTEM_GROUP, JOB_STORE_GROUP, register, unregister
from backends.testing.batch import BatchSystemContract, BatchTarget, target_for
from backends.testing.jobstore import JobStoreContract, JobStoreTarget

GiB = 1024**3


# -- a toy batch system ------------------------------------------------------------------------
class ToyThreadBatchSystem(BatchSystem):
    """Runs ``argv`` commands, one thread waiting on each, as many as the limits allow."""

    name: ClassVar[str] = "toy_threads"
    capabilities: ClassVar[Capabilities] = Capabilities(in_process=True)

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self._lock = threading.Lock()
        self._next = 1
        self._issued: dict[int, None] = {}
        self._queued: dict[int, BatchJob] = {}
        self._running: dict[int, tuple[subprocess.Popen[bytes], float, threading.Thread]] = {}
        self._killed: set[int] = set()
        self._used = [0, 0, 0]  # millicores, bytes, bytes
        self._updates: queue.Queue[UpdatedJob] = queue.Queue()
        self._closed = False

    def _limits(self) -> list[float]:
        c = self.config
        return [c.max_cores * 1000, c.max_memory, c.max_disk]

    @staticmethod
    def _need(job: BatchJob) -> list[int]:
        r = job.resources
        return [round(r.cores * 1000), r.memory, r.disk]

    def issue_job(self, job: BatchJob) -> int:
        for what, need, limit in zip(("cores", "memory", "disk"), self._need(job), self._limits()):
            if need > limit:
                shown = [
                    f"{v / 1000:g} cores" if what == "cores" else f"{v / GiB:.1f} GiB"
                    for v in (need, limit)
                ]
                raise InsufficientResourcesError(
                    f"{job.name} needs {shown[0]} of {what}; at most {shown[1]} here"
                )
        with self._lock:
            batch_id = self._next
            self._next += 1
            self._issued[batch_id] = None
            self._queued[batch_id] = job
            self._schedule()
        return batch_id

    def _schedule(self) -> None:  # holding the lock
        for batch_id, job in list(self._queued.items()):
            need = self._need(job)
            if self._closed or any(u + n > m for u, n, m in zip(self._used, need, self._limits())):
                continue
            del self._queued[batch_id]
            self._used = [u + n for u, n in zip(self._used, need)]
            env = {**os.environ, **self.config.environment, **job.environment}
            proc = subprocess.Popen(
                job.argv,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            thread = threading.Thread(target=self._wait, args=(batch_id, job, proc))
            self._running[batch_id] = (proc, time.monotonic(), thread)
            thread.start()

    def _wait(self, batch_id: int, job: BatchJob, proc: subprocess.Popen[bytes]) -> None:
        _, stderr = proc.communicate()
        code = proc.returncode
        with self._lock:
            _, started, _ = self._running.pop(batch_id)
            self._used = [u - n for u, n in zip(self._used, self._need(job))]
            if batch_id in self._killed or code < 0:
                reason = ExitReason.KILLED
            else:
                reason = ExitReason.FINISHED if code == 0 else ExitReason.FAILED
            if not self._closed:
                self._updates.put(
                    UpdatedJob(
                        batch_id,
                        job.job_id,
                        code,
                        reason,
                        time.monotonic() - started,
                        stderr.decode(errors="replace")[-2000:],
                    )
                )
                self._schedule()

    def kill_jobs(self, batch_ids: list[int]) -> None:
        threads = []
        with self._lock:
            for batch_id in batch_ids:
                job = self._queued.pop(batch_id, None)
                if job is not None:
                    self._updates.put(UpdatedJob(batch_id, job.job_id, -9, ExitReason.KILLED))
                elif batch_id in self._running:
                    proc, _, thread = self._running[batch_id]
                    self._killed.add(batch_id)
                    _killpg(proc)
                    threads.append(thread)
        for thread in threads:
            thread.join()

    def issued_ids(self) -> list[int]:
        with self._lock:
            return list(self._issued)

    def running_jobs(self) -> dict[int, float]:
        with self._lock:
            now = time.monotonic()
            return {b: now - started for b, (_, started, _) in self._running.items()}

    def get_updated_job(self, timeout: float) -> UpdatedJob | None:
        try:
            update = self._updates.get(timeout=timeout)
        except queue.Empty:
            return None
        with self._lock:
            self._issued.pop(update.batch_id, None)
        return update

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            self._queued.clear()
            running = list(self._running.values())
            for proc, _, _ in running:
                _killpg(proc)
        for _, _, thread in running:
            thread.join()
        with self._lock:
            self._issued.clear()
        while not self._updates.empty():
            self._updates.get_nowait()


def _killpg(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- a toy job store ---------------------------------------------------------------------------
def _sha1(data: bytes) -> str:
    return f"sha1${hashlib.sha1(data).hexdigest()}"


@dataclass
class _Stored:
    data: bytes
    executable: bool
    digest: str


@dataclass
class _Place:
    lock: threading.RLock = field(default_factory=threading.RLock)
    shared: dict[str, bytes] = field(default_factory=dict)
    records: list[bytes] = field(default_factory=list)
    inputs: dict[str, bytes] = field(default_factory=dict)
    results: dict[str, bytes] = field(default_factory=dict)
    logs: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, _Stored] = field(default_factory=dict)
    holder: LeaseHolder | None = None
    scratch: str = ""


#: every toy store of this process, by name
PLACES: dict[str, _Place] = {}


class _ToyLease(Lease):
    def __init__(self, place: _Place, holder: LeaseHolder) -> None:
        super().__init__(holder)
        self._place = place

    def renew(self) -> None:
        """Nothing to renew: it lasts until released."""

    def release(self) -> None:
        with self._place.lock:
            if self._place.holder is self.holder:
                self._place.holder = None


class _Writer(io.BytesIO):
    def __init__(self, publish: Callable[[bytes], None]) -> None:
        super().__init__()
        self._publish: Callable[[bytes], None] | None = publish

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self._publish = None
        self.close()

    def close(self) -> None:
        if self._publish is not None and not self.closed:
            self._publish(self.getvalue())
            self._publish = None
        super().close()


class ToyDictJobStore(JobStore):
    """Everything in ``PLACES[name]``; files copied in and out, checked against their sha1."""

    kind: ClassVar[str] = "toydict"

    @property
    def _place(self) -> _Place:
        place = PLACES.get(self.location)
        if place is None:
            raise NoSuchJobStoreError(f"no toy store {self.locator}")
        return place

    def exists(self) -> bool:
        return self.location in PLACES

    def create(self) -> None:
        if self.location in PLACES:
            raise JobStoreExistsError(f"the toy store {self.locator} already exists")
        PLACES[self.location] = _Place(scratch=tempfile.mkdtemp(prefix="toydict-"))

    def open(self) -> None:
        self._place  # noqa: B018 (raises NoSuchJobStoreError for a missing store)

    def destroy(self) -> None:
        place = PLACES.pop(self.location, None)
        if place is not None:
            shutil.rmtree(place.scratch, ignore_errors=True)

    def acquire_lease(self, owner: str) -> Lease:
        place = self._place
        with place.lock:
            if place.holder is not None:
                raise JobStoreLeasedError(
                    f"the job store {self.locator} is in use by a running leader "
                    f"({place.holder.describe()})",
                    place.holder,
                )
            place.holder = LeaseHolder(owner, socket.gethostname(), os.getpid(), time.time())
            return _ToyLease(place, place.holder)

    def lease_holder(self) -> LeaseHolder | None:
        return self._place.holder

    def write_shared(self, name: str, data: bytes) -> None:
        self._place.shared[name] = bytes(data)

    def read_shared(self, name: str) -> bytes:
        try:
            return self._place.shared[name]
        except KeyError:
            raise NoSuchFileError(f"no shared blob {name!r} in {self.locator}") from None

    def shared_exists(self, name: str) -> bool:
        return name in self._place.shared

    def delete_shared(self, name: str) -> None:
        self._place.shared.pop(name, None)

    def append_records(self, records: Sequence[bytes]) -> None:
        with self._place.lock:
            self._place.records.extend(bytes(r) for r in records)

    def read_records(self) -> Iterator[bytes]:
        with self._place.lock:
            return iter(list(self._place.records))

    def replace_records(self, records: Sequence[bytes]) -> None:
        with self._place.lock:
            self._place.records = [bytes(r) for r in records]

    def write_job_input(self, job_id: str, data: bytes) -> None:
        self._place.inputs[job_id] = bytes(data)

    def read_job_input(self, job_id: str) -> bytes:
        try:
            return self._place.inputs[job_id]
        except KeyError:
            raise NoSuchFileError(f"no input of job {job_id!r}") from None

    def write_job_result(self, job_id: str, data: bytes) -> None:
        self._place.results[job_id] = bytes(data)

    def read_job_result(self, job_id: str) -> bytes | None:
        return self._place.results.get(job_id)

    def clear_job_io(self, job_id: str) -> None:
        self._place.inputs.pop(job_id, None)
        self._place.results.pop(job_id, None)

    def list_job_results(self) -> list[str]:
        return sorted(self._place.results)

    def job_log_target(self, job_id: str) -> str:
        name = hashlib.sha1(job_id.encode()).hexdigest()
        return os.path.join(self._place.scratch, f"{name}.log")

    def save_job_log(self, job_id: str, local_path: str) -> None:
        self._place.logs[job_id] = Path(local_path).read_bytes()

    def read_job_log(self, job_id: str) -> bytes | None:
        return self._place.logs.get(job_id)

    def job_log_location(self, job_id: str) -> str:
        return f"{self.locator} (log of {job_id})"

    def import_local(
        self,
        path: str,
        *,
        move: bool = False,
        basename: str | None = None,
        digest: str | None = None,
        keep_source: bool = True,
    ) -> FileID:
        data = Path(path).read_bytes()
        executable = os.access(path, os.X_OK)
        file_id = FileID(new_file_id(basename or os.path.basename(path)), len(data), executable)
        self._place.files[file_id] = _Stored(data, executable, digest or _sha1(data))
        if move:
            os.unlink(path)
        return file_id

    def _checked(self, file_id: str) -> _Stored:
        stored = self._place.files.get(file_id)
        if stored is None:
            raise NoSuchFileError(f"no file {file_id!r} in {self.locator}")
        if _sha1(stored.data) != stored.digest:
            raise StoredFileDamagedError(f"the stored file {file_id} is damaged", file_id)
        return stored

    def export_local(self, file_id: str, dest: str, *, symlink: bool = False) -> None:
        stored = self._checked(file_id)
        with open(dest, "xb") as out:
            out.write(stored.data)
        if stored.executable:
            os.chmod(dest, os.stat(dest).st_mode | 0o111)

    def local_path(self, file_id: str) -> str | None:
        self._checked(file_id)
        return None

    def open_read(self, file_id: str) -> IO[bytes]:
        return io.BytesIO(self._checked(file_id).data)

    def write_stream(self, basename: str) -> tuple[FileID, IO[bytes]]:
        file_id = FileID(new_file_id(basename))

        def publish(data: bytes) -> None:
            file_id.size = len(data)
            self._place.files[file_id] = _Stored(data, False, _sha1(data))

        return file_id, _Writer(publish)

    def file_digest(self, file_id: str) -> str | None:
        stored = self._place.files.get(file_id)
        if stored is None:
            raise NoSuchFileError(f"no file {file_id!r} in {self.locator}")
        return stored.digest

    def file_exists(self, file_id: str) -> bool:
        return file_id in self._place.files

    def file_size(self, file_id: str) -> int:
        return len(self._checked(file_id).data)

    def delete_file(self, file_id: str) -> None:
        self._place.files.pop(file_id, None)


def damage_toy(store: JobStore, file_id: str, data: bytes) -> None:
    """Replace a toy store's stored bytes behind its back (the suite's ``damage`` hook)."""
    PLACES[store.location].files[file_id].data = data


# -- registered through the public registry, for this module only -----------------------------
@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    register(BATCH_SYSTEM_GROUP, "toy_threads", ToyThreadBatchSystem)
    register(JOB_STORE_GROUP, "toydict", ToyDictJobStore)
    try:
        yield
    finally:
        unregister(BATCH_SYSTEM_GROUP, "toy_threads")
        unregister(JOB_STORE_GROUP, "toydict")


class TestToyBatchSystem(BatchSystemContract):
    @pytest.fixture
    def batch_target(self, tmp_path: Path) -> Iterator[BatchTarget]:
        from backends.registry import load_batch_system

        with target_for(load_batch_system("toy_threads"), tmp_path) as target:
            yield target


class TestToyJobStore(JobStoreContract):
    @pytest.fixture
    def job_store_target(self, tmp_path: Path) -> JobStoreTarget:
        return JobStoreTarget(f"toydict:{tmp_path.name}", damage_toy)
