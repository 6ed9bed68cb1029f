"""A run's job store, seen from the server: opened read-only through the JobStore
contract and ``runner.views.runview``'s views, never written."""

from __future__ import annotations

from backends.errors import BackendError
from backends.jobstore.base import JobStore, open_job_store
from runner.cli.svgtimeline import color_of, legend_html, timeline_svg
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


def timeline_html(files: RunFiles) -> dict[str, str]:
    """The HTML report's legend and SVG timeline of the run's finished job attempts."""
    store = open_store(files)
    stats = read_job_stats(store) if store is not None else []
    if not stats:
        return {"svg": "", "legend": ""}
    names = sorted({s.group for s in stats})
    colors = {name: color_of(i) for i, name in enumerate(names)}
    return {"svg": timeline_svg(stats, colors), "legend": legend_html(stats, colors)}
