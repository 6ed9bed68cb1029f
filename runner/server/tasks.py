"""A run's jobs as WES tasks, read from its job store without changing it.

One pass over the store's journal (``runner.model.events``): each job a ``RunStarted`` or
``JobRan`` adds is a task (its job's name and display name), ``JobRan`` makes it COMPLETE,
``JobFailed`` EXECUTOR_ERROR (with its message), ``AttemptFailed`` counts retries, and the
``JobStats`` events (a server's runs always have ``--stats``) give each attempt's start and end and, for a tool that exited non-zero, its
exit code. A task neither finished nor failed is RUNNING while a worker holds its running
lock, else QUEUED. Tasks come in the order the leader created their jobs, which does not
change as the run goes on, so a page token is an index.

The journal is unpickled by an unpickler that builds only moil's own classes: anything
else in it (a Python workflow's objects) stays an inert stand-in.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from typing import Any

from backends.jobstore.base import JobStore
from runner.model import events

#: most unfinished tasks probed for a running worker in one listing
MAX_PROBES = 2000
_ALLOWED = ("runner.", "backends.")
_BUILTINS = {
    ("builtins", n)
    for n in (
        "frozenset",
        "set",
        "list",
        "dict",
        "tuple",
        "bytes",
        "str",
        "int",
        "float",
        "bool",
        "complex",
    )
}


@dataclass
class Task:
    """One job of a run."""

    id: str
    name: str
    display_name: str
    local: bool
    state: str = "QUEUED"
    attempts: int = 0
    start: float | None = None
    end: float | None = None
    exit_code: int | None = None
    message: str = ""
    failed_attempts: int = 0
    spans: list[tuple[float, float, bool]] = field(default_factory=list)


class _Inert:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(_ALLOWED) or (module, name) in _BUILTINS:
            return super().find_class(module, name)
        return _Inert


def _loads(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()


def read_tasks(store: JobStore, *, probe: bool = True) -> list[Task]:
    """Every job of the run in ``store`` (opened), oldest first."""
    tasks: dict[str, Task] = {}
    for event in events.decode(store.read_records(), loads=_loads):
        _apply(tasks, event)  # a damaged record is skipped, as a replay does
    if probe:
        unfinished = [t for t in tasks.values() if t.state == "QUEUED" and not t.local]
        for task in unfinished[:MAX_PROBES]:
            if store.job_is_running(task.id):
                task.state = "RUNNING"
    return list(tasks.values())


def _apply(tasks: dict[str, Task], event: events.Event) -> None:
    added = (
        event.new
        if isinstance(event, events.JobRan)
        else (event.records if isinstance(event, events.RunStarted) else ())
    )
    for record in added:
        tasks[record.id] = Task(
            record.id, str(record.name), str(record.display_name), bool(record.local)
        )
    if isinstance(event, events.RunStarted):
        return
    task = tasks.get(event.job_id)
    if task is None:
        return
    if isinstance(event, events.JobRan):
        task.state = "COMPLETE"
    elif isinstance(event, events.JobFailed):
        task.state = "EXECUTOR_ERROR"
        task.message = str(event.message)
    elif isinstance(event, events.AttemptFailed):
        task.attempts = int(event.attempts)
    elif isinstance(event, events.CheckpointReset):
        task.state = "QUEUED"
    elif isinstance(event, events.JobStats) and isinstance(event.stats, dict):
        _stats(task, event.stats)


def _number(stats: dict[str, float | str], key: str) -> float | None:
    value = stats.get(key)
    return float(value) if isinstance(value, int | float) else None


def _stats(task: Task, stats: dict[str, float | str]) -> None:
    start, end = _number(stats, "start"), _number(stats, "end")
    ok = bool(stats.get("ok", 1.0))
    if start is not None:
        task.start = start if task.start is None else min(task.start, start)
    if end is not None:
        task.end = end if task.end is None else max(task.end, end)
    if start is not None and end is not None:
        task.spans.append((float(start), float(end), ok))
    if not ok:
        task.failed_attempts += 1
    exit_code = _number(stats, "exit_code")
    if exit_code is not None:
        task.exit_code = int(exit_code)
    elif ok:
        task.exit_code = 0 if not task.local else None


def log_text(store: JobStore, job_id: str) -> bytes | None:
    """The job's log (its stdout and stderr, and what the worker said), or None."""
    return store.read_job_log(job_id)
