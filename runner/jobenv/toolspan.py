"""When a job's tools ran: the first tool's start and the last one's end, for the stats.

A job's own figures (``start``/``end`` in ``runner.engine.execute``) cover everything the
worker did for it: loading the front end's code on a fresh worker, staging inputs, running
the tools, collecting outputs. A timeline that shows only those makes a 0.3 s tool look like
a 1.2 s job on a new worker. The front ends mark each tool process here as they start and
reap it (``begin``/``end``); the worker takes the span after the job (``take``). One job
runs at a time in a worker process, so a module-level span is the job's.
"""

from __future__ import annotations

import time

_span: list[float] = []


def reset() -> None:
    """Forget any span (before a job starts)."""
    _span.clear()


def begin() -> None:
    """A tool process of the current job starts now."""
    now = time.time()
    if not _span:
        _span.extend((now, now))


def end() -> None:
    """A tool process of the current job was reaped now."""
    if _span:
        _span[1] = time.time()


def take() -> tuple[float, float] | None:
    """The (start, end) wall-clock times of the current job's tools, or None if it ran
    none; forgets them."""
    if not _span:
        return None
    start, stop = _span
    _span.clear()
    return start, stop
