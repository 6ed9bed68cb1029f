"""``toil debug-job``'s ``--printJobInfo`` and ``--retrieveTaskDirectory DIR`` (Toil's flags):
what a job is and what it was given, without running it.

``--printJobInfo`` prints ``key: value`` lines: the job's ID, names, executor, state, failed
attempts and failure, where it sits in the graph (parent, relation, successors), resources,
the jobs whose results it needs, its log's place, and its payload with those results filled
in, with its attributes for an object (a Python job: its function and arguments); each value
cut at 2,000 characters.

``--retrieveTaskDirectory DIR`` copies every stored file the job's payload and inputs name
(a ``FileID``, or a location holding one, as CWL's ``moilfile:`` and WDL's) into DIR, each
under its own name (a taken name gets ``_2``, ``_3`` ...), and prints where each went; the
job does not run. A CWL Directory input comes as its stored listing file (moil keeps a
Directory as such a manifest), not as a tree.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import typer

from backends.errors import BackendError
from backends.jobstore.base import JobStore
from runner.cli.debugfile import free_name
from runner.model.promise import loads
from runner.views.debugjob import Loaded

#: a stored file's ID (``UUID/BASENAME``) inside a string: a FileID, or a location
_FILE_ID = re.compile(r"([0-9a-f]{32}/[^/\x00\s\"']+)")
_SHOWN = 2000


def print_job_info(store: JobStore, loaded: Loaded, job_id: str) -> None:
    state = loaded.state
    job = state.jobs[job_id]
    record = job.record
    status = "failed" if job_id in loaded.failed else job.status.value
    successors = [
        f"{r.name} {j} ({r.relation})"
        for j, r in ((j, state.record(j)) for j in state.jobs)
        if r.parent == job_id
    ]
    needs = sorted({p.job_id for p in record.needs})
    lines = [
        ("job", f"{record.name} {job_id}"),
        ("display name", record.display_name),
        ("executor", record.executor),
        ("state", status + (" (its successors are done)" if job.done else "")),
        ("failed attempts", str(record.attempts + (job_id in loaded.failed))),
        ("failure", loaded.failed.get(job_id, "")),
        (
            "parent",
            f"{state.record(record.parent).name} {record.parent} ({record.relation})"
            if record.parent in state.jobs
            else "none (the root)",
        ),
        ("successors", ", ".join(successors) or "none"),
        ("resources", _shown(_loaded(record.resources, None))),
        ("local", str(record.local)),
        (
            "needs",
            ", ".join(
                f"{state.record(j).name} {j}{'' if j in state.values else ' (no result yet)'}"
                for j in needs
                if j in state.jobs
            )
            or "nothing",
        ),
        ("log", store.job_log_location(job_id) if store.read_job_log(job_id) else "none"),
        ("payload", _shown(_payload(loaded, job_id), fields=True)),
    ]
    for key, value in lines:
        typer.echo(f"{key}: {value}")


def retrieve_task_directory(store: JobStore, loaded: Loaded, job_id: str, into: str) -> int:
    """Copy the job's stored input files into ``into`` (made if missing); how many."""
    os.makedirs(into, exist_ok=True)
    found = dict.fromkeys(_file_ids(_payload(loaded, job_id)))
    count = 0
    for file_id in found:
        if not store.file_exists(file_id):
            continue
        dest = free_name(into, file_id.split("/", 1)[1], note=False)
        try:
            store.export_local(file_id, dest)
        except BackendError as exc:
            typer.echo(f"toil debug-job: {file_id}: {exc}", err=True)
            continue
        typer.echo(f"{file_id} -> {dest}")
        count += 1
    return count


def _payload(loaded: Loaded, job_id: str) -> Any:
    state = loaded.state
    record = state.record(job_id)
    values = {p: state.value_of(p) for p in record.needs if p.job_id in state.values}
    missing = {p: p for p in record.needs if p.job_id not in state.values}
    return _loaded(record.body, {**missing, **values})


def _loaded(data: bytes, values: Any) -> Any:
    try:
        return loads(data, values)
    except Exception as exc:  # noqa: BLE001 (only for display)
        return f"<cannot be shown here: {exc}>"


def _shown(value: Any, *, fields: bool = False) -> str:
    """``repr(value)`` cut at _SHOWN characters; ``fields``: with an object's attributes
    (a Python job's function and arguments)."""
    text = repr(value)
    if fields and hasattr(value, "__dict__") and not isinstance(value, type):
        text += " " + repr(vars(value))
    return text if len(text) <= _SHOWN else text[:_SHOWN] + f"... ({len(text)} characters)"


def _file_ids(value: Any, depth: int = 0) -> Iterator[str]:
    """The stored file IDs in ``value`` (strings, containers, objects' attributes)."""
    if depth > 50:
        return
    if isinstance(value, str):
        for match in _FILE_ID.finditer(urllib.parse.unquote(value)):
            yield match.group(1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _file_ids(key, depth + 1)
            yield from _file_ids(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _file_ids(item, depth + 1)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        yield from _file_ids(vars(value), depth + 1)
    elif hasattr(value, "__slots__"):
        for name in value.__slots__:
            yield from _file_ids(getattr(value, name, None), depth + 1)
