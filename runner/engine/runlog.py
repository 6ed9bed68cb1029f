"""The run's story in the leader's log, as Toil tells it at INFO.

One line when the run starts (job store, batch system, work directory), one per worker job
issued, finished and failed (its name, job ID, attempt and batch-system ID), and a summary
when the leader stops. Every job line carries the job's ID, so ``grep JOBID`` on the
``--logFile`` (or on stderr) finds that job's whole story: issued, what it logged to the
leader, each retry, how it ended.

This is on the leader's hot path: each line is formatted only if INFO is enabled (the
logging call's arguments are cheap; the resources' text is built only then).
"""

from __future__ import annotations

import logging
import time

from backends.batch.base import Resources
from runner.model.records import JobRecord

log = logging.getLogger("runner.engine.leader")


def _size(value: float) -> str:
    for unit, scale in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def run_started(store: str, batch: str, work_dir: str, *, resumed: bool) -> None:
    """The first line of a run (or of its ``--restart``)."""
    log.info(
        "%s the workflow: job store %s, batch system %s, work dir %s",
        "Resuming" if resumed else "Running",
        store,
        batch,
        work_dir,
    )


class RunLog:
    """Counts and lines of one leader's run (see the module docstring)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.issued = 0
        self.finished = 0
        self.failed = 0
        self.retried = 0
        self.reused = 0
        self.info = log.isEnabledFor(logging.INFO)

    def job_issued(self, record: JobRecord, batch_id: int, resources: Resources) -> None:
        self.issued += 1
        if self.info:
            log.info(
                "Issued job '%s' %s attempt %d with batch system ID %d (cores %g, "
                "memory %s, disk %s)",
                record.display_name,
                record.id,
                record.attempts + 1,
                batch_id,
                resources.cores,
                _size(resources.memory),
                _size(resources.disk),
            )

    def job_reused(self, record: JobRecord) -> None:
        self.reused += 1
        log.debug("Reused job '%s' %s from the call cache", record.display_name, record.id)

    def job_finished(self, record: JobRecord, batch_id: int | None, wall: object) -> None:
        self.finished += 1
        if self.info:
            took = f" in {wall:.2f}s" if isinstance(wall, float) else ""
            log.info(
                "Job finished: '%s' %s attempt %d, batch system ID %s%s",
                record.display_name,
                record.id,
                record.attempts + 1,
                batch_id,
                took,
            )

    def job_retrying(self, record: JobRecord, batch_id: int | None, error: str, of: int) -> None:
        """``record`` failed and runs again (its attempt number not yet counted up)."""
        self.retried += 1
        log.warning(
            "Job failed: '%s' %s attempt %d, batch system ID %s (%s); retrying (attempt %d of %d)",
            record.display_name,
            record.id,
            record.attempts + 1,
            batch_id,
            error,
            record.attempts + 2,
            of,
        )

    def job_failed(self, record: JobRecord, batch_id: int | None, message: str) -> str:
        """The line of a job failed for good, ``message`` saying why (and its log's tail);
        logged at ERROR and returned for the run's error."""
        self.failed += 1
        where = "" if batch_id is None else f", batch system ID {batch_id}"
        text = (
            f"{record.display_name} failed ({record.id} attempt {record.attempts + 1}"
            f"{where}): {message}"
        )
        log.error("%s", text)
        return text

    def summary(self, outcome: str, jobs: int) -> None:
        """The last line: how the run ended and what it took."""
        log.info(
            "Run %s in %.1fs: %d jobs, %d issued to the batch system, %d finished, "
            "%d failed, %d retried%s",
            outcome,
            time.monotonic() - self.started,
            jobs,
            self.issued,
            self.finished,
            self.failed,
            self.retried,
            f", {self.reused} reused" if self.reused else "",
        )
