"""The ``toil`` command: inspect and manage runs kept in a job store.

``toil status|stats|report|clean|kill|debug-job|debug-file JOBSTORE``, ``toil prune-cache DIR``,
``toil config FILE`` and ``toil server`` (WES); each
subcommand lives in its own module (under ``runner.cli``; the server under ``runner.server``)
and is registered here.
"""

from __future__ import annotations

import typer

from runner import __version__
from runner.cli import console
from runner.cli.cache import prune_cache
from runner.cli.config_cmd import config
from runner.cli.debug import debug_job
from runner.cli.debugfile import debug_file
from runner.cli.logopts import logged
from runner.cli.manage import clean, kill
from runner.cli.stats import report, stats
from runner.cli.status import status
from runner.server.cli import server

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
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """moil's toil utilities."""


# every subcommand takes Toil's logging options (runner.cli.logopts)
for _name, _command in (
    ("status", status),
    ("stats", stats),
    ("report", report),
    ("clean", clean),
    ("kill", kill),
    ("debug-job", debug_job),
    ("debug-file", debug_file),
    ("prune-cache", prune_cache),
    ("config", config),
    ("server", server),
):
    app.command(_name)(
        logged(_name, default_level="DEBUG" if _name == "debug-job" else "INFO")(_command)
    )


def main() -> None:
    """Console script entry point."""
    console.run(_guarded)


#: options that take several values after one flag in Toil (argparse ``nargs="+"``)
SEVERAL = {"status": ("--jobs",), "debug-file": ("--fetch",)}


def spread(argv: list[str]) -> list[str]:
    """``--jobs A B`` as ``--jobs A --jobs B`` for the subcommands of SEVERAL (typer takes
    one value per flag); the values run up to the next token that starts with ``-``, as
    argparse reads them."""
    flags = SEVERAL.get(argv[0], ()) if argv else ()
    out: list[str] = argv[:1]
    current, given = None, False
    for token in argv[1:]:
        if current is not None and not given and (token in flags or token.startswith("-")):
            out.append(current)  # a flag with no value: typer says so
        if token in flags:
            current, given = token, False
        elif current is not None and not token.startswith("-"):
            out += [current, token]
            given = True
        else:
            current = None
            out.append(token)
    if current is not None and not given:
        out.append(current)
    return out


def _guarded() -> int | None:
    """``app``, with a job store's failure as one line: exit 2 for a store that cannot be
    reached or named, 1 for one that failed (after retries)."""
    import sys

    from backends.errors import InvalidLocatorError, JobStoreAccessError, JobStoreError

    try:
        app(args=spread(sys.argv[1:]))
    except JobStoreError as exc:
        typer.echo(f"toil: {exc}", err=True)
        return 2 if isinstance(exc, (JobStoreAccessError, InvalidLocatorError)) else 1
    return None


if __name__ == "__main__":
    main()
