"""A run's journal in its job store: the leader writes events, a restart replays them.

``Journal.record(event)`` is how the leader changes its state machine: the event is
applied (``StateMachine.apply``) and queued for the store, whose batches ``flush`` appends.
``replay`` feeds a store's journal through the same ``apply``, so a restart, ``toil status``
and ``toil debug-job`` see the state the live run had when it last flushed. The events and
their encoding are in ``runner.model.events``.
"""

from __future__ import annotations

import logging
import time

from backends.jobstore.base import JobStore
from runner.model import events
from runner.model.state import StateMachine

log = logging.getLogger(__name__)


class Journal:
    """The leader's pen: every event goes through ``record``."""

    def __init__(self, store: JobStore, state: StateMachine) -> None:
        self.store = store
        self.state = state
        self.pending: list[bytes] = []
        self.since = 0.0  # when the oldest queued record was queued (time.monotonic)

    def record(self, event: events.Event, *, flush: bool = False) -> None:
        """Apply ``event`` to the state and queue it for the store; with ``flush``, append
        everything queued now (before anything acts on what the event made possible)."""
        self.state.apply(event)
        if not self.pending:
            self.since = time.monotonic()
        self.pending.extend(events.encode(event))
        if flush:
            self.flush()

    def flush(self) -> None:
        """Append the queued events to the store's journal, in one batch."""
        if self.pending:
            self.store.append_records(self.pending)
            self.pending = []


def _warn(exc: events.EventError) -> None:
    log.warning("skipping a journal record that cannot be read (%s)", exc)


def replay(store: JobStore, retry_count: int) -> StateMachine:
    """The state machine rebuilt from ``store``'s journal (which is only read). Failed jobs
    stay failed, with their messages (``state.failed``); a restart revives them.

    A damaged journal (the store skips batches it cannot read) may hold events of jobs
    whose batch was lost, or a second ``ran`` of a job: ``apply`` ignores those, so the
    lost jobs, and the jobs they made, simply run again."""
    state = StateMachine(retry_count)
    # JobStats change no state: those records are not even unpickled
    for event in events.decode(store.read_records(), on_error=_warn, skip=(events.JobStats,)):
        state.apply(event)
    return state
