"""A summary of a run's jobs that the leader keeps in the store, so `toil status` is instant.

Replaying the journal gives the exact state of a run but costs seconds for 100,000 jobs
(every record is unpickled). The leader already holds that state, so it writes a small JSON
summary as the shared blob ``names.SNAPSHOT``: counts of jobs by state and by job name, the
jobs it has issued, and the failed ones. It writes one when something changed, at most
every ``MIN_INTERVAL`` seconds and never more often than ``COST_FACTOR`` times the time the
last one took to build (so a huge run spends at most ~2% of the leader on it), and a final
one when its loop ends (``final``: true, with the reason it stopped early if it did).

A leader killed with SIGKILL leaves a snapshot up to a few seconds old with ``final`` false;
``runner.views.runview`` then falls back to replaying the journal.

States (one per job): ``done`` (the job ran; its successors may still be pending),
``issued`` (handed to the batch system: queued there or running), ``ready`` (may run now),
``waiting`` (for its parent, its parent's children, or the values it needs), ``failed``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from backends.jobstore.base import JobStore
from runner.engine import names
from runner.model.state import StateMachine, Status

log = logging.getLogger(__name__)

STATES = ("done", "issued", "ready", "waiting", "failed")
MIN_INTERVAL = 1.0
COST_FACTOR = 50.0
#: caps that keep a snapshot small whatever the run (names beyond go to OTHER_NAMES)
MAX_NAMES = 1000
MAX_LISTED = 2000
OTHER_NAMES = "(other names)"

_INDEX = {
    Status.RAN: 0,
    Status.ISSUED: 1,
    Status.READY: 2,
    Status.WAITING: 3,
    Status.FAILED: 4,
}


def build_snapshot(
    state: StateMachine,
    issued: Iterable[str],
    *,
    final: bool = False,
    stop_reason: str | None = None,
) -> dict[str, Any]:
    """The summary of ``state`` (see the module docstring). ``issued`` are the IDs of jobs
    handed to the batch system (ignored when ``final``)."""
    failed = state.failed
    issued_ids = [] if final else [j for j in issued if j in state.jobs]
    issued_set = set(issued_ids)
    by_name: dict[str, list[int]] = {}
    for job_id, job in state.jobs.items():
        if job_id in failed:
            index = 4
        elif job_id in issued_set and job.status is not Status.RAN:
            index = 1
        else:
            index = _INDEX[job.status]
            if index == 1 and final:
                index = 2  # the leader is gone: what it had issued is ready again
        counts = by_name.get(job.record.name)
        if counts is None:
            counts = by_name[job.record.name] = [0, 0, 0, 0, 0]
        counts[index] += 1
    totals = [sum(column) for column in zip(*by_name.values(), strict=True)] or [0] * 5
    return {
        "version": 1,
        "time": time.time(),
        "final": final,
        "stop_reason": stop_reason,
        "total": len(state.jobs),
        "counts": dict(zip(STATES, totals, strict=True)),
        "by_name": _capped(by_name),
        "issued": [_describe(state, j) for j in issued_ids[:MAX_LISTED]],
        "failed": [
            {**_describe(state, j), "message": msg}
            for j, msg in list(failed.items())[:MAX_LISTED]
            if j in state.jobs
        ],
        "root": state.root,
        "succeeded": state.succeeded(),
    }


def _capped(by_name: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    """Counts per name; past MAX_NAMES names, the smallest are added up as OTHER_NAMES."""
    names = sorted(by_name, key=lambda n: -sum(by_name[n]))
    out = {n: dict(zip(STATES, by_name[n], strict=True)) for n in names[:MAX_NAMES]}
    rest = names[MAX_NAMES:]
    if rest:
        out[OTHER_NAMES] = {s: sum(by_name[n][i] for n in rest) for i, s in enumerate(STATES)}
    return out


def _describe(state: StateMachine, job_id: str) -> dict[str, Any]:
    record = state.record(job_id)
    return {
        "id": job_id,
        "name": record.name,
        "display_name": record.display_name,
        "attempts": record.attempts,
        "local": record.local,
    }


def read_snapshot(store: JobStore) -> dict[str, Any] | None:
    """The last snapshot a leader wrote in ``store``, or None."""
    if not store.shared_exists(names.SNAPSHOT):
        return None
    try:
        data: dict[str, Any] = json.loads(store.read_shared(names.SNAPSHOT))
    except (OSError, ValueError):
        return None
    return data if data.get("version") == 1 else None


class SnapshotWriter:
    """Writes the snapshot for a leader; ``maybe_write`` is cheap to call every loop."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.next_time = 0.0
        self.last_key: tuple[int, ...] | None = None

    def maybe_write(self, state: StateMachine, issued: Iterable[str]) -> None:
        """Write a snapshot if one is due and the state changed since the last."""
        now = time.monotonic()
        if now < self.next_time:
            return
        issued = list(issued)
        key = (len(state.jobs), len(state.values), len(state.failed), len(state.ready), len(issued))
        if key == self.last_key:
            return
        self.last_key = key
        cost = self._write(build_snapshot, state, issued)
        self.next_time = now + max(MIN_INTERVAL, COST_FACTOR * cost)

    def write_final(self, state: StateMachine, stop_reason: str | None) -> None:
        """The leader's loop ended: record the final counts (never raises)."""
        self._write(build_snapshot, state, (), final=True, stop_reason=stop_reason)

    def _write(self, build: Any, *args: Any, **kwargs: Any) -> float:
        start = time.monotonic()
        try:
            data = json.dumps(build(*args, **kwargs), separators=(",", ":")).encode()
            self.store.write_shared(names.SNAPSHOT, data)
        except Exception as exc:  # noqa: BLE001 (status is a convenience: never fail the run)
            log.warning("could not write the status snapshot: %s", exc)
        return time.monotonic() - start
