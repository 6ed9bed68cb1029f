"""Exceptions raised by backends.

Tree::

    BackendError
     +-- JobStoreError
     |    +-- InvalidLocatorError      the locator names no known kind or is malformed
     |    +-- JobStoreExistsError      create() on a store that already exists
     |    +-- NoSuchJobStoreError      open() on a store that does not exist
     |    +-- NoSuchFileError          a file ID or shared name that is not in the store
     +-- BatchSystemError
     |    +-- InsufficientResourcesError   a job asks for more than the system can ever give
     +-- UnknownBackendError           a name that no entry point registers
"""

from __future__ import annotations


class BackendError(Exception):
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


class BatchSystemError(BackendError):
    """A batch system operation failed."""


class InsufficientResourcesError(BatchSystemError):
    """A job asks for more cores, memory, disk or accelerators than the system has."""


class UnknownBackendError(BackendError):
    """No backend of that kind is registered under the name."""
