"""Exceptions raised by backends, under ``MoilError``, the root of every exception moil
raises (defined here, the lowest layer, so that backends need not import the runner; the
runner's and the front ends' own are in ``runner.errors``).

Tree::

    MoilError                         exit_code (1 unless said), retryable (True unless said)
     +-- BackendError
          +-- JobStoreError
          |    +-- InvalidLocatorError      the locator names no known kind or is malformed
          |    +-- JobStoreExistsError      create() on a store that already exists
          |    +-- NoSuchJobStoreError      open() on a store that does not exist
          |    +-- NoSuchFileError          a file ID or shared name that is not in the store
          |    +-- StoredFileDamagedError   a stored file no longer matches its checksum
          |    +-- JobStoreLeasedError      another live process holds the store's lease
          |    +-- LeaseLostError           our lease lapsed and another process took it
          |    +-- JobStoreAccessError      the store's place cannot be used (service
          |                                 unreachable, credentials refused, bucket missing)
          +-- BatchSystemError
          |    +-- InsufficientResourcesError   a job asks for more than it can ever give
          +-- UnknownBackendError      a name that no entry point registers
          +-- InvalidBackendError      a registered backend that cannot be loaded or is
                                       not what its group needs (not a JobStore, a wrong
                                       kind), or a name registered twice
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backends.jobstore.lease import LeaseHolder


class MoilError(Exception):
    """Root of moil's exceptions. ``exit_code``: what a command exits with when this ends
    it; ``retryable``: whether running the job again can help (``--retryCount``)."""

    exit_code = 1
    retryable = True


class BackendError(MoilError):
    """Root of the backend exceptions."""


class JobStoreError(BackendError):
    """A job store operation failed."""


class InvalidLocatorError(JobStoreError):
    """A job store locator could not be understood."""


class JobStoreExistsError(JobStoreError):
    """The job store already exists (a new run needs a fresh one)."""


class NoSuchJobStoreError(JobStoreError):
    """The job store does not exist."""


class NoSuchFileError(JobStoreError):
    """A file ID or shared name is not in the job store."""


class StoredFileDamagedError(JobStoreError):
    """A stored file is not what was stored (truncated, changed in place): a reader must
    not use it. ``file_id`` names it."""

    def __init__(self, message: str, file_id: str) -> None:
        super().__init__(message)
        self.file_id = file_id


class JobStoreLeasedError(JobStoreError):
    """Another live process holds the store's lease (``holder``, None if it has not said
    who it is yet)."""

    def __init__(self, message: str, holder: LeaseHolder | None) -> None:
        super().__init__(message)
        self.holder = holder


class LeaseLostError(JobStoreError):
    """A lease could not be renewed: it lapsed and another process may hold it now."""


class JobStoreAccessError(JobStoreError):
    """The place of the store cannot be used: its service (S3) cannot be reached after
    retries, refuses our credentials, or has no such bucket. Nothing about the store itself
    is known; the user's settings must change."""


class BatchSystemError(BackendError):
    """A batch system operation failed."""


class InsufficientResourcesError(BatchSystemError):
    """A job asks for more cores, memory, disk or accelerators than the system has."""


class UnknownBackendError(BackendError):
    """No backend of that kind is registered under the name."""


class InvalidBackendError(BackendError):
    """A registered backend cannot be used: its module does not import, its class is not
    a JobStore / BatchSystem (or a store's ``kind`` is not its name), or a name is taken."""
