"""Exceptions of the runner and the front ends, under ``MoilError`` (the root of every
exception moil raises; defined with the backends' own in ``backends.errors``).

Tree::

    MoilError
     +-- BackendError          the backends' (backends.errors)
     +-- UsageError            bad options or arguments (exit 2)
     |    +-- JobStoreInUseError   an existing store without --restart, or --restart on none
     +-- PromiseError          a promise that cannot be resolved
     +-- WorkflowFailed        one or more jobs failed for good (exit 1)
     +-- UnsupportedRequirement a document needs something moil cannot do here (exit 33)
     +-- JobError              raised inside a job to fail it with a message
          +-- PermanentJobError    ... for a failure that retrying cannot fix

    KeyboardInterrupt
     +-- Terminated            SIGTERM outside the leader's loop (exit 143)

Every other exception class of ``runner``, ``backends`` and ``languages`` derives from one
of these (``tests/test_errors.py`` holds it): a caller can rely on ``exit_code`` and
``retryable``, and a command's ``except MoilError`` ends any of them with one line.

``retryable``: whether running the job again can help (``--retryCount``). A document that
needs what moil cannot provide, or bad usage, gives the same failure every time.
"""

from __future__ import annotations

from backends.errors import MoilError

__all__ = [  # MoilError is the root of this tree too
    "JobError",
    "JobStoreInUseError",
    "MoilError",
    "PermanentJobError",
    "PromiseError",
    "Terminated",
    "UnsupportedRequirement",
    "UsageError",
    "WorkflowFailed",
]


class UsageError(MoilError):
    """The command line or options are wrong; the message says how to fix them."""

    exit_code = 2
    retryable = False


class JobStoreInUseError(UsageError):
    """A job store exists where a fresh one was needed, or is missing for --restart."""


class PromiseError(MoilError):
    """A promise could not be resolved."""


class WorkflowFailed(MoilError):
    """The run finished with failed jobs.

    The message is one line; ``details`` holds each failed job's account (its error and log
    tail), which the leader has logged at ERROR already: shown again only where the log is
    off, so a job's traceback is printed once."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        failed_jobs: list[str] | None = None,
        details: str = "",
        job_exit_codes: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(message)
        self.failed_jobs = failed_jobs or []
        self.details = details
        #: the exit codes the errors of the jobs that failed for good call for (their
        #: MoilError's; 33: UnsupportedRequirement), for a front end whose convention
        #: has the run's exit follow them (the CWL runner's 33)
        self.job_exit_codes = job_exit_codes

    def full(self) -> str:
        """The message and the details."""
        return f"{self}\n{self.details}" if self.details else str(self)


class UnsupportedRequirement(MoilError):
    """The document needs a feature that moil cannot provide here."""

    exit_code = 33
    retryable = False


class JobError(MoilError):
    """A job failed; the message is shown to the user as the reason.

    ``tool_exit_code``: the exit status of the tool or command whose failure this is
    (negative: killed by that signal), when one ran; recorded with the job's stats (WES
    task logs report it)."""

    def __init__(self, *args: object, tool_exit_code: int | None = None) -> None:
        super().__init__(*args)
        self.tool_exit_code = tool_exit_code


class PermanentJobError(JobError):
    """Raised by an executor for a failure that retrying cannot fix (no retries)."""

    retryable = False


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while no leader loop was there to stop the run in order (exit 143).

    A KeyboardInterrupt, so that whatever cleans up after Ctrl-C cleans up after it."""

    exit_code = 143
