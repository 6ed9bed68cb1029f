"""The batch system contract.

The leader hands a batch system jobs (``issue_job``) and takes back, exactly once per job,
how each ended (``get_updated_job``). A job is described by ``BatchJob``: the resources it
needs and how to run it. Every batch system runs a job the same way:

- in-process pools call ``entry`` (a ``"module:function"`` path) as ``fn(locator, job_id)``;
- cluster systems run ``argv`` (the worker command: ``python -m runner.worker LOCATOR ID``)
  on a node.

Both paths do the same thing, so a job behaves the same whichever system runs it.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from backends.errors import BatchSystemError
from backends.settings import NoSettings, Settings


class ExitReason(enum.Enum):
    """Why a job ended, as the batch system saw it."""

    FINISHED = "finished"
    """The worker ran and exited 0 (the job's own success or failure is in its result)."""
    FAILED = "failed"
    """The worker exited non-zero."""
    LOST = "lost"
    """The batch system lost track of the job (node died, record vanished)."""
    KILLED = "killed"
    """The job was killed on request (``kill_jobs``) or by a signal."""
    ERROR = "error"
    """The batch system could not run the job at all (submission failed)."""
    MEMLIMIT = "memlimit"
    """The job was killed for using more memory than it asked for."""
    TIMELIMIT = "timelimit"
    """The job was killed for running longer than its time limit."""


@dataclass(frozen=True)
class Resources:
    """What a job needs. Memory and disk are in bytes; cores may be fractional."""

    cores: float = 1.0
    memory: int = 2 * 1024**3
    disk: int = 2 * 1024**3
    accelerators: tuple[Mapping[str, object], ...] = ()
    preemptible: bool = False
    #: the memory is the run's default (``--defaultMemory``): the job gave none of its own
    default_memory: bool = False


@dataclass(frozen=True)
class BatchJob:
    """One job handed to a batch system."""

    job_id: str
    name: str
    resources: Resources
    locator: str
    entry: str
    argv: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    time_limit: float | None = None


@dataclass(frozen=True)
class UpdatedJob:
    """How one issued job ended."""

    batch_id: int
    job_id: str
    exit_status: int
    exit_reason: ExitReason
    wall_time: float | None = None
    message: str = ""


@dataclass(frozen=True)
class Capabilities:
    """What a batch system can do, for the leader and the tests to consult."""

    in_process: bool = False
    """Jobs run on this host in processes the batch system manages (no node, no shared FS)."""
    needs_shared_filesystem: bool = True
    """Workers reach a ``file:`` job store by the same path as the leader."""
    accelerators: bool = False
    """Jobs may ask for GPUs or other accelerators."""
    time_limits: bool = False
    """The system itself enforces ``BatchJob.time_limit``."""
    isolated: bool = True
    """Each job runs apart from the caller (a process, a node, a container of its own): a
    job that exits, kills its process or hangs harms no other job, and ``kill_jobs`` and
    ``shutdown`` can stop it. False for ``inline``, which runs jobs in the caller's process."""


@dataclass(frozen=True)
class BatchConfig:
    """What every batch system is given, plus ``settings``: an instance of its own
    ``settings_class`` (filled from the options it declares there; its defaults if not
    given). Limits are totals across everything running at once; ``math.inf`` means no
    limit."""

    max_cores: float
    max_memory: float
    max_disk: float
    work_dir: str
    settings: Settings = field(default_factory=NoSettings)
    environment: Mapping[str, str] = field(default_factory=dict)


class BatchSystem(ABC):
    """A scheduler. Constructors do no I/O; ``start`` begins, ``shutdown`` ends.

    ``settings_class`` declares the system's own options (``backends.settings``: Slurm's
    ``--slurmPartition``...); the instance's ``settings`` is the one ``config`` carries, or
    the class's defaults. Raises BatchSystemError for settings of another class."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    settings_class: ClassVar[type[Settings]] = NoSettings

    def __init__(self, config: BatchConfig) -> None:
        settings = config.settings
        if type(settings) is NoSettings:
            settings = self.settings_class()
        elif not isinstance(settings, self.settings_class):
            raise BatchSystemError(
                f"{self.name or type(self).__name__} takes {self.settings_class.__name__}, "
                f"not {type(settings).__name__}"
            )
        self.config = config
        self.settings: Settings = settings

    def start(self) -> None:
        """Get ready to take jobs (start pools, check commands exist)."""

    @abstractmethod
    def issue_job(self, job: BatchJob) -> int:
        """Queue ``job`` and return its batch ID (unique within this object).

        Raises InsufficientResourcesError if the job can never fit."""

    @abstractmethod
    def kill_jobs(self, batch_ids: list[int]) -> None:
        """Kill these jobs and wait until they are gone. Each still yields one update
        (reason KILLED) unless it had already ended."""

    @abstractmethod
    def issued_ids(self) -> list[int]:
        """The batch IDs issued and not yet handed out by ``get_updated_job``."""

    @abstractmethod
    def running_jobs(self) -> dict[int, float]:
        """Batch ID -> seconds running, for jobs that have started."""

    def running_count(self) -> int:
        """How many issued jobs run now (not queued), as far as this object knows without
        asking the scheduler: cheap enough to call at every turn of the leader's loop (the
        progress bar's "running"). By default ``len(running_jobs())``; a system whose
        ``running_jobs`` asks the scheduler answers from its last poll instead."""
        return len(self.running_jobs())

    @abstractmethod
    def get_updated_job(self, timeout: float) -> UpdatedJob | None:
        """The next job that ended, waiting up to ``timeout`` seconds; None if none did.

        Each issued job is returned exactly once."""

    @abstractmethod
    def shutdown(self) -> None:
        """Kill what still runs and release every resource (processes, threads, files)."""
