"""The default batch system: jobs run on this host in a pool of long-lived worker processes.

Workers are forked from the leader (see ``_pool``), so a job pays neither a Python start nor
imports, and sees everything the leader loaded before the worker was forked. A worker runs
``fn(locator, job_id)`` for the job's ``entry``; ``argv`` is not used.

Scheduling: jobs start while their cores, memory and disk fit in what is free of
``max_cores``/``max_memory``/``max_disk``. The queue is first come, first served, except that
a job that fits now starts ahead of earlier ones that do not (backfill), so a large job may
wait while smaller ones keep the machine busy. Jobs that can never fit are refused at
``issue_job``.

How jobs end (``UpdatedJob``):

- the entry returned: exit status 0, FINISHED (the job's own success or failure is in its
  result in the job store);
- the entry raised: exit status 1, FAILED, the traceback in ``message`` (``sys.exit(n)`` gives
  status n);
- the worker process died: exit status ``-signal`` and KILLED, or its exit code and FAILED;
- ``kill_jobs``: ``-SIGKILL`` and KILLED; time limit passed: ``-SIGKILL`` and TIMELIMIT.

Time limits are checked while ``get_updated_job`` waits, which the leader calls in its loop.
Not thread-safe: call it from one thread.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from backends.batch._pool import Death, Reply, Worker, WorkerPool
from backends.batch.base import (
    BatchConfig,
    BatchJob,
    BatchSystem,
    Capabilities,
    ExitReason,
    UpdatedJob,
)
from backends.errors import InsufficientResourcesError
from backends.settings import Settings, setting

logger = logging.getLogger(__name__)

_CORE_UNITS = 1_000_000  # cores are counted in millionths so fractions add up exactly


class _Need(NamedTuple):
    """Resources in integer units: micro-cores, bytes, bytes. Also the key of a queue."""

    cores: int
    memory: int
    disk: int

    def fits_in(self, free: _Need) -> bool:
        return self.cores <= free.cores and self.memory <= free.memory and self.disk <= free.disk

    def plus(self, other: _Need) -> _Need:
        return _Need(self.cores + other.cores, self.memory + other.memory, self.disk + other.disk)

    def minus(self, other: _Need) -> _Need:
        return _Need(self.cores - other.cores, self.memory - other.memory, self.disk - other.disk)


@dataclass(frozen=True)
class SingleMachineSettings(Settings):
    """Settings of the single-machine batch system (no command-line option of its own)."""

    kind: ClassVar[str] = "single_machine"

    #: most worker processes in the pool (default ``max(32, 4 * CPUs)``), so that jobs
    #: asking for very few cores do not fork without bound
    max_workers: int | None = setting(None, minimum=1)


@dataclass
class _Running:
    job: BatchJob
    need: _Need
    worker: Worker
    started: float
    deadline: float | None


class SingleMachineBatchSystem(BatchSystem):
    """Runs jobs in forked worker processes on this host, within the configured limits
    (and at most ``SingleMachineSettings.max_workers`` at once)."""

    name: ClassVar[str] = "single_machine"
    settings_class: ClassVar[type[Settings]] = SingleMachineSettings
    settings: SingleMachineSettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        in_process=True, needs_shared_filesystem=False, time_limits=True
    )

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self._limit = _Need(
            _cores(config.max_cores), _whole(config.max_memory), _whole(config.max_disk)
        )
        self._free = self._limit
        self._pool: WorkerPool | None = None
        self._next_id = 1
        self._issued: dict[int, None] = {}  # ordered set: issued, not yet handed out
        self._pending: dict[int, BatchJob] = {}
        self._queues: dict[_Need, deque[int]] = {}  # FIFO per resource shape
        self._running: dict[int, _Running] = {}
        self._timed = 0  # running jobs with a time limit; skips the deadline scan when 0
        self._updates: deque[UpdatedJob] = deque()

    def start(self) -> None:
        """Create the (empty) pool; workers are forked when jobs need them."""
        if self._pool is None:
            max_workers = self.settings.max_workers or max(32, 4 * (os.cpu_count() or 1))
            self._pool = WorkerPool(max_workers)

    def issue_job(self, job: BatchJob) -> int:
        """Queue ``job``; it starts as soon as it fits. Returns its batch ID.

        Raises InsufficientResourcesError if it asks for more than the limits, or for
        accelerators (this system has none to give)."""
        need = _Need(_cores(job.resources.cores), job.resources.memory, job.resources.disk)
        check_fits_ever(self.name, job, self.config)
        self.start()
        batch_id = self._next_id
        self._next_id += 1
        self._issued[batch_id] = None
        self._pending[batch_id] = job
        queue = self._queues.get(need)
        if queue is None:
            queue = self._queues[need] = deque()
        queue.append(batch_id)
        self._schedule()
        return batch_id

    def kill_jobs(self, batch_ids: list[int]) -> None:
        """Kill these jobs (a running job's whole process group) and reap their workers.

        Each yields one update: KILLED, unless it had already ended (then its own)."""
        for batch_id in batch_ids:
            job = self._pending.pop(batch_id, None)
            if job is not None:  # its queue entry is skipped when it reaches the head
                self._updates.append(
                    UpdatedJob(
                        batch_id,
                        job.job_id,
                        -signal.SIGKILL,
                        ExitReason.KILLED,
                        0.0,
                        "killed before it started",
                    )
                )
        running = [b for b in dict.fromkeys(batch_ids) if b in self._running]
        self._terminate(running, ExitReason.KILLED, "killed on request")
        self._schedule()

    def issued_ids(self) -> list[int]:
        """Batch IDs issued and not yet handed out by ``get_updated_job``, oldest first."""
        return list(self._issued)

    def running_jobs(self) -> dict[int, float]:
        """Batch ID -> seconds since it was given to a worker."""
        now = time.monotonic()
        return {batch_id: now - run.started for batch_id, run in self._running.items()}

    def running_count(self) -> int:
        """Jobs given to a worker and not yet ended."""
        return len(self._running)

    def get_updated_job(self, timeout: float) -> UpdatedJob | None:
        """The next job that ended, waiting up to ``timeout`` seconds; each job exactly once.

        Returns None at once when no job is running (none could end while waiting)."""
        if self._updates:
            return self._hand_out()
        end = time.monotonic() + max(timeout, 0.0)
        while self._running and self._pool is not None:
            until = end
            if self._timed:
                until = min(
                    end, min(r.deadline for r in self._running.values() if r.deadline is not None)
                )
            for event in self._pool.wait(max(until - time.monotonic(), 0.0)):
                self._on_event(event)
            if self._timed:
                self._enforce_time_limits()
            self._schedule()  # before returning, so freed workers are busy again at once
            if self._updates:
                return self._hand_out()
            if time.monotonic() >= end:
                break
        return None

    def shutdown(self) -> None:
        """Kill every job and worker process group and reap them all; forget every job, so
        no update comes after. Idempotent."""
        if self._pool is not None:
            self._pool.close()
        self._issued.clear()
        self._updates.clear()
        self._pending.clear()
        self._queues.clear()
        self._running.clear()
        self._timed = 0
        self._free = self._limit

    # -- internals ---------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Start queued jobs that fit, earliest first, skipping shapes that do not fit now."""
        pool = self._pool
        if not self._queues or pool is None:
            return
        heads: list[tuple[int, _Need]] = []
        for need, queue in list(self._queues.items()):
            while queue and queue[0] not in self._pending:
                queue.popleft()  # killed while queued
            if queue:
                heads.append((queue[0], need))
            else:
                del self._queues[need]
        heapq.heapify(heads)
        while heads and pool.has_capacity():
            batch_id, need = heapq.heappop(heads)
            if not need.fits_in(self._free):
                continue  # frees only shrink during this loop: the shape stays blocked
            queue = self._queues[need]
            queue.popleft()
            self._start(batch_id, need, pool)
            while queue and queue[0] not in self._pending:
                queue.popleft()
            if queue:
                heapq.heappush(heads, (queue[0], need))
            else:
                del self._queues[need]

    def _start(self, batch_id: int, need: _Need, pool: WorkerPool) -> None:
        job = self._pending.pop(batch_id)
        environment = {**self.config.environment, **job.environment}
        try:
            worker = pool.run(batch_id, job.entry, job.locator, job.job_id, environment)
        except OSError as exc:
            logger.error("could not start job %s: %s", job.job_id, exc)
            self._updates.append(
                UpdatedJob(
                    batch_id,
                    job.job_id,
                    1,
                    ExitReason.ERROR,
                    0.0,
                    f"could not start a worker process: {exc}",
                )
            )
            return
        now = time.monotonic()
        deadline = None if job.time_limit is None else now + job.time_limit
        self._timed += deadline is not None
        self._free = self._free.minus(need)
        self._running[batch_id] = _Running(job, need, worker, now, deadline)

    def _finish(self, batch_id: int) -> _Running:
        run = self._running.pop(batch_id)
        self._free = self._free.plus(run.need)
        self._timed -= run.deadline is not None
        return run

    def _on_event(self, event: Reply | Death) -> None:
        if isinstance(event, Reply):
            self._on_reply(event)
            return
        if event.reply is not None:  # it reported, then died: the report stands
            self._on_reply(event.reply)
            return
        if event.batch_id is None:
            logger.warning(
                "idle worker %d died (wait status %s); it will be replaced",
                event.worker.pid,
                event.wait_status,
            )
            return
        if event.batch_id not in self._running:
            return
        run = self._finish(event.batch_id)
        status, reason, how = _death_status(event.wait_status)
        self._updates.append(
            UpdatedJob(
                event.batch_id,
                run.job.job_id,
                status,
                reason,
                time.monotonic() - run.started,
                f"worker process {event.worker.pid} {how} while running the job",
            )
        )

    def _on_reply(self, reply: Reply) -> None:
        if reply.batch_id not in self._running:
            return
        run = self._finish(reply.batch_id)
        reason = ExitReason.FINISHED if reply.exit_status == 0 else ExitReason.FAILED
        self._updates.append(
            UpdatedJob(
                reply.batch_id,
                run.job.job_id,
                reply.exit_status,
                reason,
                reply.wall_time,
                reply.message,
            )
        )

    def _terminate(self, batch_ids: list[int], reason: ExitReason, message: str) -> None:
        """Kill running jobs' workers; each gets an update, ``reason`` unless it just ended."""
        if not batch_ids or self._pool is None:
            return
        workers = [self._running[b].worker for b in batch_ids]
        for death in self._pool.kill(workers):
            if death.reply is not None:  # it ended on its own before the kill landed
                self._on_reply(death.reply)
                continue
            assert death.batch_id is not None
            run = self._finish(death.batch_id)
            self._updates.append(
                UpdatedJob(
                    death.batch_id,
                    run.job.job_id,
                    -signal.SIGKILL,
                    reason,
                    time.monotonic() - run.started,
                    message,
                )
            )

    def _enforce_time_limits(self) -> None:
        now = time.monotonic()
        late = [b for b, r in self._running.items() if r.deadline is not None and r.deadline <= now]
        for batch_id in late:
            limit = self._running[batch_id].job.time_limit
            self._terminate(
                [batch_id],
                ExitReason.TIMELIMIT,
                f"killed after running longer than its time limit of {limit:g} s",
            )

    def _hand_out(self) -> UpdatedJob:
        update = self._updates.popleft()
        self._issued.pop(update.batch_id, None)
        return update


def check_fits_ever(system: str, job: BatchJob, config: BatchConfig) -> None:
    """Refuse a job that can never run on this host: InsufficientResourcesError if it asks
    for more cores, memory or disk than ``config``'s limits, or for accelerators (the
    ``system`` batch system has none to give). For every system that runs jobs here."""
    limit = _Need(_cores(config.max_cores), _whole(config.max_memory), _whole(config.max_disk))
    need = _Need(_cores(job.resources.cores), job.resources.memory, job.resources.disk)
    what = f"job {job.name!r} ({job.job_id})"
    if job.resources.accelerators:
        raise InsufficientResourcesError(
            f"{what} asks for accelerators {list(job.resources.accelerators)}, but the "
            f"{system} batch system has none to give; use a cluster batch system"
        )
    if need.cores > limit.cores:
        raise InsufficientResourcesError(
            f"{what} needs {job.resources.cores:g} cores, but at most "
            f"{config.max_cores:g} may be used (--maxCores)"
        )
    if need.memory > limit.memory:
        raise InsufficientResourcesError(
            f"{what} needs {_size(need.memory)} of memory, but at most "
            f"{_size(limit.memory)} may be used (--maxMemory)"
        )
    if need.disk > limit.disk:
        raise InsufficientResourcesError(
            f"{what} needs {_size(need.disk)} of disk, but at most "
            f"{_size(limit.disk)} may be used (--maxDisk)"
        )


def _death_status(wait_status: int | None) -> tuple[int, ExitReason, str]:
    """(exit status, reason, how it died) for a worker that died while running a job."""
    if wait_status is None:
        return -signal.SIGKILL, ExitReason.LOST, "vanished (reaped elsewhere)"
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        return -signum, ExitReason.KILLED, f"was killed by {_signal_name(signum)}"
    code = os.waitstatus_to_exitcode(wait_status)
    # Exit 0 without a report is still a failure: the job never said it had finished.
    return code or 1, ExitReason.FAILED, f"exited with code {code}"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _cores(cores: float) -> int:
    return _whole(cores * _CORE_UNITS)


def _whole(amount: float) -> int:
    """An exact integer amount; ``math.inf`` (no limit) becomes the largest one."""
    return sys.maxsize if amount == math.inf else round(amount)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f} {unit}"
