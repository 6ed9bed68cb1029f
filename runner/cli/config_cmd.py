"""``toil config FILE``: write a commented YAML file of every option with its default
(``runner.config.template``), which ``--config FILE`` reads back once edited."""

from __future__ import annotations

import typer

from runner.config.template import write
from runner.errors import UsageError


def config(
    output: str = typer.Argument(..., metavar="FILE", help="where to write the config file"),
) -> None:
    """Write a config file with every option and its default, commented out."""
    try:
        write(output)
    except UsageError as exc:
        typer.echo(f"toil: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    typer.echo(f"wrote a default config file to {output}", err=True)
