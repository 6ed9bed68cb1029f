"""Output helpers shared by the ``toil`` subcommands: tables (rich on a terminal, aligned
plain text otherwise, so that output piped to a file or a test stays easy to read), and
human units, and the description of a run that `toil stats` and `toil report` head their
output with."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

import typer

from runner.errors import UsageError


def is_terminal(stream: IO[str] | None = None) -> bool:
    return (stream or sys.stdout).isatty()


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str = "",
    right: Sequence[bool] | None = None,
    stream: IO[str] | None = None,
) -> None:
    """Print ``rows`` under ``headers``; ``right`` says which columns align right."""
    stream = stream or sys.stdout
    align = list(right) if right is not None else [False] + [True] * (len(headers) - 1)
    if is_terminal(stream):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or None, title_justify="left", header_style="bold")
        for header, to_right in zip(headers, align, strict=True):
            table.add_column(header, justify="right" if to_right else "left")
        for row in rows:
            table.add_row(*row)
        Console(file=stream).print(table)
        return
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if to_right else c.ljust(w)
            for c, w, to_right in zip(cells, widths, align, strict=True)
        ).rstrip()

    if title:
        print(title, file=stream)
    print(line(headers), file=stream)
    for row in rows:
        print(line(row), file=stream)


def human_seconds(seconds: float) -> str:
    """``4.2ms``, ``0.25s``, ``42.0s``, ``3m12s``, ``2h05m``."""
    if 0 < seconds < 0.1:
        return f"{seconds * 1000:.1f}ms"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def human_kib(kib: float) -> str:
    """KiB as ``512K``, ``48.2M``, ``1.5G``."""
    if kib < 1024:
        return f"{kib:.0f}K"
    if kib < 1024**2:
        return f"{kib / 1024:.1f}M"
    if kib < 1024**3:
        return f"{kib / 1024**2:.1f}G"
    return f"{kib / 1024**3:.1f}T"


def ago(seconds: float) -> str:
    """How long ago, in words."""
    if seconds < 1:
        return "just now"
    return human_seconds(seconds) + " ago"


def run_description(store: Any) -> dict[str, Any]:
    """The store's locator, the run's state and the main settings of its configuration."""
    from runner.views.runview import load_run_view, read_config

    try:
        config = read_config(store)
    except UsageError as exc:  # a configuration this moil cannot read: shown as unknown
        typer.echo(f"toil stats: warning: {exc}", err=True)
        config = None
    view = load_run_view(store, probe=False, tail_lines=0)
    info = {
        "job_store": store.locator,
        "state": view.state,
        "batch_system": None if config is None else config.batch_system,
        "max_cores": None if config is None else config.max_cores,
        "default_cores": None if config is None else config.default_cores,
        "default_memory": None if config is None else config.default_memory,
    }
    return info
