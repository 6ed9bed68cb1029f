"""The pure state machine of a run: which jobs are ready, what finishing one releases.

No I/O and no clock: the leader feeds it events (a job ran, failed, a service started) and
takes ready jobs from it, so it can be tested without processes and replayed from the
journal on restart.

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

    def take_ready(self) -> list[str]:
        """Every job ready now; they become ISSUED."""
        out = []
        while self.ready:
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

    # -- events -------------------------------------------------------------------------
    def add(self, records: Iterable[JobRecord]) -> None:
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

    def ran(
        self,
        job_id: str,
        value: bytes,
        promises: frozenset[Promise],
        new: list[JobRecord] = (),  # type: ignore[assignment]  # read-only default
    ) -> None:
        """``job_id`` ran and returned ``value`` (pickled, holding ``promises``); ``new``
        are the jobs it added (their ``parent``/``relation`` say where)."""
        job = self.jobs[job_id]
        rec = job.record
        for r in new:
            if r.parent == job_id:
                {"child": rec.children, "followon": rec.followons, "service": rec.services}[
                    r.relation
                ].append(r.id)
        job.status = Status.RAN
        job.children_left = len(rec.children)
        job.followons_left = len(rec.followons)
        job.services_left = len(rec.services)
        self.add(new)
        job.services_unstarted = sum(1 for s in rec.services if s not in self.values)
        for sid in rec.services + rec.children + rec.followons:
            sub = self.jobs[sid]
            sub.structural = self._structurally_ok(sub)
            self._maybe_ready(sub)
        if self.jobs[job_id].record.relation != "service" or job_id not in self.values:
            self._set_value(job_id, value, promises)
        self._check_done(job)

    def service_started(self, service_id: str, value: bytes) -> None:
        """A service's ``start()`` returned: its promise resolves, its host's successors
        may run."""
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

    def attempt_failed(self, job_id: str) -> bool:
        """An attempt of ``job_id`` failed; True if it will be retried (it is READY again)."""
        job = self.jobs[job_id]
        if job.record.attempts < self.retry_count:
            job.record.attempts += 1
            job.status = Status.READY
            self.ready.append(job_id)
            return True
        return False

    def failed_for_good(self, job_id: str, message: str) -> str | None:
        """``job_id`` failed with no retries left. Returns the checkpoint job that will rerun
        because of it, or None (then the failure stands)."""
        job = self.jobs[job_id]
        job.status = Status.FAILED
        ancestor = job.record.parent
        while ancestor is not None:
            anc = self.jobs[ancestor]
            if anc.record.checkpoint and anc.record.attempts < self.retry_count:
                self.reset(ancestor)
                return ancestor
            ancestor = anc.record.parent
        self.failed[job_id] = message
        return None

    def reset(self, checkpoint_id: str) -> list[str]:
        """Drop everything below a checkpoint job and make it ready to run again; the jobs
        it had before it ran come back fresh. Returns the dropped job IDs (the leader kills
        those still running)."""
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
        self.add(static)
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
