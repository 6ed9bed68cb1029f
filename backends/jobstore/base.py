"""The job store contract.

A job store holds everything a run needs to be resumed: the workflow config, the journal of
job records, the hand-off of each job (its input, its result, its log), files, and stats.

Who writes what (this keeps a ``file:`` store on a shared filesystem safe without
cross-host locks):

- Only the leader appends job records and writes job inputs.
- A worker writes only its own job's result (atomically: a reader sees all of it or none),
  its own log, and files it creates.

A store may be remote (S3), and a worker may run on another host than the leader: nothing
in this contract assumes one process or one filesystem, except ``local_path``, which a
store answers with ``None`` when it has no local file to offer.

One leader at a time: a leader takes the store's lease (``create_leased`` for a new store,
``acquire_lease`` before anything else on restart) and holds it for the whole run; see
``backends.jobstore.lease`` for what a lease is on each kind of store.

Integrity: every stored file carries the sha1 of its bytes, recorded when it entered the
store; the read methods (``export_local``, ``local_path``, ``open_read``) raise
StoredFileDamagedError for a file that no longer matches it, checking cheaply (a store may
trust a file whose size and modification time are those it had when it was hashed).
Nothing but the store itself may write to the stored bytes; a stored file changed in place
on purpose (CWL's InplaceUpdateRequirement) must be declared with ``file_updated``.

Privacy: a store's own directories, blobs, records, results and logs are readable by its
owner only (0700 directories, 0600 files on ``file:``), whatever the umask.
"""

from __future__ import annotations

import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import IO, ClassVar, Self

from backends.errors import InvalidLocatorError
from backends.jobstore.lease import Lease, LeaseHolder

__all__ = [  # Lease and LeaseHolder are part of this contract
    "DEFAULT_KIND",
    "FileID",
    "JobStore",
    "Lease",
    "LeaseHolder",
    "new_file_id",
    "open_job_store",
    "parse_locator",
    "store_class",
]


class FileID(str):
    """The ID of a file in a job store; a ``str`` that also knows the file's size.

    Like Toil's FileID it can be used anywhere a string is expected, and it pickles.
    """

    size: int
    executable: bool

    def __new__(cls, value: str, size: int = 0, executable: bool = False) -> Self:
        self = super().__new__(cls, value)
        self.size = size
        self.executable = executable
        return self

    def __reduce__(self) -> tuple[type[FileID], tuple[str, int, bool]]:
        return (FileID, (str(self), self.size, self.executable))

    def __repr__(self) -> str:
        return f"FileID({str(self)!r}, size={self.size})"

    @property
    def basename(self) -> str:
        """The file's name as it was given when it entered the store."""
        return self.rsplit("/", 1)[-1]


def new_file_id(basename: str) -> str:
    """A fresh, globally unique file ID ending in ``basename``."""
    safe = os.path.basename(basename) or "file"
    return f"{uuid.uuid4().hex}/{safe}"


class JobStore(ABC):
    """A place for one run's state. Constructors do no I/O; call ``create`` or ``open``."""

    #: The kind prefix of this store's locators (``file``, ``aws``, ``memory``).
    kind: ClassVar[str] = ""
    #: Seconds between the leader's looks at a shared flag (``toil kill``'s): a look costs
    #: a stat on a file system, a request on an object store.
    flag_poll_seconds: ClassVar[float] = 0.5
    #: Finished jobs whose hand-offs the leader clears together (``clear_jobs_io``): 1 where
    #: clearing one costs no request (it is then done at once, as the outcome is recorded).
    clear_together: ClassVar[int] = 1
    #: The store lives in this process's memory (``memory:``): only a batch system that
    #: runs jobs in this process (``Capabilities.isolated`` False: ``inline``) can use it.
    process_local: ClassVar[bool] = False

    def __init__(self, locator: str, location: str) -> None:
        self.locator = locator
        self.location = location

    # -- the kind's locator syntax -----------------------------------------------------
    @classmethod
    def parse_location(cls, locator: str, rest: str) -> str:
        """The location ``locator`` names, from ``rest`` (what follows ``KIND:``; the whole
        locator for a bare path). A kind with a syntax of its own (``aws:REGION:NAME``)
        overrides this; this one takes any non-empty rest. Raises InvalidLocatorError,
        naming the form the kind expects. No I/O."""
        if not rest:
            raise InvalidLocatorError(
                f"job store locator {locator!r} names no location; use {cls.kind}:LOCATION"
            )
        return rest

    @classmethod
    def render_locator(cls, location: str) -> str:
        """The locator of the store at ``location``, as every process of the run opens it
        (``parse_location`` of it gives ``location`` back)."""
        return f"{cls.kind}:{location}"

    # -- life cycle -----------------------------------------------------------------
    @abstractmethod
    def exists(self) -> bool:
        """Whether a store has been created at this location."""

    @abstractmethod
    def create(self) -> None:
        """Create an empty store. Raises JobStoreExistsError if one is there already."""

    @abstractmethod
    def open(self) -> None:
        """Open an existing store. Raises NoSuchJobStoreError if there is none."""

    @abstractmethod
    def destroy(self) -> None:
        """Delete the store and everything in it. Destroying a missing store is not an error."""

    # -- the lease: one leader at a time -----------------------------------------------------
    @abstractmethod
    def acquire_lease(self, owner: str) -> Lease:
        """Take the store's exclusive lease for this process (``owner`` says what for, e.g.
        ``toil-cwl-runner``, and shows in ``lease_holder``). Returns at once: raises
        JobStoreLeasedError naming the holder if another live process has it, and
        NoSuchJobStoreError if there is no store. A lease whose holder died is free (at
        once for an OS lock, after its expiry for a lease object)."""

    @abstractmethod
    def lease_holder(self) -> LeaseHolder | None:
        """Who holds the lease now, or None. Read-only: never blocks or disturbs a holder."""

    def create_leased(self, owner: str) -> Lease:
        """``create`` the store and take its lease, so that no other leader can take the
        new store first. A store that can take the lease before the store is visible to
        others overrides this; the default leaves a gap of a few system calls."""
        self.create()
        return self.acquire_lease(owner)

    def destroy_soon(self) -> None:
        """Like ``destroy``, but the bytes may be freed in the background: the store is gone
        from its locator when this returns. For the end of a run, where the user waits."""
        self.destroy()

    # -- small named blobs: config, flags, stats --------------------------------------
    @abstractmethod
    def write_shared(self, name: str, data: bytes) -> None:
        """Write a named blob atomically (readers see the old or the new value)."""

    @abstractmethod
    def read_shared(self, name: str) -> bytes:
        """Read a named blob. Raises NoSuchFileError if it is missing."""

    @abstractmethod
    def shared_exists(self, name: str) -> bool:
        """Whether a named blob exists."""

    @abstractmethod
    def delete_shared(self, name: str) -> None:
        """Delete a named blob; deleting a missing one is not an error."""

    # -- job record journal (leader only) -------------------------------------------------
    @abstractmethod
    def append_records(self, records: Sequence[bytes]) -> None:
        """Append records to the journal. Once this returns they survive the leader's death
        (a SIGKILL included); a batch cut short by a crash is either whole or absent."""

    @abstractmethod
    def read_records(self) -> Iterator[bytes]:
        """Every record appended so far, oldest first, without a torn tail."""

    @abstractmethod
    def replace_records(self, records: Sequence[bytes]) -> None:
        """Replace the whole journal with ``records`` atomically (compaction)."""

    # -- the hand-off of one job ------------------------------------------------------------
    @abstractmethod
    def write_job_input(self, job_id: str, data: bytes) -> None:
        """Leader: store what a worker needs to run ``job_id``."""

    @abstractmethod
    def read_job_input(self, job_id: str) -> bytes:
        """Worker: read the input of ``job_id``. Raises NoSuchFileError if absent."""

    @abstractmethod
    def write_job_result(self, job_id: str, data: bytes) -> None:
        """Worker: store the result of ``job_id`` atomically (all of it or nothing), while
        holding ``job_running_lock``. The job's input may be gone afterwards (a store may
        turn the input's file into the result's)."""

    @abstractmethod
    def read_job_result(self, job_id: str) -> bytes | None:
        """Leader: the result of ``job_id``, or None if the worker has not written one."""

    @abstractmethod
    def clear_job_io(self, job_id: str) -> None:
        """Leader: drop the input and result of a job once its record holds the outcome."""

    def clear_jobs_io(self, job_ids: Sequence[str]) -> None:
        """Leader: ``clear_job_io`` of several jobs (a store may do it in one request)."""
        for job_id in job_ids:
            self.clear_job_io(job_id)

    def finish_job(self, job_id: str, result: bytes, log_path: str) -> None:
        """Worker, holding ``job_running_lock``: ``save_job_log`` and then
        ``write_job_result`` (a store may keep both in one write)."""
        self.save_job_log(job_id, log_path)
        self.write_job_result(job_id, result)

    @abstractmethod
    def list_job_results(self) -> list[str]:
        """The IDs of jobs with a result that the leader has not cleared (used on restart)."""

    def job_running_lock(self, job_id: str) -> AbstractContextManager[object]:
        """Worker: held while ``job_id`` runs. A store that can tell whether a worker on
        another process still runs a job (file: flock) overrides this and ``job_is_running``."""
        return nullcontext()

    def job_is_running(self, job_id: str) -> bool:
        """Whether some worker holds the running lock of ``job_id`` now."""
        return False

    # -- logs ----------------------------------------------------------------------------
    @abstractmethod
    def job_log_target(self, job_id: str) -> str:
        """A local path a worker writes the job's log to; ``save_job_log`` publishes it."""

    @abstractmethod
    def save_job_log(self, job_id: str, local_path: str) -> None:
        """Worker: keep the log written at ``local_path`` as the log of ``job_id``."""

    @abstractmethod
    def read_job_log(self, job_id: str) -> bytes | None:
        """The log of ``job_id``, or None."""

    @abstractmethod
    def job_log_location(self, job_id: str) -> str:
        """Where a user finds the full log of ``job_id`` (a path or URL), for messages."""

    # -- files -------------------------------------------------------------------------------
    @abstractmethod
    def import_local(
        self,
        path: str,
        *,
        move: bool = False,
        basename: str | None = None,
        digest: str | None = None,
        keep_source: bool = True,
    ) -> FileID:
        """Put a local file into the store. On one filesystem this is a hard link (or a
        rename if ``move``), never a copy of the bytes unless linking is impossible.
        ``digest``: the file's ``sha1$HEX`` if the caller has just computed it (CWL's
        ``checksum``), so that the store does not read the bytes again to hash them.
        ``keep_source``: a file not moved is remembered as where the bytes came from, to
        put them back from there if the stored file is damaged; False for a job's scratch
        file, which is gone once the job ends."""

    @abstractmethod
    def export_local(self, file_id: str, dest: str, *, symlink: bool = False) -> None:
        """Make the file available at ``dest``: a hard link when possible (a symlink if
        asked and allowed), a copy otherwise. ``dest`` must not exist. Raises
        NoSuchFileError, StoredFileDamagedError."""

    @abstractmethod
    def local_path(self, file_id: str) -> str | None:
        """A local path of the stored file that must not be modified, or None. Raises
        NoSuchFileError, StoredFileDamagedError."""

    @abstractmethod
    def open_read(self, file_id: str) -> IO[bytes]:
        """A binary stream of the file. Raises NoSuchFileError, StoredFileDamagedError."""

    @abstractmethod
    def write_stream(self, basename: str) -> tuple[FileID, IO[bytes]]:
        """A new file ID and a stream to write it; the file exists once the stream closes."""

    @abstractmethod
    def file_digest(self, file_id: str) -> str | None:
        """The ``sha1$HEX`` recorded when the file entered the store (CWL's ``checksum``
        form), or None for a file stored without one (by an older moil). Raises
        NoSuchFileError."""

    def file_updated(self, file_id: str) -> None:
        """The file's bytes were changed in place on purpose (through ``local_path``):
        record its new checksum. Only stores that hand out local paths need it."""

    @abstractmethod
    def file_exists(self, file_id: str) -> bool:
        """Whether the file is in the store."""

    @abstractmethod
    def file_size(self, file_id: str) -> int:
        """The file's size in bytes. Raises NoSuchFileError."""

    @abstractmethod
    def delete_file(self, file_id: str) -> None:
        """Delete a file; deleting a missing file is not an error."""

    def list_files(self) -> Iterator[str]:
        """The ID of every file in the store, in no set order (``toil debug-file``); a file
        being written is not listed. A store that cannot list raises NotImplementedError."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its files")


#: The kind of a locator that names none: a bare path is a ``file:`` store (Toil's rule).
DEFAULT_KIND = "file"


def _split(locator: str) -> tuple[str, str]:
    """``KIND:REST`` -> (KIND, REST); a bare path -> (DEFAULT_KIND, path). Only the shape
    is read here: a kind is a word of two or more letters or digits before the first colon
    (``./odd:name`` and ``C:x`` are paths); what follows is the kind's to read."""
    if not locator:
        raise InvalidLocatorError("empty job store locator; give a path or file:PATH")
    kind, sep, rest = locator.partition(":")
    if sep and len(kind) > 1 and kind.isalnum():
        return kind, rest
    return DEFAULT_KIND, locator


def store_class(locator: str) -> tuple[type[JobStore], str]:
    """The class of the kind a locator names, and its location as that kind reads it.
    Raises InvalidLocatorError (an unknown kind lists the known ones)."""
    from backends.errors import InvalidBackendError, UnknownBackendError
    from backends.registry import JOB_STORE_GROUP, known_names, load_job_store

    kind, rest = _split(locator)
    try:
        cls = load_job_store(kind)
    except UnknownBackendError:
        raise InvalidLocatorError(
            f"unknown job store kind {kind!r} in {locator!r}; known: "
            f"{', '.join(known_names(JOB_STORE_GROUP))} (KIND:LOCATION), or a plain path"
        ) from None
    except InvalidBackendError as exc:
        raise InvalidLocatorError(f"job store {locator!r}: {exc}") from None
    return cls, cls.parse_location(locator, rest)


def parse_locator(locator: str) -> tuple[str, str]:
    """Split a locator into (kind, location): ``KIND:LOCATION`` where a registered kind
    reads its own LOCATION (``file:PATH``, ``memory:NAME``, a plug-in's ``aws:REGION:NAME``),
    or a bare path (``file``). Raises InvalidLocatorError."""
    cls, location = store_class(locator)
    return cls.kind, location


def open_job_store(locator: str) -> JobStore:
    """The JobStore object for a locator (no I/O yet); its ``locator`` is the kind's
    rendering of it (``file:`` made absolute). Raises InvalidLocatorError."""
    cls, location = store_class(locator)
    return cls(cls.render_locator(location), location)
