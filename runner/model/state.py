"""The pure state machine of a run: which jobs are ready, what finishing one releases.

No I/O and no clock: its only input is ``apply(event)`` (``runner.model.events``: a job
ran, failed, a service started), and the leader takes ready jobs from it, so it can be
tested without processes, and replaying the journal's events rebuilds the state the live
run had (a job handed out is ISSUED live and READY in a replay: nothing runs it there).

Readiness of a job J:
- structure (Toil's rules): a child runs after its parent ran; a follow-on after its parent
  ran and all the parent's children are *done* (done = ran, and all its children, follow-ons
  and services are done); children and follow-ons also wait for the parent's services to
  have started;
- data: every promise in J's body has a value. A job's value is its return value with the
  promises it holds resolved, so a job that returns its children's promises gets its value
  when they do.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from typing import Any

from runner.model.events import (
    AttemptFailed,
    CheckpointReset,
    Event,
    JobFailed,
    JobRan,
    RunStarted,
    ServiceStarted,
)
from runner.model.promise import Promise, loads
from runner.model.records import JobRecord


class Status(enum.Enum):
    WAITING = "waiting"
    READY = "ready"
    ISSUED = "issued"
    RAN = "ran"
    FAILED = "failed"


class _Job:
    __slots__ = (
        "children_left",
        "done",
        "followons_left",
        "forward",
        "has_value",
        "pending",
        "record",
        "services_left",
        "services_unstarted",
        "static_children",
        "static_followons",
        "static_services",
        "status",
        "stopping",
        "structural",
    )

    def __init__(self, record: JobRecord) -> None:
        self.record = record
        self.status = Status.WAITING
        self.structural = False
        self.pending: set[str] = set()
        self.has_value = False
        self.forward: tuple[bytes, frozenset[Promise]] | None = None
        self.children_left = 0
        self.followons_left = 0
        self.services_left = 0
        self.services_unstarted = 0
        self.done = False
        self.static_children = list(record.children)
        self.static_followons = list(record.followons)
        self.static_services = list(record.services)
        self.stopping = False


class StateMachine:
    """Tracks every job of a run and hands out the ones that can run."""

    def __init__(self, retry_count: int = 1) -> None:
        self.retry_count = retry_count
        self.jobs: dict[str, _Job] = {}
        self.values: dict[str, Any] = {}
        self.waiters: dict[str, list[str]] = {}
        self.ready: deque[str] = deque()
        self.failed: dict[str, str] = {}
        self.root: str | None = None
        #: services whose host's successors are done: the leader must tell them to stop
        self.to_stop: list[str] = []

    # -- queries ------------------------------------------------------------------------
    def record(self, job_id: str) -> JobRecord:
        return self.jobs[job_id].record

    def status(self, job_id: str) -> Status:
        return self.jobs[job_id].status

    def is_done(self, job_id: str) -> bool:
        return self.jobs[job_id].done

    def value_of(self, promise: Promise) -> Any:
        """The value of a resolved promise."""
        return promise.select(self.values[promise.job_id])

    def inputs_of(self, job_id: str) -> dict[Promise, Any]:
        """The values of the promises ``job_id`` needs (all resolved once it is ready)."""
        return {p: self.value_of(p) for p in self.jobs[job_id].record.needs}

    def succeeded(self) -> bool:
        """Whether the root is done with a value and nothing failed for good."""
        return (
            self.root is not None
            and self.jobs[self.root].done
            and self.root in self.values
            and not self.failed
        )

    def root_value(self) -> Any:
        assert self.root is not None
        return self.values[self.root]

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        out["done"] = 0
        for job in self.jobs.values():
            out[job.status.value] += 1
            out["done"] += job.done
        return out

    def ready_jobs(self) -> list[str]:
        """The jobs READY now, in the order they became ready (none is handed out)."""
        out = []
        for job_id in dict.fromkeys(self.ready):
            job = self.jobs.get(job_id)
            if job is not None and job.status is Status.READY:
                out.append(job_id)
        return out

    def take_ready(self, limit: int | None = None) -> list[str]:
        """The jobs ready now (at most ``limit`` of them, oldest first); they become ISSUED."""
        out: list[str] = []
        while self.ready and (limit is None or len(out) < limit):
            job_id = self.ready.popleft()
            job = self.jobs.get(job_id)
            if job is not None and job.status is Status.READY:
                job.status = Status.ISSUED
                out.append(job_id)
        return out

    def blocked_jobs(self, limit: int = 10) -> list[tuple[str, list[str]]]:
        """Jobs that wait on promises of jobs that cannot finish (for deadlock reports)."""
        out = []
        for job_id, job in self.jobs.items():
            if job.status is Status.WAITING and job.pending:
                out.append((job_id, sorted(job.pending)))
                if len(out) >= limit:
                    break
        return out

    def can_retry(self, job_id: str) -> bool:
        """Whether a failed attempt of ``job_id`` leaves it a retry."""
        return self.jobs[job_id].record.attempts < self.retry_count

    def checkpoint_to_rerun(self, job_id: str) -> str | None:
        """The nearest checkpoint ancestor of ``job_id`` with a retry left (it reruns when
        ``job_id`` fails for good), or None."""
        ancestor = self.jobs[job_id].record.parent
        while ancestor is not None:
            anc = self.jobs[ancestor]
            if anc.record.checkpoint and anc.record.attempts < self.retry_count:
                return ancestor
            ancestor = anc.record.parent
        return None

    def snapshot(self) -> dict[str, Any]:
        """Every job's state and every value, as plain data (to compare two states). The
        work queues the leader drains (``take_ready``, ``take_stop_requests``) are left out:
        each job's status and ``stopping`` flag say what they held."""
        jobs = {}
        for job_id, job in self.jobs.items():
            rec = job.record
            jobs[job_id] = {
                "status": job.status.value,
                "done": job.done,
                "has_value": job.has_value,
                "structural": job.structural,
                "pending": sorted(job.pending),
                "forward": job.forward is not None,
                "attempts": rec.attempts,
                "children": list(rec.children),
                "followons": list(rec.followons),
                "services": list(rec.services),
                "left": (
                    job.children_left,
                    job.followons_left,
                    job.services_left,
                    job.services_unstarted,
                ),
                "stopping": job.stopping,
                "parent": rec.parent,
                "relation": rec.relation,
            }
        return {
            "jobs": jobs,
            "values": dict(self.values),
            "failed": dict(self.failed),
            "root": self.root,
            "waiters": {k: sorted(v) for k, v in self.waiters.items() if v},
        }

    # -- the input: events ----------------------------------------------------------------
    def apply(self, event: Event) -> None:
        """Change the state by ``event``: the one input of a live run and of a replay.

        Events about jobs this state does not hold, or a second ``JobRan`` of a job, are
        ignored: a damaged journal (whose lost batches are skipped) may hold them, and the
        lost jobs then simply run again. Events of a later run of the same store (after a
        restart) supersede a failure: a failed job that runs or fails an attempt again is
        no longer failed."""
        if isinstance(event, JobRan):
            job = self.jobs.get(event.job_id)
            if job is not None and job.status is not Status.RAN:
                self.failed.pop(event.job_id, None)
                self._ran(job, event.value, event.promises, event.new)
        elif isinstance(event, RunStarted):
            self._add(event.records)
        elif isinstance(event, AttemptFailed):
            job = self.jobs.get(event.job_id)
            if job is not None:
                job.record.attempts = event.attempts
                if job.status in (Status.ISSUED, Status.FAILED):
                    self._ready_again(job)
        elif isinstance(event, JobFailed):
            job = self.jobs.get(event.job_id)
            if job is not None:
                job.status = Status.FAILED
                self.failed[event.job_id] = event.message
        elif isinstance(event, ServiceStarted) and event.job_id in self.jobs:
            self._service_started(event.job_id, event.value)
        elif isinstance(event, CheckpointReset) and event.job_id in self.jobs:
            self._reset(event.job_id)
        # JobStats: figures only

    def issue(self, job_id: str) -> None:
        """Hand out the READY job ``job_id`` by itself (it becomes ISSUED), as
        ``take_ready`` does with all of them."""
        job = self.jobs[job_id]
        if job.status is not Status.READY:
            raise ValueError(f"job {job_id} is {job.status.value}, not ready")
        job.status = Status.ISSUED

    def revive_failed(self) -> list[str]:
        """Make every job that failed for good ready to run again with all its retries (a
        restart does this). Returns their IDs."""
        revived = list(self.failed)
        for job_id in revived:
            job = self.jobs[job_id]
            job.record.attempts = 0
            self._ready_again(job)
        return revived

    def take_stop_requests(self) -> list[str]:
        """The services the leader must now tell to stop (each once)."""
        out, self.to_stop = self.to_stop, []
        return out

    def _ready_again(self, job: _Job) -> None:
        self.failed.pop(job.record.id, None)
        job.status = Status.READY
        self.ready.append(job.record.id)

    def _add(self, records: Iterable[JobRecord]) -> None:
        """Register new jobs (a batch may reference each other's promises)."""
        batch = [r for r in records if r.id not in self.jobs]
        for record in batch:
            self.jobs[record.id] = _Job(record)
            if record.relation == "root":
                self.root = self.root or record.id
        for record in batch:
            job = self.jobs[record.id]
            for promise in record.needs:
                producer = promise.job_id
                if producer not in self.values and producer not in job.pending:
                    job.pending.add(producer)
                    self.waiters.setdefault(producer, []).append(record.id)
            job.structural = self._structurally_ok(job)
            self._maybe_ready(job)

    def _ran(
        self, job: _Job, value: bytes, promises: frozenset[Promise], new: Iterable[JobRecord]
    ) -> None:
        rec = job.record
        job_id = rec.id
        new = list(new)
        for r in new:
            if r.parent == job_id:
                {"child": rec.children, "followon": rec.followons, "service": rec.services}[
                    r.relation
                ].append(r.id)
        job.status = Status.RAN
        job.children_left = len(rec.children)
        job.followons_left = len(rec.followons)
        job.services_left = len(rec.services)
        self._add(new)
        job.services_unstarted = sum(1 for s in rec.services if s not in self.values)
        for sid in rec.services + rec.children + rec.followons:
            sub = self.jobs[sid]
            sub.structural = self._structurally_ok(sub)
            self._maybe_ready(sub)
        if rec.relation != "service" or job_id not in self.values:
            self._set_value(job_id, value, promises)
        self._check_done(job)

    def _service_started(self, service_id: str, value: bytes) -> None:
        job = self.jobs[service_id]
        if service_id in self.values:
            return
        self._set_value(service_id, value, frozenset())
        host = self.jobs[job.record.parent] if job.record.parent else None
        if host is not None:
            host.services_unstarted -= 1
            if host.services_unstarted == 0:
                for sid in host.record.children + host.record.followons:
                    sub = self.jobs[sid]
                    sub.structural = self._structurally_ok(sub)
                    self._maybe_ready(sub)
                self._maybe_stop_services(host)

    def _reset(self, checkpoint_id: str) -> list[str]:
        """Drop everything below a checkpoint job and make it ready to run again; the jobs
        it had before it ran come back fresh. Returns the dropped job IDs. (Called by
        ``apply(CheckpointReset)``.)"""
        cp = self.jobs[checkpoint_id]
        static: list[JobRecord] = []
        walk = list(cp.static_children + cp.static_followons + cp.static_services)
        while walk:
            sub = self.jobs[walk.pop()]
            static.append(sub.record)
            walk.extend(sub.static_children + sub.static_followons + sub.static_services)
        dropped: list[str] = []
        stack = list(cp.record.children + cp.record.followons + cp.record.services)
        while stack:
            jid = stack.pop()
            gone = self.jobs.pop(jid, None)
            if gone is None:
                continue
            dropped.append(jid)
            self.values.pop(jid, None)
            self.failed.pop(jid, None)
            stack.extend(gone.record.children + gone.record.followons + gone.record.services)
        for job in (cp, *(_Job(r) for r in static)):
            job.record.children = list(job.static_children)
            job.record.followons = list(job.static_followons)
            job.record.services = list(job.static_services)
        cp.record.attempts += 1
        self.values.pop(checkpoint_id, None)
        cp.has_value = False
        cp.forward = None
        cp.done = False
        cp.status = Status.READY
        self.ready.append(checkpoint_id)
        for record in static:
            record.attempts = 0
        self._add(static)
        return dropped

    # -- internals ------------------------------------------------------------------------
    def _structurally_ok(self, job: _Job) -> bool:
        rec = job.record
        if rec.parent is None or rec.relation == "root":
            return True
        parent = self.jobs.get(rec.parent)
        if parent is None or parent.status is not Status.RAN:
            return False
        if rec.relation == "service":
            return True
        if parent.services_unstarted > 0:
            return False
        if rec.relation == "followon":
            return parent.children_left == 0
        return True

    def _maybe_ready(self, job: _Job) -> None:
        if job.status is Status.WAITING and job.structural and not job.pending:
            job.status = Status.READY
            self.ready.append(job.record.id)

    def _set_value(self, job_id: str, value: bytes, promises: frozenset[Promise]) -> None:
        job = self.jobs[job_id]
        missing = {p.job_id for p in promises if p.job_id not in self.values}
        if missing:
            job.forward = (value, promises)
            job.pending = missing
            for producer in missing:
                self.waiters.setdefault(producer, []).append(job_id)
            return
        self.values[job_id] = loads(value, {p: self.value_of(p) for p in promises})
        job.has_value = True
        job.forward = None
        self._release(job_id)

    def _release(self, producer: str) -> None:
        for waiter_id in self.waiters.pop(producer, ()):
            waiter = self.jobs.get(waiter_id)
            if waiter is None:
                continue
            waiter.pending.discard(producer)
            if waiter.pending:
                continue
            if waiter.forward is not None:
                self._set_value(waiter_id, *waiter.forward)
                self._check_done(waiter)
            else:
                self._maybe_ready(waiter)

    def _check_done(self, job: _Job) -> None:
        while True:
            if job.done or job.status is not Status.RAN:
                return
            if job.children_left or job.followons_left:
                return
            if job.services_left:
                self._maybe_stop_services(job)
                return
            if job.forward is not None:
                return
            job.done = True
            parent = self.jobs.get(job.record.parent) if job.record.parent else None
            if parent is None:
                return
            if job.record.relation == "child":
                parent.children_left -= 1
                if parent.children_left == 0:
                    for fid in parent.record.followons:
                        sub = self.jobs[fid]
                        sub.structural = self._structurally_ok(sub)
                        self._maybe_ready(sub)
            elif job.record.relation == "followon":
                parent.followons_left -= 1
            elif job.record.relation == "service":
                parent.services_left -= 1
            job = parent

    def _maybe_stop_services(self, host: _Job) -> None:
        if host.status is not Status.RAN or host.children_left or host.followons_left:
            return
        for sid in host.record.services:
            sub = self.jobs[sid]
            if not sub.stopping and not sub.done:
                sub.stopping = True
                self.to_stop.append(sid)
