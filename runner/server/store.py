"""A run's job store, seen from the server: opened read-only through the JobStore
contract and ``runner.views.runview``'s views, never written."""

from __future__ import annotations

from backends.errors import BackendError
from backends.jobstore.base import JobStore, open_job_store
from runner.server.state import RunFiles
from runner.views.jobstats import read_job_stats
from runner.views.runview import live_leader, load_run_view, read_status


def open_store(files: RunFiles) -> JobStore | None:
    """The run's job store, opened, or None if it has none (yet) or it cannot be read."""
    try:
        store = open_job_store(f"file:{files.jobstore}")
        if not store.exists():
            return None
        store.open()
    except (BackendError, OSError):
        return None
    return store


def store_status(files: RunFiles) -> tuple[str | None, bool]:
    """How the run's leader left its store (``running``, ``succeeded``, ``failed``, or None
    if no leader started running jobs there), and whether a live leader holds its lease."""
    store = open_store(files)
    if store is None:
        return None, False
    status = read_status(store)
    state = status.get("state") if status else None
    return (str(state) if state else None), live_leader(store) is not None


def run_progress(files: RunFiles) -> dict[str, int]:
    """Jobs done and in all, from the leader's snapshot (or its journal)."""
    store = open_store(files)
    if store is None:
        return {"done": 0, "total": 0}
    view = load_run_view(store, probe=False, tail_lines=0)
    return {"done": int(view.counts.get("done", 0)), "total": int(view.total)}


def report_html(files: RunFiles) -> str | None:
    """The run report (``toil report``'s page: timeline, resources, critical path, tasks)
    of the run's finished job attempts so far, or None before its leader made a store."""
    from runner.cli.render import run_description
    from runner.cli.report import render_report, report_data

    store = open_store(files)
    if store is None:
        return None
    return render_report(report_data(store, run_description(store), read_job_stats(store)))
