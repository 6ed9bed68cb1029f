"""``toil debug-job JOBSTORE JOB``: rerun one job of a run in the foreground.

JOB is a job ID (or a unique prefix of one) or a job name. The job runs here with the inputs
it had, its output and log on the terminal; the store's journal is not changed, so the run
can still be resumed with --restart. ``--printJobInfo`` and ``--retrieveTaskDirectory DIR``
(Toil's) show the job, or copy its stored input files into DIR, without running it
(``runner.cli.debug_info``). Exit code: 0 if the job succeeded, 1 if it failed, 2 if
the store or the job cannot be found or the job cannot run yet.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from typing import TYPE_CHECKING

import typer

from runner.errors import UsageError

if TYPE_CHECKING:
    from backends.jobstore.base import JobStore
    from runner.views.debugjob import Loaded


def debug_job(
    job_store: str = typer.Argument(..., metavar="JOBSTORE", help="the run's job store"),
    job: str = typer.Argument(..., metavar="JOB", help="a job ID, ID prefix or job name"),
    keep_work_dir: bool = typer.Option(
        False, "--keepWorkDir", help="Keep the job's temporary directory to look into."
    ),
    print_job_info: bool = typer.Option(
        False, "--printJobInfo", help="Print what the job is and was given; do not run it."
    ),
    retrieve: str | None = typer.Option(
        None,
        "--retrieveTaskDirectory",
        metavar="DIR",
        help="Copy the job's stored input files into DIR (made if missing); do not run it.",
    ),
) -> None:
    """Rerun one job of a (failed) run in the foreground with its inputs.

    The store's journal is not changed: the run can still be resumed with --restart."""
    from backends.errors import InvalidLocatorError
    from backends.jobstore.base import open_job_store
    from runner.model.promise import loads
    from runner.views.debugjob import find_job, load_run, rerun_job
    from runner.views.runview import live_leader, read_config

    try:
        store = open_job_store(job_store)
    except InvalidLocatorError as exc:
        typer.echo(f"toil debug-job: {exc}", err=True)
        raise typer.Exit(2) from None
    if not store.exists():
        typer.echo(f"toil debug-job: there is no job store at {job_store}", err=True)
        raise typer.Exit(2)
    store.open()
    if live_leader(store) is not None:
        typer.echo("toil debug-job: warning: the run's leader is still running", err=True)
    try:
        config = read_config(store)
        if config is None:
            raise UsageError(f"the job store {job_store} holds no run")
        config = dataclasses.replace(
            config, stats=False, clean_work_dir="never" if keep_work_dir else config.clean_work_dir
        )
        loaded = load_run(store, config)
        job_id = find_job(loaded, job)
        record = loaded.state.record(job_id)
        if print_job_info or retrieve:
            _inspect(store, loaded, job_id, retrieve if not print_job_info else None)
            return
        typer.echo(f"rerunning {record.display_name} {job_id} ({record.executor})", err=True)
        result = rerun_job(store, config, loaded, job_id, _terminal_logger())
    except UsageError as exc:
        typer.echo(f"toil debug-job: {exc}", err=True)
        raise typer.Exit(2) from None
    sys.stdout.flush()
    for text, level in result.messages:
        typer.echo(f"{logging.getLevelName(level)}: {text}", err=True)
    if not result.ok:
        typer.echo(result.details.rstrip() or result.error, err=True)
        typer.echo(f"{record.display_name} failed: {result.error}", err=True)
        raise typer.Exit(1)
    try:
        value: object = loads(result.value)  # promises of added jobs stay promises
    except Exception as exc:  # noqa: BLE001 (only for display)
        value = f"<a value that cannot be shown here: {exc}>"
    added = ", ".join(sorted({r.display_name for r in result.new})) or "none"
    typer.echo(
        f"{record.display_name} succeeded in {result.stats['wall']:.2f}s; it returned "
        f"{value!r:.2000}; jobs it added (not run): {added}",
        err=True,
    )


def _inspect(store: JobStore, loaded: Loaded, job_id: str, into: str | None) -> None:
    from runner.cli.debug_info import print_job_info, retrieve_task_directory

    if into is None:
        print_job_info(store, loaded, job_id)
        return
    if os.path.exists(into) and not os.path.isdir(into):
        raise UsageError(f"--retrieveTaskDirectory {into}: not a directory")
    count = retrieve_task_directory(store, loaded, job_id, into)
    name = loaded.state.record(job_id).display_name
    typer.echo(
        f"copied {count} stored input files of {name} {job_id} into {into}; the job was not run",
        err=True,
    )


def _terminal_logger() -> logging.Logger:
    logger = logging.getLogger("moil.debug-job")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    return logger
