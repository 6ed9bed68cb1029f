"""Shared machinery for batch systems that hand each job to a remote scheduler and poll it.

Schedulers driven by command-line tools (``backends.batch.cluster``: Slurm, Grid Engine,
Torque, LSF, HTCondor) and those driven by an API (``backends.batch.aws_batch``,
``backends.batch.kubernetes``) share everything but how they talk to the scheduler. A
subclass gives the hooks:

- ``submit_job``: submit one job and return the scheduler's ID for it;
- ``query_jobs``: the state of many jobs from ONE request or command per poll
  (``{cluster_id: ClusterStatus}``; None: the poll failed, try again later);
- ``cancel_jobs``: cancel many jobs;
- ``check_resources`` (optional): refuse jobs the scheduler can never run.

Guarantees of the base:

- Submission and polling run on one background thread; ``issue_job`` only queues the job,
  so the leader never waits for the scheduler. A submission that fails (``submit_job``
  raises BatchSystemError) ends the job with ``ExitReason.ERROR`` and the error's message.
- Each poll calls ``query_jobs`` once for all of this object's live jobs, at most once per
  ``--statePollingWait`` seconds, and only while jobs are live. Default 1 s
  (``DEFAULT_POLL_WAIT``): quick feedback in tests and small runs; on a large shared
  scheduler raise it with ``--statePollingWait``. ``running_jobs`` asks for a fresh poll
  (shared with the regular ones).
- ``BatchConfig.max_cores/max_memory/max_disk`` bound what is in flight at once (jobs wait
  in this object's queue, first in first out); pass ``math.inf`` for no bound.
- A status with ``cancel`` set (the scheduler will never start the job as submitted) is
  cancelled (one ``cancel_jobs`` call per poll) before its exit is handed out.
- A job ``query_jobs`` leaves out for ``misses_before_lost()`` polls in a row ends as
  ``LOST``.
- Each issued job yields exactly one ``UpdatedJob``.
- With ``bundle_size()`` N > 1 (``--jobsPerAllocation`` on the grid schedulers), up to N
  queued jobs of one shape go in one scheduler job (``backends.batch.bundling``); each
  still yields its own update, when the scheduler job ends.
- ``command_counts`` counts the scheduler commands or API requests made, by name.
"""

from __future__ import annotations

import enum
import itertools
import logging
import queue
import threading
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from backends.batch import bundling
from backends.batch.base import BatchConfig, BatchJob, BatchSystem, ExitReason, UpdatedJob
from backends.errors import BatchSystemError, InsufficientResourcesError
from backends.settings import Settings, setting

log = logging.getLogger(__name__)

DEFAULT_POLL_WAIT = 1.0
"""Seconds between two status polls when ``statePollingWait`` is not set."""
MISSES_BEFORE_LOST = 3
"""Polls in a row a job may be unknown to the scheduler before it counts as lost."""
KILL_TIMEOUT = 120.0
"""How long ``kill_jobs`` waits for cancelled jobs to leave the queue."""


def parse_duration(text: str) -> float:
    """Seconds from ``3600``, ``90.5``, ``1:00:00``, ``30:00`` or ``2-0:00:00`` (days).
    Raises ValueError for anything else."""
    stripped = text.strip()
    days, dash, clock = stripped.rpartition("-")
    parts = clock.split(":")
    try:
        if len(parts) > 3 or (dash and not days.isdigit()):
            raise ValueError
        values = [float(p) if i == len(parts) - 1 else int(p) for i, p in enumerate(parts)]
    except ValueError:
        raise ValueError(
            f"{text!r} is not a duration (seconds, or [D-]H:MM:SS as in 1:30:00)"
        ) from None
    seconds = sum(v * m for v, m in zip(reversed(values), (1, 60, 3600), strict=False))
    return float(seconds + 86400 * int(days or 0))


@dataclass(frozen=True)
class PollingSettings(Settings):
    """Options every scheduler that moil polls takes (Toil's names)."""

    kind: ClassVar[str] = "polling"

    state_polling_wait: float | None = setting(
        None,
        "--statePollingWait",
        minimum=0,
        minimum_allowed=False,
        help="seconds between polls of a cluster scheduler (default 1)",
    )
    default_walltime: float | None = setting(
        None,
        "--defaultWalltime",
        parse=parse_duration,
        minimum=0,
        minimum_allowed=False,
        metavar="SECONDS|[D-]H:MM:SS",
        help="time limit for cluster jobs that set none (default: the scheduler's)",
    )


class Phase(enum.Enum):
    """Where a job is, as the scheduler reports it."""

    QUEUED = "queued"
    RUNNING = "running"
    ENDED = "ended"


@dataclass(frozen=True)
class ExitInfo:
    """How a job ended, as read from the scheduler."""

    reason: ExitReason
    exit_status: int
    message: str = ""
    wall_time: float | None = None


@dataclass(frozen=True)
class ClusterStatus:
    """One job's line in a status poll. ``exit`` is set exactly when ``phase`` is ENDED."""

    phase: Phase
    elapsed: float | None = None
    exit: ExitInfo | None = None
    cancel: bool = False
    """The job ended for moil but the scheduler still holds it (it would pend forever): the
    base cancels it before handing out ``exit``."""


@dataclass
class _Tracked:
    """A job issued and not yet reported ended."""

    job: BatchJob
    batch_id: int
    cluster_id: str | None = None
    phase: Phase = Phase.QUEUED
    elapsed: float = 0.0
    seen_at: float = 0.0
    misses: int = 0
    taken: bool = False
    """The submitter took it off the queue (its resources count as in use from then on)."""
    kill_requested: bool = False
    queued_at: float = 0.0
    members: list[int] = field(default_factory=list)
    """The other jobs of the bundle this one heads (submitted with it, ended with it)."""


@dataclass
class _Counter:
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1


def _size(n: float) -> str:
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"


class AbstractQueuedBatchSystem(BatchSystem):
    """A batch system that submits each job to a scheduler and polls the scheduler for them.

    ``BatchConfig.max_cores/max_memory/max_disk`` bound what this object's jobs ask for at
    once (Toil's ``--maxCores`` and friends): a job that does not fit beside the jobs in
    flight waits in this object's own queue, first in first out, and a job that could never
    fit is refused by ``issue_job``. For no bound, pass ``math.inf``."""

    settings_class: ClassVar[type[Settings]] = PollingSettings
    settings: PollingSettings
    command_timeout: ClassVar[float] = 120.0
    """Seconds one scheduler command or request may take."""

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self._counter = _Counter()
        self._cond = threading.Condition()
        self._next_id = 1
        self._jobs: dict[int, _Tracked] = {}
        self._by_cluster_id: dict[str, int] = {}
        self._issued: set[int] = set()
        self._to_submit: deque[int] = deque()
        self._in_use = [0.0, 0.0, 0.0]  # cores, memory, disk of the jobs taken for submission
        self._updates: queue.Queue[UpdatedJob] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._poll_now = False
        self._last_poll = float("-inf")
        self._polls_started = 0
        self._polls_done = 0
        self._cancelled: set[str] = set()

    # ----------------------------------------------------------------- subclass hooks
    @abstractmethod
    def submit_job(self, job: BatchJob, batch_id: int) -> str:
        """Submit ``job`` and return the scheduler's ID for it (retrying what is only
        transient). Raises BatchSystemError saying why it could not be submitted."""

    @abstractmethod
    def query_jobs(self, cluster_ids: Sequence[str]) -> dict[str, ClusterStatus] | None:
        """The state of ``cluster_ids`` as ``{cluster_id: status}``, from one status request
        or command (split only past the scheduler's limit); jobs left out count as unknown
        this poll. None if the query failed (poll again later)."""

    @abstractmethod
    def cancel_jobs(self, cluster_ids: Sequence[str]) -> None:
        """Ask the scheduler to cancel ``cluster_ids`` (logging, not raising, a failure: the
        next poll shows what is still there)."""

    def check_resources(self, job: BatchJob) -> None:
        """Raise InsufficientResourcesError if ``job`` asks for more than the limits
        (BatchSystemError if it has no ``argv``). Subclasses add their own checks (and call
        this)."""
        what = f"job {job.name!r} ({job.job_id})"
        if not job.argv:
            raise BatchSystemError(f"{what} has no command (BatchJob.argv is empty)")
        res, cfg = job.resources, self.config
        if res.cores > cfg.max_cores:
            raise InsufficientResourcesError(
                f"{what} needs {res.cores:g} cores, but at most {cfg.max_cores:g} may be "
                "used (--maxCores)"
            )
        for need, limit, kind, flag in (
            (res.memory, cfg.max_memory, "memory", "--maxMemory"),
            (res.disk, cfg.max_disk, "disk", "--maxDisk"),
        ):
            if need > limit:
                raise InsufficientResourcesError(
                    f"{what} needs {_size(need)} of {kind}, but at most {_size(limit)} may be "
                    f"used ({flag})"
                )

    # ----------------------------------------------------------------- helpers for subclasses
    @property
    def command_counts(self) -> dict[str, int]:
        """Scheduler commands run so far, by program name (a copy)."""
        with self._counter.lock:
            return dict(self._counter.counts)

    @property
    def poll_count(self) -> int:
        """Status polls begun so far (each runs one status command per
        ``max_ids_per_command`` live jobs)."""
        with self._cond:
            return self._polls_started

    @property
    def poll_wait(self) -> float:
        """Seconds between polls: ``--statePollingWait`` if set (at least 0.1), else
        DEFAULT_POLL_WAIT."""
        value = self.settings.state_polling_wait
        return DEFAULT_POLL_WAIT if value is None else max(0.1, value)

    def job_for(self, cluster_id: str) -> BatchJob | None:
        """The live job the scheduler knows as ``cluster_id`` (for messages in parsers)."""
        with self._cond:
            tracked = self._jobs.get(self._by_cluster_id.get(cluster_id, 0))
            return None if tracked is None else tracked.job

    def refuse_accelerators(self, job: BatchJob, advice: str) -> None:
        """Raise InsufficientResourcesError if ``job`` asks for an accelerator (for
        schedulers with no common way to request one); ``advice`` says what to do."""
        if job.resources.accelerators:
            raise InsufficientResourcesError(
                f"job {job.name!r} asks for an accelerator; {self.name} has no standard way "
                f"to request one: {advice}, and run the job without an accelerator requirement"
            )

    def was_cancelled(self, cluster_id: str) -> bool:
        """Whether this object ran a cancel command for ``cluster_id``."""
        with self._cond:
            return cluster_id in self._cancelled

    def batch_id_for(self, cluster_id: str) -> int | None:
        """The batch ID of the live job the scheduler knows as ``cluster_id``."""
        with self._cond:
            return self._by_cluster_id.get(cluster_id)

    def count_request(self, name: str) -> None:
        """Count one scheduler command or API request named ``name``."""
        self._counter.add(name)

    def misses_before_lost(self) -> int:
        """Polls in a row a job may be missing from both the status output and
        ``exit_info`` before it ends LOST (a scheduler that writes its accounting late
        needs more than MISSES_BEFORE_LOST)."""
        return MISSES_BEFORE_LOST

    def time_limit(self, job: BatchJob) -> float | None:
        """Seconds ``job`` may run: its own limit, else ``--defaultWalltime``, else None
        (the scheduler's default)."""
        return job.time_limit if job.time_limit is not None else self.settings.default_walltime

    # ----------------------------------------------------------------- BatchSystem contract
    def start(self) -> None:
        """Start the submit/poll thread."""
        self._ensure_thread()

    def issue_job(self, job: BatchJob) -> int:
        """Queue ``job`` for submission by the background thread; returns its batch ID.

        Raises InsufficientResourcesError (from ``check_resources``)."""
        self.check_resources(job)
        with self._cond:
            batch_id = self._next_id
            self._next_id += 1
            self._jobs[batch_id] = _Tracked(job, batch_id, queued_at=time.monotonic())
            self._issued.add(batch_id)
            self._to_submit.append(batch_id)
            self._cond.notify_all()
        self._ensure_thread()
        return batch_id

    def kill_jobs(self, batch_ids: list[int]) -> None:
        """Cancel these jobs with one cancel command and wait until the scheduler shows them
        ended (at most KILL_TIMEOUT s). Each live one yields one update, KILLED unless it
        ended otherwise first."""
        with self._cond:
            waiting = {b for b in batch_ids if b in self._jobs}
            cluster_ids = []
            for batch_id in waiting:
                tracked = self._jobs[batch_id]
                tracked.kill_requested = True
                if tracked.cluster_id is not None:
                    cluster_ids.append(tracked.cluster_id)
                elif not tracked.taken:
                    self._report_locked(
                        batch_id,
                        ExitInfo(ExitReason.KILLED, 1, "killed on request before it was submitted"),
                    )
        self._cancel(list(dict.fromkeys(cluster_ids)))  # a bundle's jobs share one
        self._ensure_thread()
        deadline = time.monotonic() + KILL_TIMEOUT
        with self._cond:
            self._poll_now = True
            self._cond.notify_all()
            while any(b in self._jobs for b in waiting) and time.monotonic() < deadline:
                self._cond.wait(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            for batch_id in waiting:
                if batch_id in self._jobs:
                    log.warning(
                        "job %s still in %s's queue %.0fs after cancelling it",
                        self._jobs[batch_id].cluster_id,
                        self.name,
                        KILL_TIMEOUT,
                    )
                    self._report_locked(
                        batch_id,
                        ExitInfo(
                            ExitReason.KILLED,
                            1,
                            "cancelled on request; the scheduler had not "
                            f"removed it from its queue after {KILL_TIMEOUT:.0f}s",
                        ),
                    )

    def issued_ids(self) -> list[int]:
        with self._cond:
            return sorted(self._issued)

    def running_jobs(self) -> dict[int, float]:
        """Jobs the scheduler runs now, from a poll made after this call began (one status
        command, shared with any concurrent caller and the regular polls)."""
        self._ensure_thread()
        with self._cond:
            if self._live_cluster_ids():
                wanted = self._polls_started + 1
                self._poll_now = True
                self._cond.notify_all()
                deadline = time.monotonic() + self.command_timeout
                while self._polls_done < wanted and time.monotonic() < deadline:
                    self._cond.wait(timeout=1.0)
            now = time.monotonic()
            return {
                b: t.elapsed + (now - t.seen_at)
                for b, t in self._jobs.items()
                if t.phase is Phase.RUNNING
            }

    def running_count(self) -> int:
        """Jobs the scheduler ran at its last poll (and not ended since): no command."""
        with self._cond:
            return sum(1 for t in self._jobs.values() if t.phase is Phase.RUNNING)

    def get_updated_job(self, timeout: float) -> UpdatedJob | None:
        try:
            update = self._updates.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        with self._cond:
            self._issued.discard(update.batch_id)
        return update

    def shutdown(self) -> None:
        """Cancel every job still live (one cancel call), wait for them to leave the
        queue and stop the background thread."""
        with self._cond:
            live = list(self._jobs)
        if live:
            self.kill_jobs(live)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.command_timeout + 5)
            self._thread = None

    # ----------------------------------------------------------------- internals
    def _ensure_thread(self) -> None:
        with self._cond:
            if self._thread is not None or self._stopping:
                return
            self._thread = threading.Thread(
                target=self._loop, name=f"{self.name}-poller", daemon=True
            )
            self._thread.start()

    def _live_cluster_ids(self) -> dict[str, int]:
        return dict(self._by_cluster_id)

    def _seconds_to_poll(self) -> float | None:
        """Under the lock: None if nothing to poll, else seconds until the next poll."""
        if not self._by_cluster_id:
            return None
        if self._poll_now:
            return 0.0
        return max(0.0, self._last_poll + self.poll_wait - time.monotonic())

    def _next_to_submit(self) -> _Tracked | None:
        """Under the lock: the queue's first job if it fits beside the jobs in flight."""
        while self._to_submit:
            tracked = self._jobs.get(self._to_submit[0])
            if tracked is None:  # killed while queued
                self._to_submit.popleft()
                continue
            res, cfg, used = tracked.job.resources, self.config, self._in_use
            idle = used == [0.0, 0.0, 0.0]
            if idle or (
                used[0] + res.cores <= cfg.max_cores + 1e-9
                and used[1] + res.memory <= cfg.max_memory
                and used[2] + res.disk <= cfg.max_disk
            ):
                return None if self._gathering(tracked) else tracked
            return None
        return None

    def bundle_size(self) -> int:
        """Jobs of one shape that may share a scheduler job (1: none do)."""
        return 1

    def bundle_workers(self) -> int:
        """Jobs a bundle runs at once."""
        return 1

    def _gathering(self, head: _Tracked) -> float:
        """Under the lock: seconds ``head`` still waits for more jobs of its shape to
        bundle with (0 when bundling is off, the bundle is full or the wait is over)."""
        wanted = self.bundle_size()
        if wanted <= 1:
            return 0.0
        left = head.queued_at + bundling.BUNDLE_WAIT - time.monotonic()
        if left <= 0 or len(self._bundle_of(head, wanted)) >= wanted:
            return 0.0
        return left

    def _bundle_of(self, head: _Tracked, wanted: int) -> list[_Tracked]:
        """Under the lock: ``head`` (first in the queue) and the queued jobs of its shape
        right behind it that fit beside the jobs in flight, at most ``wanted`` in all."""
        key, group = bundling.shape(head.job), [head]
        res, cfg, used = head.job.resources, self.config, self._in_use
        for batch_id in itertools.islice(self._to_submit, 1, None):
            if len(group) >= wanted:
                break
            tracked = self._jobs.get(batch_id)
            if tracked is None:
                continue
            more = len(group) + 1
            if bundling.shape(tracked.job) != key or not (
                used[0] + more * res.cores <= cfg.max_cores + 1e-9
                and used[1] + more * res.memory <= cfg.max_memory
                and used[2] + more * res.disk <= cfg.max_disk
            ):
                break
            group.append(tracked)
        return group

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._next_to_submit() is None:
                    wait = self._seconds_to_poll()
                    if wait == 0.0:
                        break
                    gather = (
                        self._gathering(self._jobs[self._to_submit[0]])
                        if (self._to_submit and self._to_submit[0] in self._jobs)
                        else 0.0
                    )
                    if gather:
                        wait = gather if wait is None else min(wait, gather)
                    self._cond.wait(timeout=wait)
                if self._stopping:
                    return
            try:
                self._submit_queued()
                with self._cond:
                    due = self._seconds_to_poll() == 0.0
                if due:
                    self._poll()
            except Exception:  # the thread must outlive one bad poll
                log.exception("%s: error in the submit/poll loop; retrying", self.name)
                time.sleep(self.poll_wait or 0.5)

    def _take_locked(self, tracked: _Tracked) -> None:
        while self._to_submit and self._to_submit[0] != tracked.batch_id:
            self._to_submit.popleft()  # killed while queued
        self._to_submit.popleft()
        tracked.taken = True
        res = tracked.job.resources
        self._in_use = [
            self._in_use[0] + res.cores,
            self._in_use[1] + res.memory,
            self._in_use[2] + res.disk,
        ]

    def _submit_queued(self) -> None:
        while True:
            with self._cond:
                tracked = None if self._stopping else self._next_to_submit()
                if tracked is None:
                    return
                group = self._bundle_of(tracked, self.bundle_size())
                for member in group:
                    self._take_locked(member)
                tracked.members = [member.batch_id for member in group[1:]]
            try:
                cluster_id = self._submit(tracked)
            except BatchSystemError as exc:
                with self._cond:
                    self._report_locked(tracked.batch_id, ExitInfo(ExitReason.ERROR, 1, str(exc)))
                continue
            with self._cond:
                for member in group:
                    member.cluster_id = cluster_id
                    member.seen_at = time.monotonic()
                self._by_cluster_id[cluster_id] = tracked.batch_id
                cancel = any(member.kill_requested for member in group)
            log.debug("%s: job %s submitted as %s", self.name, tracked.job.job_id, cluster_id)
            if cancel:
                self._cancel([cluster_id])

    def _submit(self, tracked: _Tracked) -> str:
        job = tracked.job
        if tracked.members:
            with self._cond:
                jobs = [job, *(self._jobs[b].job for b in tracked.members if b in self._jobs)]
            job = bundling.bundle_job(jobs, self.bundle_workers(), self.time_limit(job))
        return self.submit_job(job, tracked.batch_id)

    def _cancel(self, cluster_ids: list[str]) -> None:
        with self._cond:
            self._cancelled.update(cluster_ids)
        if cluster_ids:
            self.cancel_jobs(cluster_ids)

    def _query(self, cluster_ids: list[str]) -> dict[str, ClusterStatus] | None:
        return self.query_jobs(cluster_ids)

    def _poll(self) -> None:
        with self._cond:
            self._poll_now = False
            self._last_poll = time.monotonic()
            self._polls_started += 1
            number = self._polls_started
            live = self._live_cluster_ids()
        try:
            statuses = self._query(list(live))
        finally:
            with self._cond:
                self._polls_done = number
                self._cond.notify_all()
        if statuses is None:
            log.warning("%s: status poll failed; trying again in %.1fs", self.name, self.poll_wait)
            return
        doomed = [c for c, status in statuses.items() if status.cancel and c in live]
        if doomed:
            self._cancel(doomed)  # before the update: the leader may shut down right after
        now = time.monotonic()
        with self._cond:
            for cluster_id, batch_id in live.items():
                self._apply_locked(batch_id, cluster_id, statuses.get(cluster_id), now)
            self._cond.notify_all()

    def _apply_locked(
        self, batch_id: int, cluster_id: str, status: ClusterStatus | None, now: float
    ) -> None:
        tracked = self._jobs.get(batch_id)
        if tracked is None:
            return
        if status is None:
            tracked.misses += 1
            if tracked.misses >= self.misses_before_lost():
                self._report_locked(
                    batch_id,
                    ExitInfo(
                        ExitReason.LOST,
                        1,
                        f"{self.name} lost track of job {cluster_id}: it "
                        "left the queue and no record says how it ended",
                    ),
                )
            return
        tracked.misses = 0
        if status.exit is not None:
            self._report_locked(batch_id, status.exit)
            return
        for each in (tracked, *(self._jobs[b] for b in tracked.members if b in self._jobs)):
            each.phase = status.phase
            each.seen_at = now
            each.elapsed = status.elapsed or 0.0

    def _report_locked(self, batch_id: int, info: ExitInfo) -> None:
        """Hand out the one update of ``batch_id`` (caller holds the lock)."""
        tracked = self._jobs.pop(batch_id, None)
        if tracked is None:
            return
        cluster_id = tracked.cluster_id
        if cluster_id is not None and self._by_cluster_id.get(cluster_id) == batch_id:
            self._by_cluster_id.pop(cluster_id, None)
        for member in tracked.members:  # a bundle's jobs end with it
            self._report_locked(member, info)
        if tracked.taken:
            res = tracked.job.resources
            self._in_use = [
                self._in_use[0] - res.cores,
                self._in_use[1] - res.memory,
                self._in_use[2] - res.disk,
            ]
            if not self._jobs:
                self._in_use = [0.0, 0.0, 0.0]  # no float drift once idle
        message = info.message
        if tracked.kill_requested and info.reason is ExitReason.KILLED:
            message = message if "on request" in message else "killed on request"
        wall = info.wall_time
        if wall is None and tracked.phase is Phase.RUNNING:
            wall = tracked.elapsed + (time.monotonic() - tracked.seen_at)
        self._updates.put(
            UpdatedJob(batch_id, tracked.job.job_id, info.exit_status, info.reason, wall, message)
        )
        self._cond.notify_all()
