"""``toil prune-cache DIR``: make a call cache smaller, by age and by size.

Removes the entries last used before ``--older-than`` ago, then the least recently used
ones until the files the rest hold take at most ``--max-size``, then the cached files no
entry needs. A run's job store and its ``toil clean`` never touch the cache, and the cache
holds no user file as its own: what pruning removes is the cache's own names.
"""

from __future__ import annotations

import typer

from runner.config.units import parse_size
from runner.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """Seconds of an age such as ``90m``, ``12h``, ``30d`` or ``3600``. Raises UsageError."""
    number, unit = (text[:-1], text[-1]) if text and text[-1] in _UNITS else (text, "s")
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise UsageError(f"--older-than {text!r}: not an age; write e.g. 30d, 12h or 90m") from None
    if value < 0:
        raise UsageError(f"--older-than {text!r}: an age cannot be negative")
    return value


def prune_cache(
    cache_dir: str = typer.Argument(..., metavar="DIR"),
    older_than: str | None = typer.Option(
        None, "--older-than", help="remove entries last used longer ago (30d, 12h, 90m)"
    ),
    max_size: str | None = typer.Option(
        None, "--max-size", help="then keep at most this much (10G, 500M), newest first"
    ),
) -> None:
    """Remove old or least recently used results from a call cache (--cachedir)."""
    try:
        _prune(cache_dir, older_than, max_size)
    except UsageError as exc:
        typer.echo(f"toil prune-cache: {exc}", err=True)
        raise typer.Exit(2) from None


def _prune(cache_dir: str, older_than: str | None, max_size: str | None) -> None:
    from runner.cache.store import prune

    if older_than is None and max_size is None:
        raise UsageError("toil prune-cache: say --older-than AGE, --max-size SIZE, or both")
    age = None if older_than is None else parse_age(older_than)
    try:
        size = None if max_size is None else parse_size(max_size)
    except ValueError:
        raise UsageError(f"--max-size {max_size!r}: not a size; write e.g. 10G or 500M") from None
    done = prune(cache_dir, older_than=age, max_size=size)
    typer.echo(
        f"removed {done.entries} entries and {done.blobs} files "
        f"({done.freed / 2**20:.1f} MiB) from {cache_dir}",
        err=True,
    )
