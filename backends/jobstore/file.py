"""The ``file:`` job store: a directory on a local or shared file system.

Layout under the store's directory (subdirectories are made when first needed)::

    moil-job-store.json        marker: tells a job store from any other directory
    lease                      flock()ed by the store's leader (backends.jobstore.filelease)
    shared/NAME                small named blobs (config, stats), replaced by rename
    records/journal            the job record journal (framing: backends.jobstore.journal)
    jobs/ID.in                 a job's input, written by the leader; flock()ed while it runs
    jobs/ID.out                a job's result: its worker rewrites ID.in and renames it
    locks/ID                   flock()ed instead while a job without an input file runs
    logs/ID.log                a job's log, written there directly by its worker
    files/UUID/BASENAME        a stored file; its ID is ``UUID/BASENAME``; its checksum is
                               an xattr of files/UUID or files/UUID.sum (.filemeta)

The job areas are flat: ``jobs/`` only holds the jobs in flight (the leader clears each
job's files once it has journaled the outcome), and ext4 indexes large directories, while
every extra directory costs a removal when the store is destroyed (~3 ms each on a file
system mounted with ``discard``). Job IDs and shared names that are not plain file names are
percent-encoded; one too long for a file name becomes ``~DIGEST``, with the ID kept in
``jobs/~DIGEST.id``.

Sharing, not copying: ``import_local`` hard-links the caller's file into the store (or
renames it with ``move=True``) and ``export_local`` hard-links it out again; bytes are
copied only when the file systems differ or linking is refused. A hard link shares the
inode, so **nobody may modify a stored file, an imported original, or an exported link in
place**: a consumer that needs a writable file copies it first (``FileStore.readGlobalFile``
with ``mutable=True``), and a producer writes a new file instead of rewriting an imported one.

Privacy: the store's directories are 0700 and the files it makes 0600 (0700 if executable),
whatever the umask. Files linked or moved in keep their mode (a hard link is the user's
input itself), behind the 0700 directories; a file the store made gets the mode a new file
would get under the umask when it is exported (it leaves the store).

Durability: every write is whole-or-absent after a SIGKILL (single ``os.write`` frames for
the journal, temp file + rename elsewhere). Surviving a power loss needs fsync, which costs
milliseconds per job; it is off unless ``MOIL_FSYNC=1`` is set in the environment.

Running jobs: a worker holds ``flock(LOCK_EX)`` on the job's input file ``jobs/ID.in``
while the job runs (it opens that file anyway, so the lock costs no file creation, which is
the slow part of a file system under load). A job without an input file locks
``locks/ID`` instead, which the worker creates and unlinks on the way out, after the
result is written. The kernel drops a lock when its process dies, so ``job_is_running`` is
True only while a live worker runs the job. On NFS, Linux maps flock to NFS byte-range
locks, so this also works across hosts. The leader must not rewrite the input of a job that
``job_is_running`` (a worker's lock stays with the old file).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from backends.errors import (
    JobStoreError,
    JobStoreExistsError,
    NoSuchFileError,
    NoSuchJobStoreError,
)
from backends.jobstore import filelease, filemeta, journal
from backends.jobstore.base import JobStore
from backends.jobstore.filefiles import StoredFiles
from backends.jobstore.lease import Lease, LeaseHolder
from backends.jobstore.localfs import (
    O_CLOEXEC,
    fsync_dir,
    ignore_missing,
    is_flocked,
    is_linked_as,
    link_or_copy,
    read_all,
    temp_name,
    unlink_missing_ok,
    write_all,
    write_atomic,
    write_new,
)

log = logging.getLogger(__name__)

MARKER = "moil-job-store.json"
#: 2: journal frames start with a magic (resynchronisable), files carry checksums, a lease.
FORMAT_VERSION = 2
_READABLE_FORMATS = (1, 2)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,179}")
_MAX_NAME = 180  # leaves room for suffixes within the 255-byte limit of a file name


def _encode(name: str) -> str:
    """A job ID or shared name as one safe file name: plain names as they are, others
    percent-encoded, and names too long for a file name hashed (``~`` + digest)."""
    if _PLAIN_NAME.fullmatch(name):
        return name
    if not name:
        raise ValueError("a job ID or shared name must not be empty")
    encoded = urllib.parse.quote(name, safe="")
    if encoded[0] in ".~":
        encoded = f"%{ord(encoded[0]):02X}{encoded[1:]}"
    if len(encoded) > _MAX_NAME:
        return "~" + hashlib.sha256(name.encode()).hexdigest()[:40]
    return encoded


def _decode(file_name: str) -> str:
    return urllib.parse.unquote(file_name) if "%" in file_name else file_name


def _fsync_default() -> bool:
    return os.environ.get("MOIL_FSYNC", "").strip().lower() in ("1", "true", "yes", "on")


class FileJobStore(StoredFiles, JobStore):
    """A job store in a directory (``file:PATH`` or a bare path). See the module docstring.

    The locator is rewritten as ``file:ABSOLUTE_PATH`` so that a worker started in another
    directory (a cluster node) finds the same store. Only the leader's object appends to the
    journal; it keeps the journal open between appends.
    """

    kind = "file"

    @classmethod
    def parse_location(cls, locator: str, rest: str) -> str:
        """``file:PATH`` or a bare path -> the absolute path (``~`` expanded)."""
        return os.path.abspath(os.path.expanduser(super().parse_location(locator, rest)))

    def __init__(self, locator: str, location: str) -> None:
        root = os.path.abspath(os.path.expanduser(location))
        super().__init__(f"file:{root}", root)
        self.root = root
        self.fsync = _fsync_default()
        self._journal_path = f"{root}/records/journal"
        self._journal_fd: int | None = None
        self._journal_end: int | None = None  # end of the last whole frame, once known
        self._logs_made = False  # logs/ exists (a worker asks for a log path per job)
        self._records = filemeta.Records(fsync=self.fsync)

    def __repr__(self) -> str:
        return f"FileJobStore({self.root!r})"

    def close(self) -> None:
        """Close the journal if this object has it open (reopened by the next append)."""
        self._forget_journal()

    def __del__(self) -> None:
        try:
            self._forget_journal()
        except (AttributeError, OSError):  # half-built object, or interpreter shutdown
            pass

    # -- paths ------------------------------------------------------------------------
    def _job_path(self, area: str, job_id: str, suffix: str) -> str:
        return f"{self.root}/{area}/{_encode(job_id)}{suffix}"

    def _make_parents(self, path: str) -> None:
        """Create the missing directories above ``path``, up to but not including the root
        (a destroyed store is not silently recreated)."""
        missing: list[str] = []
        parent = os.path.dirname(path)
        while True:
            if parent == self.root:
                raise NoSuchJobStoreError(f"the job store {self.locator} does not exist")
            try:
                os.mkdir(parent, 0o700)
                break
            except FileExistsError:
                break
            except FileNotFoundError:
                missing.append(parent)
                parent = os.path.dirname(parent)
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                pass

    def _write_atomic(self, path: str, data: bytes) -> None:
        try:
            write_atomic(path, data, fsync=self.fsync)
        except FileNotFoundError:
            self._make_parents(path)
            write_atomic(path, data, fsync=self.fsync)

    @staticmethod
    def _read_or_none(path: str) -> bytes | None:
        try:
            return read_all(path)
        except FileNotFoundError:
            return None

    # -- life cycle ---------------------------------------------------------------------
    def exists(self) -> bool:
        return os.path.isfile(f"{self.root}/{MARKER}")

    def create(self) -> None:
        """Create the store. The directory may exist if it is empty; a directory holding a
        job store or anything else raises JobStoreExistsError."""
        self._make_root()
        self._write_layout()

    def create_leased(self, owner: str) -> Lease:
        """Create the store with its lease taken before the marker makes it a store: no
        other leader can take it first."""
        self._make_root()
        lease = filelease.acquire(self.root, owner, lambda: True)
        try:
            self._write_layout()
        except BaseException:
            lease.release()
            raise
        return lease

    def _make_root(self) -> None:
        try:
            os.makedirs(self.root, 0o700)
        except FileExistsError:
            self._check_reusable_dir()
            os.chmod(self.root, 0o700)  # an empty directory the user gave: the store's now
        else:
            if stat.S_IMODE(os.stat(self.root).st_mode) != 0o700:
                os.chmod(self.root, 0o700)  # an umask that took the owner's bits

    def _write_layout(self) -> None:
        marker = json.dumps({"kind": "moil file job store", "format": FORMAT_VERSION})
        try:
            write_new(f"{self.root}/{MARKER}", marker.encode() + b"\n", exclusive=True)
        except FileExistsError:
            raise JobStoreExistsError(self._exists_message()) from None
        os.makedirs(f"{self.root}/records", 0o700, exist_ok=True)
        write_new(self._journal_path, b"", fsync=self.fsync)
        self._forget_journal()
        self._journal_end = 0
        if self.fsync:
            fsync_dir(self.root)
        log.debug("created job store %s", self.locator)

    def _exists_message(self) -> str:
        return (
            f"a job store already exists at {self.locator}; continue its run with --restart, "
            f"or delete it with 'toil clean {self.locator}'"
        )

    def _check_reusable_dir(self) -> None:
        if not os.path.isdir(self.root):
            raise JobStoreExistsError(
                f"cannot create a job store at {self.root}: it exists and is not a directory"
            )
        if self.exists():
            raise JobStoreExistsError(self._exists_message())
        # a lease file alone is what a creation cut short left
        if set(os.listdir(self.root)) - {filelease.LEASE_FILE}:
            raise JobStoreExistsError(
                f"cannot create a job store in {self.root}: the directory is not empty and "
                "holds no job store; give a new path or an empty directory"
            )

    def open(self) -> None:
        try:
            marker = json.loads(read_all(f"{self.root}/{MARKER}"))
        except FileNotFoundError:
            raise NoSuchJobStoreError(
                f"no job store at {self.locator}; check the path, or start a new run "
                "without --restart"
            ) from None
        except (ValueError, OSError) as exc:
            raise JobStoreError(f"the job store at {self.root} is unreadable: {exc}") from exc
        if marker.get("format") not in _READABLE_FORMATS:
            raise JobStoreError(
                f"the job store at {self.root} has format {marker.get('format')!r}; this moil "
                f"reads formats {', '.join(map(str, _READABLE_FORMATS))}"
            )
        self._forget_journal()

    def acquire_lease(self, owner: str) -> Lease:
        if not self.exists():
            raise NoSuchJobStoreError(f"no job store at {self.locator}")
        return filelease.acquire(self.root, owner, self.exists)

    def lease_holder(self) -> LeaseHolder | None:
        return filelease.holder_of(self.root)

    def destroy(self) -> None:
        """Delete the store. The directory is first renamed to a hidden sibling so that it
        disappears at once even if the deletion is interrupted. A directory that holds no
        job store is left alone (with a warning) rather than deleted, unless it holds only the
        lease file of a creation that was cut short (a full disk)."""
        self._forget_journal()
        self._logs_made = False
        if not os.path.isdir(self.root):
            return
        if not self.exists():
            left = set(os.listdir(self.root))
            if left <= {filelease.LEASE_FILE}:  # empty, or what a creation cut short left
                unlink_missing_ok(f"{self.root}/{filelease.LEASE_FILE}")
                os.rmdir(self.root)
            else:
                log.warning("not deleting %s: it holds no job store", self.root)
            return
        shutil.rmtree(self._move_aside(), onerror=ignore_missing)

    def destroy_soon(self) -> None:
        """Rename the store away at once and remove it in a detached ``rm -rf``: removing a
        directory per stored file costs ~3 ms each on a file system mounted with
        ``discard``, which a user should not wait for at the end of a run."""
        self._forget_journal()
        self._logs_made = False
        if not os.path.isdir(self.root) or not self.exists():
            self.destroy()
            return
        doomed = self._move_aside()
        subprocess.Popen(
            ["rm", "-rf", "--", doomed],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )

    def _move_aside(self) -> str:
        parent, name = os.path.split(self.root)
        doomed = f"{parent}/.{name}.deleting-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.root, doomed)
        except OSError:  # e.g. the root is a mount point: delete in place, marker first
            doomed = self.root
            unlink_missing_ok(f"{self.root}/{MARKER}")
        return doomed

    # -- shared blobs -------------------------------------------------------------------
    def _shared_path(self, name: str) -> str:
        return f"{self.root}/shared/{_encode(name)}"

    def write_shared(self, name: str, data: bytes) -> None:
        self._write_atomic(self._shared_path(name), data)

    def read_shared(self, name: str) -> bytes:
        try:
            return read_all(self._shared_path(name))
        except FileNotFoundError:
            raise NoSuchFileError(f"no shared file {name!r} in {self.locator}") from None

    def shared_exists(self, name: str) -> bool:
        return os.path.exists(self._shared_path(name))

    def delete_shared(self, name: str) -> None:
        unlink_missing_ok(self._shared_path(name))

    # -- journal ----------------------------------------------------------------------------
    def _forget_journal(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
        self._journal_fd = None
        self._journal_end = None

    def _journal_for_append(self) -> int:
        """The journal opened for appending, cut back first to its last whole frame (a
        torn tail left by a crash would otherwise hide everything appended after it)."""
        if self._journal_fd is not None:
            return self._journal_fd
        try:
            fd = os.open(self._journal_path, os.O_RDWR | os.O_APPEND | O_CLOEXEC)
        except FileNotFoundError:
            if not self.exists():
                raise NoSuchJobStoreError(f"no job store at {self.locator}") from None
            self._make_parents(self._journal_path)
            fd = os.open(self._journal_path, os.O_RDWR | os.O_APPEND | os.O_CREAT | O_CLOEXEC)
        try:
            end = self._journal_end
            if end is None:
                with open(self._journal_path, "rb") as stream:
                    end = journal.valid_end(stream)
            size = os.fstat(fd).st_size
            if size > end:
                log.warning(
                    "dropping %d torn bytes at the end of %s", size - end, self._journal_path
                )
                os.ftruncate(fd, end)
        except BaseException:
            os.close(fd)
            raise
        self._journal_fd = fd
        return fd

    def append_records(self, records: Sequence[bytes]) -> None:
        if not records:
            return
        frame = journal.encode_batch(records)
        fd = self._journal_for_append()
        write_all(fd, frame)  # one write(2) per batch: a SIGKILL leaves it whole or absent
        if self.fsync:
            os.fsync(fd)

    def read_records(self) -> Iterator[bytes]:
        try:
            stream = open(self._journal_path, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            if not self.exists():
                raise NoSuchJobStoreError(f"no job store at {self.locator}") from None
            return
        with stream:
            end = 0
            for end, records in journal.scan(stream, self._report_damage):
                yield from records
            if self._journal_fd is None:
                self._journal_end = end  # saves the first append a second scan

    def _report_damage(self, offset: int, length: int) -> None:
        log.warning(
            "the journal %s is damaged at byte %d: %d bytes hold no whole record batch and "
            "are skipped (the batches after them are kept); the jobs recorded there run again",
            self._journal_path,
            offset,
            length,
        )

    def replace_records(self, records: Sequence[bytes]) -> None:
        frames = journal.encode_many(records)
        self._write_atomic(self._journal_path, frames)
        self._forget_journal()
        self._journal_end = len(frames)

    # -- job hand-off -----------------------------------------------------------------------
    def write_job_input(self, job_id: str, data: bytes) -> None:
        self._write_atomic(self._job_path("jobs", job_id, ".in"), data)

    def read_job_input(self, job_id: str) -> bytes:
        try:
            return read_all(self._job_path("jobs", job_id, ".in"))
        except FileNotFoundError:
            raise NoSuchFileError(f"no input for job {job_id!r} in {self.locator}") from None

    def write_job_result(self, job_id: str, data: bytes) -> None:
        """The result goes into the job's input file, which is then renamed ``ID.out``: the
        input has been read, and a file created costs far more than one rewritten on some
        file systems (~1 ms each under this project's test machine's /tmp). Safe because
        the caller holds the running lock on that file, so no leader replaces it meanwhile;
        a worker killed half way leaves a spoilt ``ID.in`` and no ``ID.out``, which is a job
        that did not finish (the leader writes a new input for every attempt). A job
        without an input file gets a new result file (temp file + rename)."""
        path = self._job_path("jobs", job_id, ".out")
        if os.path.basename(path).startswith("~"):  # a hashed name: keep the ID beside it
            self._write_atomic(path[:-4] + ".id", job_id.encode())
        source = path[:-4] + ".in"
        try:
            fd = os.open(source, os.O_WRONLY | os.O_TRUNC | O_CLOEXEC)
        except FileNotFoundError:
            self._write_atomic(path, data)
            return
        try:
            write_all(fd, data)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(source, path)
        if self.fsync:
            fsync_dir(os.path.dirname(path))

    def read_job_result(self, job_id: str) -> bytes | None:
        return self._read_or_none(self._job_path("jobs", job_id, ".out"))

    def clear_job_io(self, job_id: str) -> None:
        stem = self._job_path("jobs", job_id, "")
        unlink_missing_ok(stem + ".in")
        unlink_missing_ok(stem + ".out")
        if os.path.basename(stem).startswith("~"):
            unlink_missing_ok(stem + ".id")

    def list_job_results(self) -> list[str]:
        found: list[str] = []
        area = f"{self.root}/jobs"
        try:
            with os.scandir(area) as entries:
                names = [e.name[:-4] for e in entries if e.name.endswith(".out")]
        except FileNotFoundError:
            return found
        for name in names:
            if name.startswith("~"):
                found.append(read_all(f"{area}/{name}.id").decode())
            else:
                found.append(_decode(name))
        return sorted(found)

    def job_running_lock(self, job_id: str) -> AbstractContextManager[object]:
        """flock(LOCK_EX) on the job's input file while the job runs: the worker reads that
        file anyway, so the lock costs no file creation. A job without an input file locks
        ``locks/ID`` instead, created for it and unlinked on the way out. A second worker
        of the same job waits here until the first one lets go."""
        return self._running_lock(
            self._job_path("jobs", job_id, ".in"), self._job_path("locks", job_id, "")
        )

    @contextmanager
    def _running_lock(self, input_path: str, lock_path: str) -> Iterator[str]:
        try:
            held, fd = input_path, self._flock_live(input_path, create=False)
        except FileNotFoundError:
            held, fd = lock_path, self._flock_live(lock_path, create=True)
        try:
            yield held
        finally:
            if held == lock_path:
                unlink_missing_ok(lock_path)  # before the lock goes: a probe finds no file
            os.close(fd)

    def _flock_live(self, path: str, *, create: bool) -> int:
        """Open and flock ``path``, retrying if the file was unlinked or replaced while we
        waited: a lock on an orphan inode is one that no probe can see. FileNotFoundError if
        ``path`` is (or becomes) missing and not ``create``."""
        flags = os.O_RDWR | O_CLOEXEC | (os.O_CREAT if create else 0)  # NFS: LOCK_EX needs RW
        while True:
            try:
                fd = os.open(path, flags, 0o600)
            except FileNotFoundError:
                if not create:
                    raise
                self._make_parents(path)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if is_linked_as(fd, path):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def job_is_running(self, job_id: str) -> bool:
        return is_flocked(self._job_path("jobs", job_id, ".in")) or is_flocked(
            self._job_path("locks", job_id, "")
        )

    # -- logs -----------------------------------------------------------------------------
    def job_log_target(self, job_id: str) -> str:
        """The log's final place: the worker writes it there directly, so a user can follow
        it while the job runs, and ``save_job_log`` has nothing to move."""
        path = self._job_path("logs", job_id, ".log")
        if not self._logs_made:  # a failed mkdir per job is not free on a slow file system
            self._make_parents(path)
            self._logs_made = True
        return path

    def save_job_log(self, job_id: str, local_path: str) -> None:
        target = self._job_path("logs", job_id, ".log")
        if os.path.abspath(local_path) == target:
            return
        temp = temp_name(target)
        try:
            link_or_copy(local_path, temp, fsync=self.fsync, private=True)
        except FileNotFoundError:
            if not os.path.exists(local_path):
                raise
            self._make_parents(target)
            link_or_copy(local_path, temp, fsync=self.fsync, private=True)
        os.replace(temp, target)

    def read_job_log(self, job_id: str) -> bytes | None:
        return self._read_or_none(self._job_path("logs", job_id, ".log"))

    def job_log_location(self, job_id: str) -> str:
        return self._job_path("logs", job_id, ".log")
