"""The ``toil`` command: inspect and manage runs (``toil status|stats|clean|kill JOBSTORE``)."""

from __future__ import annotations

import sys

import typer

from runner import __version__

app = typer.Typer(
    name="toil",
    help="moil's toil utilities: inspect and manage a run kept in a job store.",
    add_completion=False,
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"moil {__version__} (toil-compatible)")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """moil's toil utilities."""


@app.command()
def clean(job_store: str = typer.Argument(..., metavar="JOBSTORE")) -> None:
    """Delete a job store and everything in it (a missing store is not an error)."""
    from backends.errors import InvalidLocatorError
    from backends.jobstore.base import open_job_store

    try:
        store = open_job_store(job_store)
    except InvalidLocatorError as exc:
        typer.echo(f"toil clean: {exc}", err=True)
        raise typer.Exit(2) from None
    store.destroy()


@app.command()
def kill(job_store: str = typer.Argument(..., metavar="JOBSTORE")) -> None:
    """Ask the leader of a running workflow to stop; the store stays restartable."""
    from backends.jobstore.base import open_job_store
    from runner.leader import KILL_FLAG

    store = open_job_store(job_store)
    if not store.exists():
        typer.echo(f"toil kill: there is no job store at {job_store}", err=True)
        raise typer.Exit(2)
    store.open()
    store.write_shared(KILL_FLAG, b"kill")
    typer.echo(f"asked the leader of {job_store} to stop")


def main() -> None:
    """Console script entry point."""
    sys.exit(app())
