"""The ``inline`` batch system: each job runs in the caller's own process (the leader's).

Toil's ``--debugWorker`` idea: no fork, no pool, no command; ``get_updated_job`` takes the
oldest queued job, calls its ``entry`` (``fn(locator, job_id)``) right there, in the
calling thread, and returns how it ended. A breakpoint in a job stops the leader's own
process, a job's exception is the leader's own traceback (in ``UpdatedJob.message``), and
with the ``memory:`` job store the whole engine runs in one process (a store only this
process sees): the unit tests' double of a real run.

How jobs end (``UpdatedJob``), as on ``single_machine``: the entry returned: 0, FINISHED;
it raised: 1, FAILED, the traceback in ``message`` (``sys.exit(n)``: status n); killed
before it ran (``kill_jobs``): ``-SIGKILL``, KILLED. The job's ``environment`` is set in
``os.environ`` while it runs and put back after.

What cannot be had in the caller's process (``capabilities.isolated`` is False): one job
at a time; a job that calls ``os._exit`` or kills its process ends the leader; a running
job cannot be killed or stopped by a time limit (there is no other thread to do it), so
``kill_jobs`` and ``shutdown`` reach only jobs that have not started. Jobs that ask for
more than ``--maxCores``/``--maxMemory``/``--maxDisk`` are refused at ``issue_job``, as on
``single_machine``.
"""

from __future__ import annotations

import importlib
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar

from backends.batch.base import (
    BatchConfig,
    BatchJob,
    BatchSystem,
    Capabilities,
    ExitReason,
    UpdatedJob,
)
from backends.batch.single_machine import check_fits_ever


class InlineBatchSystem(BatchSystem):
    """Runs each job in the calling process, one at a time, when ``get_updated_job`` is
    called. Not thread-safe: call it from one thread."""

    name: ClassVar[str] = "inline"
    capabilities: ClassVar[Capabilities] = Capabilities(
        in_process=True, needs_shared_filesystem=False, isolated=False
    )

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self._next_id = 1
        self._queued: dict[int, BatchJob] = {}  # oldest first
        self._issued: dict[int, None] = {}  # ordered set: issued, not yet handed out
        self._updates: deque[UpdatedJob] = deque()
        self._running: tuple[int, float] | None = None

    def issue_job(self, job: BatchJob) -> int:
        """Queue ``job``; it runs at a later ``get_updated_job``. Returns its batch ID.

        Raises InsufficientResourcesError if it asks for more than the limits, or for
        accelerators."""
        check_fits_ever(self.name, job, self.config)
        batch_id = self._next_id
        self._next_id += 1
        self._queued[batch_id] = job
        self._issued[batch_id] = None
        return batch_id

    def kill_jobs(self, batch_ids: list[int]) -> None:
        """Drop these jobs if they have not run; each yields one KILLED update. A job that
        has run already keeps its own update."""
        for batch_id in batch_ids:
            job = self._queued.pop(batch_id, None)
            if job is not None:
                self._updates.append(
                    UpdatedJob(
                        batch_id,
                        job.job_id,
                        -signal.SIGKILL,
                        ExitReason.KILLED,
                        message="killed before it ran",
                    )
                )

    def issued_ids(self) -> list[int]:
        """Batch IDs issued and not yet handed out, oldest first."""
        return list(self._issued)

    def running_jobs(self) -> dict[int, float]:
        """The job running now (only ever seen from inside it), with its seconds."""
        if self._running is None:
            return {}
        batch_id, started = self._running
        return {batch_id: time.monotonic() - started}

    def get_updated_job(self, timeout: float) -> UpdatedJob | None:
        """A killed job's update, else the oldest queued job, run now; None at once if
        there is neither (nothing could end while waiting). Each job exactly once."""
        if not self._updates and self._queued:
            batch_id = next(iter(self._queued))
            self._updates.append(self._run(batch_id, self._queued.pop(batch_id)))
        if not self._updates:
            return None
        update = self._updates.popleft()
        self._issued.pop(update.batch_id, None)
        return update

    def shutdown(self) -> None:
        """Forget every job that has not run, so no update comes after. Idempotent."""
        self._queued.clear()
        self._issued.clear()
        self._updates.clear()

    def _run(self, batch_id: int, job: BatchJob) -> UpdatedJob:
        started = time.monotonic()
        self._running = (batch_id, started)
        status, reason, message = 0, ExitReason.FINISHED, ""
        try:
            with _environment({**self.config.environment, **job.environment}):
                _entry(job.entry)(job.locator, job.job_id)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code:
                status, reason, message = code, ExitReason.FAILED, f"sys.exit({exc.code!r})"
        except Exception:  # noqa: BLE001 (a job's failure is its update; Ctrl-C stops the run)
            status, reason, message = 1, ExitReason.FAILED, traceback.format_exc()
        finally:
            self._running = None
        return UpdatedJob(batch_id, job.job_id, status, reason, time.monotonic() - started, message)


def _entry(spec: str) -> Callable[[str, str], object]:
    """The function ``"module:function"`` names."""
    module, _, name = spec.partition(":")
    function: Callable[[str, str], object] = getattr(importlib.import_module(module), name)
    return function


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set, put back as it was afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
