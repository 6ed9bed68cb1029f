"""What `toil status` knows about a run, read from its job store without changing it.

``load_run_view(store)`` answers from the leader's snapshot (``runner.engine.snapshot``) when it
can trust it: the leader is alive, or it wrote a final one on its way out. Otherwise (a
leader killed with SIGKILL, or a store from before snapshots) it replays the journal, which
is exact but costs time in proportion to the run. Either way it only reads: the shared
blobs, the journal, the job logs, and a non-blocking probe of which jobs a worker runs now.

Whether the leader is alive: a live leader holds the store's lease (``lease_holder``: pid,
host, since when), which dies with it, on any host. The store's ``status`` blob says how the
last leader left (``running``: it never said, so it was killed).
"""

from __future__ import annotations

import importlib
import pickle
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Self

import psutil

from backends.errors import BackendError
from backends.jobstore.base import JobStore, LeaseHolder
from runner.config.runconfig import RunConfig, decode
from runner.engine import names
from runner.engine.journal import replay
from runner.engine.snapshot import STATES, build_snapshot, read_snapshot
from runner.model import promise
from runner.model.state import Status

LOG_TAIL_LINES = 20
#: most ready jobs probed for a running worker when no snapshot says which were issued
MAX_PROBES = 5000
COLUMNS = ("done", "running", "issued", "ready", "waiting", "failed")


@dataclass
class JobBrief:
    """One job worth naming in a status report."""

    id: str
    name: str
    display_name: str
    attempts: int = 0
    message: str = ""
    running: bool = False
    log_location: str = ""
    log_tail: list[str] = field(default_factory=list)


@dataclass
class RunView:
    """A run as `toil status` shows it. ``state`` is one of ``missing``, ``not started``,
    ``running``, ``succeeded``, ``failed``, ``stopped`` (resumable with --restart)."""

    locator: str
    state: str
    detail: str
    leader: dict[str, Any] = field(default_factory=dict)
    total: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))
    by_name: dict[str, dict[str, int]] = field(default_factory=dict)
    issued: list[JobBrief] = field(default_factory=list)
    failed: list[JobBrief] = field(default_factory=list)
    #: "snapshot" (the leader's summary, ``as_of`` its time) or "journal" (exact replay)
    source: str = ""
    as_of: float | None = None

    @property
    def complete(self) -> bool:
        return self.state == "succeeded"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``dataclasses.asdict`` is 10x slower on 2,000 issued jobs)."""
        out = dict(vars(self))
        out["issued"] = [dict(vars(job)) for job in self.issued]
        out["failed"] = [dict(vars(job)) for job in self.failed]
        out["complete"] = self.complete
        return out


def read_status(store: JobStore) -> dict[str, Any] | None:
    """The leader's ``status`` blob (state, pid, host, time), or None if never written."""
    if not store.shared_exists(names.STATUS):
        return None
    try:
        status: dict[str, Any] = pickle.loads(store.read_shared(names.STATUS))
    except (BackendError, OSError, pickle.UnpicklingError, EOFError):
        return None
    return status


def read_config(store: JobStore) -> RunConfig | None:
    """The run's configuration, or None if it has none. Raises UsageError for one this
    moil cannot read."""
    if not store.shared_exists(names.CONFIG):
        return None
    return decode(store.read_shared(names.CONFIG))


def live_leader(store: JobStore) -> LeaseHolder | None:
    """The holder of the store's lease (its live leader, or ``toil clean``), or None."""
    try:
        return store.lease_holder()
    except (BackendError, OSError):
        return None


def leader_alive(status: dict[str, Any] | None) -> bool | None:
    """For a store without a lease holder: True/False for a leader recorded as running on
    this host (an older moil's leader, which held no lease); None if it runs on another host
    (cannot be checked); False if the status is not ``running``."""
    if not status or status.get("state") != "running":
        return False
    if status.get("host") != socket.gethostname():
        return None
    try:
        process = psutil.Process(int(status["pid"]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        # a pid reused by a process younger than the run is not our leader
        started = float(status.get("time", time.time()))
        return bool(process.create_time() <= started + 1.0)
    except (psutil.Error, KeyError, ValueError, TypeError):
        return False


def load_run_view(
    store: JobStore, *, exact: bool = False, probe: bool = True, tail_lines: int = LOG_TAIL_LINES
) -> RunView:
    """The run in ``store`` (see the module docstring). ``exact`` forces a journal replay;
    ``probe`` checks which issued jobs a worker runs now."""
    if not store.exists():
        return RunView(store.locator, "missing", f"there is no job store at {store.locator}")
    store.open()
    status = read_status(store)
    holder = live_leader(store)
    alive = True if holder is not None else leader_alive(status)
    snapshot = None if exact else read_snapshot(store)
    if snapshot is not None and not (snapshot.get("final") or alive is not False):
        snapshot = None  # the leader died without a final word: count from the journal
    view = RunView(store.locator, *_run_state(status, alive, snapshot, holder))
    if status:
        view.leader = {k: status.get(k) for k in ("pid", "host", "time")} | {"alive": alive}
    if holder is not None:
        view.leader = {
            "pid": holder.pid,
            "host": holder.host,
            "time": holder.since,
            "alive": True,
            "lease": holder.to_json(),
        }
    if snapshot is None:
        if view.state == "not started" and not _has_records(store):
            return view
        snapshot = _replay_snapshot(store, probe=probe)
        view.source = "journal"
    else:
        view.source, view.as_of = "snapshot", float(snapshot["time"])
    _fill(view, snapshot, store, probe=probe, tail_lines=tail_lines)
    return view


def _run_state(
    status: dict[str, Any] | None,
    alive: bool | None,
    snapshot: dict[str, Any] | None,
    holder: LeaseHolder | None,
) -> tuple[str, str]:
    if holder is not None:
        return "running", f"the leader is running ({holder.describe()})"
    if status is None:
        return "not started", "the workflow has not started running"
    where = f"pid {status.get('pid')} on {status.get('host')}"
    state = status.get("state")
    if state == "succeeded":
        return "succeeded", "the workflow finished successfully"
    if state == "running":
        if alive is False:
            return "stopped", (f"the leader ({where}) is gone; resume the run with --restart")
        if alive is None:
            return "running", f"the leader runs on another host ({where})"
        return "running", f"the leader is running ({where})"
    reason = (snapshot or {}).get("stop_reason")
    if reason:
        return "stopped", f"the run was stopped ({reason}); resume it with --restart"
    return "failed", "the workflow failed; rerun a job with `toil debug-job`, resume with --restart"


def _has_records(store: JobStore) -> bool:
    return next(iter(store.read_records()), None) is not None


def _replay_snapshot(store: JobStore, *, probe: bool) -> dict[str, Any]:
    """A snapshot built by replaying the journal: failed jobs come back from their events,
    and (``probe``) ready jobs that a worker still runs (orphans of a dead leader, or a
    leader that has not written a snapshot yet) count as issued."""
    saved = promise.class_finder
    promise.class_finder = _tolerant_find_class  # never run the user's __main__ here
    try:
        state = replay(store, 0)
    finally:
        promise.class_finder = saved
    running: list[str] = []
    if probe:
        ready = [j for j, job in state.jobs.items() if job.status is Status.READY]
        running = [j for j in ready[:MAX_PROBES] if store.job_is_running(j)]
    return build_snapshot(state, running)


def _fill(
    view: RunView, snapshot: dict[str, Any], store: JobStore, *, probe: bool, tail_lines: int
) -> None:
    view.total = int(snapshot["total"])
    view.by_name = {n: dict.fromkeys(COLUMNS, 0) | c for n, c in snapshot["by_name"].items()}
    view.counts = dict.fromkeys(COLUMNS, 0) | {s: snapshot["counts"][s] for s in STATES}
    view.issued = [_brief(j) for j in snapshot["issued"]]
    if probe:
        for job in view.issued:
            job.running = store.job_is_running(job.id)
            if job.running:
                _move(view, job.name, "issued", "running")
    for entry in snapshot["failed"]:
        job = _brief(entry)
        job.message = entry.get("message", "")
        job.log_location = store.job_log_location(job.id)
        job.log_tail = log_tail(store, job.id, tail_lines)
        view.failed.append(job)


def _move(view: RunView, name: str, source: str, target: str) -> None:
    view.counts[source] -= 1
    view.counts[target] += 1
    counts = view.by_name.get(name)
    if counts is not None:
        counts[source] -= 1
        counts[target] += 1


def _brief(entry: dict[str, Any]) -> JobBrief:
    return JobBrief(
        id=entry["id"],
        name=entry["name"],
        display_name=entry["display_name"],
        attempts=int(entry.get("attempts", 0)),
    )


def log_tail(store: JobStore, job_id: str, lines: int) -> list[str]:
    """The last ``lines`` lines of a job's log (empty if it has none)."""
    data = store.read_job_log(job_id)
    if not data or lines <= 0:
        return []
    return data.decode(errors="replace").rstrip().splitlines()[-lines:]


class _Unknown:
    """Stands for an object whose class cannot be loaded here (a user's ``__main__``)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __getitem__(self, key: Any) -> _Unknown:
        return _Unknown()

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


def _tolerant_find_class(module: str, name: str) -> Any:
    if module == "__main__":
        return _Unknown
    try:
        return getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 (any class we cannot load is only counted, not used)
        return _Unknown
