"""The leader: drives the state machine against a job store and a batch system.

Only the leader appends job records. For each ready job it either runs it in-process
(``local`` jobs: cheap expressions, scatter expansion) or hands it to a worker through the
store and the batch system (``runner.engine.handoff``); for each finished job it reads the
worker's result, decides what it means (ran, retry, failed for good, checkpoint rerun) and
records that as an event (``runner.engine.journal``), which is how the state changes.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import time
from typing import Any

from backends.batch.base import BatchSystem, ExitReason, Resources, UpdatedJob
from backends.jobstore.base import JobStore, Lease
from runner.cache.decide import Previous, make_decider
from runner.cli.progress import Progress
from runner.config.runconfig import RunConfig
from runner.config.units import parse_accelerators
from runner.engine import handoff, names
from runner.engine.execute import execute
from runner.engine.handoff import JobInput, JobResult
from runner.engine.joblogs import keep_job_log
from runner.engine.journal import Journal
from runner.engine.runlog import RunLog
from runner.engine.snapshot import SnapshotWriter
from runner.errors import MoilError, WorkflowFailed
from runner.jobenv import secrets
from runner.model.events import (
    AttemptFailed,
    CheckpointReset,
    JobFailed,
    JobRan,
    JobStats,
    ServiceStarted,
)
from runner.model.graph import ResourceSpec
from runner.model.promise import loads
from runner.model.records import JobRecord
from runner.model.state import StateMachine

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 30
#: the longest a finished job's hand-off waits to be cleared with others (the store's
#: ``clear_together``)
CLEAR_SECONDS = 5.0
#: how long the leader may hold finished jobs' records before appending them, when no job
#: waits to start (fewer appends: one request each on an object store)
JOURNAL_SECONDS = 1.0


class Interrupted(MoilError):
    """The run was stopped by a signal or ``toil kill``; the store is kept for --restart.

    Exit code: 128 + the signal's number (SIGINT 130, SIGTERM 143), 130 for ``toil kill``."""

    exit_code = 130

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Leader:
    """One run of the loop over a state machine already loaded with the run's jobs."""

    def __init__(
        self,
        store: JobStore,
        batch: BatchSystem,
        state: StateMachine,
        config: RunConfig,
        previous: Previous | None = None,
    ) -> None:
        self.store = store
        self.batch = batch
        self.state = state
        self.config = config
        self.issued: dict[int, str] = {}
        #: for --stats: job ID -> (batch ID, when it was issued, what it asked for)
        self.issue_facts: dict[str, tuple[int, float, Resources]] = {}
        self.services: set[str] = set()
        self.journal = Journal(store, state)
        #: jobs whose result ``handle`` took and whose hand-off ``settle`` clears
        self.done_io: dict[str, None] = {}
        self.done_since = 0.0
        self.defaults = Resources(
            cores=config.default_cores,
            memory=config.default_memory,
            disk=config.default_disk,
            accelerators=parse_accelerators(config.default_accelerators or ""),
            preemptible=config.default_preemptible,
        )
        self.stop_reason: str | None = None
        #: --stopOnFirstFailure: a job failed for good; the run ends (failed)
        self.stopping = False
        #: --doubleMem: what a job's memory is multiplied by (2 ** attempts killed for it)
        self.memory_factor: dict[str, int] = {}
        #: --retryBackoffSeconds: when a retried job may start (monotonic), and the retries
        #: taken from the state machine that wait for that
        self.backoff: dict[str, float] = {}
        self.held: list[str] = []
        self.stop_code = 130
        self.progress = Progress(enabled=not config.disable_progress)
        self.last_kill_check = 0.0
        self.errors: list[str] = []
        #: the exit codes the failures of the jobs that failed for good call for
        self.failure_codes: set[int] = set()
        self.snapshot = SnapshotWriter(store)
        #: the store's lease, kept alive from the loop (set by runner.engine.run)
        self.lease: Lease | None = None
        #: reuse decisions: the call cache, and ``previous`` results of an edited run
        self.cache = make_decider(store, config, previous)
        #: the run's story at INFO: a line per job issued, finished, failed; the summary
        self.story = RunLog()

    # -- main loop ------------------------------------------------------------------------
    def run(self) -> Any:
        """Run until nothing more can run. Returns the root's value or raises."""
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self.progress.start(self.state)
        try:
            self._loop()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            self.progress.stop()
            self.snapshot.write_final(self.state, self.stop_reason)
            if self.cache is not None:
                self.cache.close()
                log.info("%s", self.cache.summary())
            self.story.summary(self._outcome(), len(self.state.jobs))
        if self.stop_reason is not None:
            raise Interrupted(
                f"run stopped ({self.stop_reason}); resume it with --restart", self.stop_code
            )
        if self.state.succeeded():
            return self.state.root_value()
        if not self.state.failed:
            blocked = self.state.blocked_jobs()
            detail = "; ".join(
                f"{self.state.record(j).name} waits for {', '.join(p[:8] for p in ps)}"
                for j, ps in blocked
            )
            raise WorkflowFailed(
                f"the run cannot go on: jobs wait on results never made ({detail})"
            )
        names = [self.state.record(j).display_name for j in self.state.failed]
        raise WorkflowFailed(
            f"{len(names)} job(s) failed: {', '.join(names[:10])}"
            + ("" if len(names) <= 10 else ", ..."),
            failed_jobs=list(self.state.failed),
            details="\n".join(self.errors),
            job_exit_codes=frozenset(self.failure_codes),
        )

    def _outcome(self) -> str:
        if self.stop_reason is not None:
            return f"stopped ({self.stop_reason})"
        if self.state.succeeded():
            return "finished successfully"
        return "failed"

    def _room(self) -> int | None:
        """How many more jobs may be issued now (--maxJobs; None: no limit)."""
        limit = self.config.max_jobs
        return None if not limit else max(0, limit - len(self.issued))

    def _take_ready(self) -> list[str]:
        """The jobs to start now: ready ones (--maxJobs permitting) whose retry is not held
        back (--retryBackoffSeconds), and held ones whose time has come."""
        now = time.monotonic()
        due = [j for j in self.held if self.backoff[j] <= now]
        for job_id in due:
            self.held.remove(job_id)
            del self.backoff[job_id]
        for job_id in self.state.take_ready(self._room()):
            if self.backoff.get(job_id, 0.0) > now:
                self.held.append(job_id)
            else:
                self.backoff.pop(job_id, None)
                due.append(job_id)
        return due

    def _loop(self) -> None:
        while self.stop_reason is None and not self.stopping:
            for job_id in self._take_ready():
                self._start(job_id)
            self.settle()
            self._stop_services()
            if not self.issued and not self.state.ready and not self.held:
                self.settle(clear=True)
                break
            if self.state.ready and self._room() != 0:
                timeout = 0.0
            elif self.services:
                timeout = 0.2
            else:
                timeout = 1.0
            if self.held:
                first = min(self.backoff[j] for j in self.held)
                timeout = min(timeout, max(0.0, first - time.monotonic()))
            update = self.batch.get_updated_job(timeout)
            while update is not None:
                self._finished(update)
                update = self.batch.get_updated_job(0)
            self.settle()
            if self.services:
                self._poll_services()
            self._check_kill_flag()
            self.progress.update(self.state, self.batch.running_count())
            self.snapshot.maybe_write(self.state, self.issued.values())
        if self.stop_reason is not None or self.stopping:
            self.settle(clear=True)
            self.batch.kill_jobs(list(self.issued))

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_reason = signal.Signals(signum).name
        self.stop_code = 128 + signum

    def _check_kill_flag(self) -> None:
        now = time.monotonic()
        if now - self.last_kill_check < self.store.flag_poll_seconds:
            return
        self.last_kill_check = now
        if self.lease is not None:
            self.lease.keep()
        if self.store.shared_exists(names.KILL_REQUEST):
            self.store.delete_shared(names.KILL_REQUEST)
            self.stop_reason = "killed by toil kill"

    # -- starting jobs ------------------------------------------------------------------------
    def _start(self, job_id: str) -> None:
        record = self.state.record(job_id)
        values = self.state.inputs_of(job_id)
        job = JobInput.of(record, values)
        if record.local:
            self.handle(record, execute(self.store, job, self.config, log))
            return
        if self.config.debug_worker:  # in this process, for a debugger (Toil's --debugWorker)
            job.local = True
            self.handle(record, execute(self.store, job, self.config))
            return
        try:
            spec: ResourceSpec = loads(record.resources, values)
            resources = spec.resolve(self.defaults)
            factor = self.memory_factor.get(job_id)
            if factor:  # --doubleMem: an attempt was killed for its memory
                resources = dataclasses.replace(resources, memory=resources.memory * factor)
            job.memory = resources.memory
        except Exception as exc:  # noqa: BLE001 (a bad promised requirement fails the job)
            self.handle(record, JobResult(ok=False, error=f"resources: {exc}", retryable=False))
            return
        if self.cache is not None and record.cache:
            cached = self.cache.lookup(record, values, resources)
            if cached is not None:
                self.story.job_reused(record)
                self.handle(record, cached)
                return
        if record.id in self.done_io:  # a retry: its last attempt's hand-off goes first
            self.settle(clear=True)
        handoff.write_input(self.store, job)
        batch_job = handoff.worker_job(self.store, record, resources, self.config.max_job_duration)
        issued_at = time.time()  # before: a pool worker may start it before issue_job returns
        try:
            batch_id = self.batch.issue_job(batch_job)
        except Exception as exc:  # noqa: BLE001 (InsufficientResources and kin)
            self.handle(record, JobResult(ok=False, error=str(exc), retryable=False))
            return
        self.issued[batch_id] = job_id
        self.story.job_issued(record, batch_id, resources)
        if self.config.stats:
            self.issue_facts[job_id] = (batch_id, issued_at, resources)
        if record.relation == "service":
            self.services.add(job_id)

    # -- finishing jobs -----------------------------------------------------------------------
    def _finished(self, update: UpdatedJob) -> None:
        job_id = self.issued.pop(update.batch_id, None)
        if job_id is None or job_id not in self.state.jobs:
            return
        self.services.discard(job_id)
        result = handoff.read_result(self.store, job_id, self.state.record(job_id).display_name)
        if result is None:
            reason = _exit_message(update)
            result = JobResult(
                ok=False,
                error=reason,
                retryable=update.exit_reason is not ExitReason.ERROR,
                over_memory=update.exit_reason is ExitReason.MEMLIMIT,
            )
            if self.config.stats:  # the worker never reported: what the batch system says
                result.stats = {
                    "wall": float(update.wall_time or 0.0),
                    "cpu": 0.0,
                    "rss_kib": 0.0,
                    "ok": 0.0,
                    "exit_code": float(update.exit_status),
                }
        self.handle(self.state.record(job_id), result, update.batch_id)

    def handle(self, record: JobRecord, result: JobResult, batch_id: int | None = None) -> None:
        """Take the result of ``record``'s attempt (ISSUED): journal and apply what it
        means (it ran, will be retried, failed for good, or reruns a checkpoint).
        ``batch_id``: the batch system's ID of the attempt, if it was issued there."""
        for text, level in result.messages:
            log.log(level, "%s %s: %s", record.display_name, record.id, text)
        if self.config.stats and result.stats:
            stats = self._stats_of(record, result)
            self.journal.record(JobStats(record.id, record.name, stats))
        keep_job_log(self.store, record, result, self.config)  # before a retry counts up
        if result.ok:
            if self.cache is not None and not record.local:
                self.cache.finished(record, result)
            event = JobRan(record.id, result.value, result.promises, tuple(result.new))
            self.journal.record(event)
            if not record.local:
                self.story.job_finished(record, batch_id, result.stats.get("wall"))
        else:
            self._failed(record, result, batch_id)
        if not record.local:
            if not self.done_io:
                self.done_since = time.monotonic()
            self.done_io[record.id] = None

    def settle(self, clear: bool = False) -> None:
        """Make what ``handle`` recorded durable: one journal append for the jobs taken
        since the last one, before any job they made ready starts, else once the oldest
        record has waited JOURNAL_SECONDS. Then, with ``clear`` or once the store's
        ``clear_together`` jobs or CLEAR_SECONDS have gathered, clear their hand-offs in one
        go. A hand-off is only
        cleared after its outcome is in the journal, so the results of jobs whose records
        a dying leader had not appended are still there for the restart to take
        (``adopt_orphan_results``), which also clears what is left."""
        journal = self.journal
        if journal.pending and not (
            clear or self.state.ready or time.monotonic() - journal.since >= JOURNAL_SECONDS
        ):
            return
        journal.flush()
        if not self.done_io:
            return
        if (
            clear
            or len(self.done_io) >= self.store.clear_together
            or (time.monotonic() - self.done_since >= CLEAR_SECONDS)
        ):
            self.store.clear_jobs_io(list(self.done_io))
            self.done_io = {}

    def _stats_of(self, record: JobRecord, result: JobResult) -> dict[str, float | str]:
        """The worker's figures of an attempt, with what only the leader knows: when it was
        issued, its batch ID and requested resources, its attempt, name and error."""
        stats = dict(result.stats)
        stats["attempt"] = float(record.attempts)
        if record.display_name != record.name:
            stats["display"] = record.display_name
        facts = self.issue_facts.pop(record.id, None)
        if facts is not None:
            batch_id, issued, resources = facts
            stats.update(
                batch_id=float(batch_id),
                queued=issued,
                cores=float(resources.cores),
                memory=float(resources.memory),
                disk=float(resources.disk),
            )
        if not result.ok and result.error:
            stats["error"] = secrets.redact(result.error)[:4000]
        return stats

    def _failed(self, record: JobRecord, result: JobResult, batch_id: int | None) -> None:
        if result.retryable and self.state.can_retry(record.id):
            self.story.job_retrying(record, batch_id, result.error, self.state.retry_count + 1)
            self.journal.record(AttemptFailed(record.id, record.attempts + 1))
            more = ""
            if result.over_memory and self.config.double_mem:
                factor = self.memory_factor[record.id] = 2 * self.memory_factor.get(record.id, 1)
                more = f" with {factor} times its memory (--doubleMem)"
            delay = self.config.retry_backoff_seconds * (
                self.config.retry_backoff_factor ** max(0, record.attempts - 1)
            )
            if delay > 0:
                self.backoff[record.id] = time.monotonic() + delay
                more += f" in {delay:g} s (--retryBackoffSeconds)"
            if more:
                log.warning("'%s' %s: retrying%s", record.display_name, record.id, more)
            return
        checkpoint = self.state.checkpoint_to_rerun(record.id)
        if checkpoint is not None:
            log.warning(
                "%s failed; rerunning checkpoint %s",
                record.display_name,
                self.state.record(checkpoint).display_name,
            )
            self.journal.record(CheckpointReset(checkpoint))
            return
        self.failure_codes.add(result.exit_code)
        message = result.error
        if not record.local:
            message += self._log_tail(record.id, result.error)
        self.errors.append(self.story.job_failed(record, batch_id, message))
        self.journal.record(JobFailed(record.id, result.error))
        if self.config.stop_on_first_failure and not self.stopping:
            self.stopping = True
            log.error(
                "stopping the run at its first failed job (--stopOnFirstFailure); %d "
                "other job(s) running are killed",
                len(self.issued),
            )

    def _log_tail(self, job_id: str, error: str) -> str:
        """The last lines of the job's log and its path; without the log's last entry if
        that is the worker's record of ``error`` itself (shown already)."""
        data = self.store.read_job_log(job_id)
        if not data:
            return ""
        lines = data.decode(errors="replace").rstrip().splitlines()
        first = f"ERROR {error.splitlines()[0]}" if error else None
        for index in range(len(lines) - 1, max(-1, len(lines) - 200), -1):
            if first is not None and lines[index].endswith(first) and lines[index][:1] == "[":
                lines = lines[:index]
                break
        where = self.store.job_log_location(job_id)
        if not lines:
            return f"\n  full log: {where}"
        shown = lines[-LOG_TAIL_LINES:]
        return "\n  | " + "\n  | ".join(shown) + f"\n  full log: {where}"

    # -- services -------------------------------------------------------------------------
    def _poll_services(self) -> None:
        for sid in list(self.services):
            name = names.service_started(sid)
            if sid not in self.state.values and self.store.shared_exists(name):
                self.journal.record(ServiceStarted(sid, self.store.read_shared(name)))

    def _stop_services(self) -> None:
        for sid in self.state.take_stop_requests():
            self.store.write_shared(names.service_stop(sid), b"stop")


def _exit_message(update: UpdatedJob) -> str:
    reasons = {
        ExitReason.KILLED: "the worker was killed",
        ExitReason.LOST: "the batch system lost the job",
        ExitReason.ERROR: "the batch system could not run the job",
        ExitReason.MEMLIMIT: "killed for using more memory than it asked for",
        ExitReason.TIMELIMIT: "killed for running past its time limit",
        ExitReason.FAILED: "the worker failed",
        ExitReason.FINISHED: "the worker finished without writing a result",
    }
    text = reasons[update.exit_reason]
    if update.exit_status < 0:
        text += f" (signal {-update.exit_status})"
    elif update.exit_status:
        text += f" (exit status {update.exit_status})"
    return text + (f": {update.message}" if update.message else "")
