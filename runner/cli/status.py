"""``toil status JOBSTORE``: where a run is, from any terminal, without disturbing it.

``--perJob``, ``--children`` and ``--dot`` (limited to ``--jobs``) print single jobs instead
of the report (``runner.cli.status_jobs``).

Exit code: 0, or 1 with ``--failIfNotComplete`` when the workflow has not finished
successfully (running, failed or stopped); 2 for a locator that is not one. A store that does
not exist is reported and exits 0 (Toil's rule: a successful run may have deleted it).
"""

from __future__ import annotations

import json
import sys
import time

import typer

from backends.jobstore.base import JobStore
from runner.cli.render import ago, print_table
from runner.views.runview import COLUMNS, JobBrief, RunView, load_run_view


def status(
    job_store: str = typer.Argument(..., metavar="JOBSTORE", help="the run's job store"),
    fail_if_not_complete: bool = typer.Option(
        False,
        "--failIfNotComplete",
        help="Exit with 1 if the workflow has not finished successfully.",
    ),
    no_agg_stats: bool = typer.Option(
        False, "--noAggStats", help="Do not print the counts of jobs."
    ),
    print_logs: bool = typer.Option(
        False,
        "--printLogs",
        "--logs",
        help="Print the full logs of failed, running and issued jobs.",
    ),
    print_status: bool = typer.Option(
        False,
        "--printStatus",
        "--status",
        help="List the jobs that are running or issued to the batch system.",
    ),
    print_failed: bool = typer.Option(
        False, "--printFailed", "--failed", help="Only list the failed jobs."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
    exact: bool = typer.Option(
        False,
        "--exact",
        help="Count from the journal instead of the leader's summary (slower on big runs).",
    ),
    tail: int = typer.Option(20, "--tail", help="Log lines shown per failed job."),
    dot: bool = typer.Option(
        False, "--dot", "--printDot", help="Print the job graph in Graphviz's dot format."
    ),
    jobs: list[str] | None = typer.Option(  # noqa: B008 (typer reads it once)
        None,
        "--jobs",
        metavar="JOB...",
        help="Restrict --perJob, --children and --dot to these jobs (IDs, ID prefixes or names).",
    ),
    per_job: bool = typer.Option(
        False,
        "--perJob",
        "--printPerJobStats",
        help="Print each job's state, attempts, tries left and successor count.",
    ),
    children: bool = typer.Option(
        False, "--children", "--printChildren", help="Print each job's successors."
    ),
) -> None:
    """Show a run's state, its jobs by state and name, and the failed jobs' logs.

    Read-only: safe while the leader runs."""
    from backends.errors import InvalidLocatorError
    from backends.jobstore.base import open_job_store

    try:
        store = open_job_store(job_store)
    except InvalidLocatorError as exc:
        typer.echo(f"toil status: {exc}", err=True)
        raise typer.Exit(2) from None
    view = load_run_view(store, exact=exact, tail_lines=tail)
    if (per_job or children or dot or jobs) and view.state not in ("missing", "not started"):
        _print_jobs(store, view, jobs or [], per_job=per_job, children=children, dot=dot)
    elif as_json:
        json.dump(view.to_json(), sys.stdout, indent=2)
        print()
    elif view.state == "missing":
        print(f"The job store {job_store} was not found.")
    elif print_failed:
        _print_failed(view, tail=0)
    else:
        _print_report(view, aggregate=not no_agg_stats)
        if print_status:
            _print_running(view)
    if print_logs and view.state != "missing":
        _print_logs(view, store)
    if fail_if_not_complete and view.state not in ("succeeded", "missing"):
        raise typer.Exit(1)


def _print_jobs(
    store: JobStore, view: RunView, wanted: list[str], *, per_job: bool, children: bool, dot: bool
) -> None:
    from runner.cli import status_jobs
    from runner.views.runview import read_config

    config = read_config(store)
    lines = status_jobs.job_lines(store, view, config.retry_count if config else 1)
    chosen, unknown = status_jobs.select(lines, wanted)
    if unknown:
        typer.echo(
            f"toil status: --jobs: no job {', '.join(map(repr, unknown))} in this run", err=True
        )
        raise typer.Exit(2)
    if per_job or not (children or dot):  # --jobs alone: those jobs' lines
        status_jobs.print_per_job(chosen, store)
    if children:
        status_jobs.print_children(chosen, lines)
    if dot:
        status_jobs.print_dot(chosen, view.locator)


def _print_report(view: RunView, *, aggregate: bool) -> None:
    print(f"Workflow {view.locator}: {view.state.upper()}: {view.detail}")
    if not aggregate or not view.total:
        _print_failed(view, tail=1)
        return
    counts = ", ".join(f"{view.counts[c]} {c}" for c in COLUMNS)
    when = ""
    if view.source == "snapshot" and view.as_of is not None:
        when = f" (the leader's count, {ago(time.time() - view.as_of)})"
    print(f"Jobs: {view.total} in all: {counts}{when}")
    rows = [
        [name] + [str(counts.get(c, 0)) for c in COLUMNS] + [str(sum(counts.values()))]
        for name, counts in sorted(view.by_name.items())
    ]
    print_table(["job name", *COLUMNS, "total"], rows)
    _print_failed(view, tail=1)


def _print_failed(view: RunView, *, tail: int) -> None:
    if not view.failed:
        return
    print(f"Failed jobs ({len(view.failed)}):")
    for job in view.failed:
        print(f"  {_label(job)}: {job.message}")
        if tail:
            for line in job.log_tail:
                print(f"    | {line}")
            if job.log_location:
                print(f"    full log: {job.log_location}")


def _print_running(view: RunView) -> None:
    if not view.issued:
        print("No job is running or issued.")
        return
    for job in view.issued:
        what = "is running" if job.running else "is issued (queued in the batch system)"
        print(f"Job {job.id} {job.display_name} {what} (attempt {job.attempts + 1})")


def _print_logs(view: RunView, store: JobStore) -> None:
    for job in [*view.failed, *view.issued]:
        data = store.read_job_log(job.id)
        if not data:
            print(f"LOG_FILE_OF_JOB: {_label(job)} LOG: the job has no log")
            continue
        print(f"LOG_FILE_OF_JOB: {_label(job)} LOG: =======>")
        sys.stdout.write(data.decode(errors="replace").rstrip() + "\n")
        print("<=========")


def _label(job: JobBrief) -> str:
    attempt = f" (attempt {job.attempts + 1})" if job.attempts else ""
    return f"{job.display_name} {job.id[:8]}{attempt}"
