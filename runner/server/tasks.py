"""A run's jobs as WES tasks, read from its job store without changing it.

One pass over the store's journal: each ``new`` event is a task (its job's name and
display name), ``ran`` makes it COMPLETE, ``failed`` EXECUTOR_ERROR (with its message),
``attempt`` counts retries, and the ``stats`` events (a server's runs always have
``--stats``) give each attempt's start and end and, for a tool that exited non-zero, its
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


def _decode(data: bytes) -> tuple[Any, ...] | None:
    try:
        event = _Unpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 (a damaged record is skipped, as replay does)
        return None
    return event if isinstance(event, tuple) and event else None


def read_tasks(store: JobStore, *, probe: bool = True) -> list[Task]:
    """Every job of the run in ``store`` (opened), oldest first."""
    tasks: dict[str, Task] = {}
    for data in store.read_records():
        event = _decode(data)
        if event is None:
            continue
        _apply(tasks, event)
    if probe:
        unfinished = [t for t in tasks.values() if t.state == "QUEUED" and not t.local]
        for task in unfinished[:MAX_PROBES]:
            if store.job_is_running(task.id):
                task.state = "RUNNING"
    return list(tasks.values())


def _apply(tasks: dict[str, Task], event: tuple[Any, ...]) -> None:
    kind = event[0]
    if kind == "new":
        record = event[1]
        job_id = getattr(record, "id", None)
        if isinstance(job_id, str):
            tasks[job_id] = Task(
                job_id, str(record.name), str(record.display_name), bool(record.local)
            )
        return
    task = tasks.get(event[1]) if len(event) > 1 and isinstance(event[1], str) else None
    if task is None:
        return
    if kind == "ran":
        task.state = "COMPLETE"
    elif kind == "failed":
        task.state = "EXECUTOR_ERROR"
        task.message = str(event[2]) if len(event) > 2 else ""
    elif kind == "attempt":
        task.attempts = int(event[2])
    elif kind == "reset":
        task.state = "QUEUED"
    elif kind == "stats" and len(event) > 3 and isinstance(event[3], dict):
        _stats(task, event[3])


def _stats(task: Task, stats: dict[str, float]) -> None:
    start, end = stats.get("start"), stats.get("end")
    ok = bool(stats.get("ok", 1.0))
    if start is not None:
        task.start = start if task.start is None else min(task.start, start)
    if end is not None:
        task.end = end if task.end is None else max(task.end, end)
    if start is not None and end is not None:
        task.spans.append((float(start), float(end), ok))
    if not ok:
        task.failed_attempts += 1
    if "exit_code" in stats:
        task.exit_code = int(stats["exit_code"])
    elif ok:
        task.exit_code = 0 if not task.local else None


def log_text(store: JobStore, job_id: str) -> bytes | None:
    """The job's log (its stdout and stderr, and what the worker said), or None."""
    return store.read_job_log(job_id)
