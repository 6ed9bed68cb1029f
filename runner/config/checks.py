"""The one place option values are checked, before a run creates anything.

``validate`` checks a ``RunConfig`` (its core settings, its batch system's and its front
end's) by their declarations: bounds (``Option.minimum``) and places (``Option.check``:
an output directory, made if missing; an output file; a directory that must exist), plus
the front end's output places it names. Each problem is a UsageError (exit 2) with one line
naming the option, the value and what to do. Nothing is written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import NoReturn

from backends.settings import Declared, Settings, values_of
from runner.config.runconfig import RunConfig
from runner.errors import UsageError


def validate(
    config: RunConfig,
    *,
    directories: Mapping[str, str | None] | None = None,
    files: Mapping[str, str | None] | None = None,
) -> None:
    """Check every setting of ``config`` (see the module docstring). ``directories`` and
    ``files`` map a front end's option names (``--outdir``) to the output directories (made
    if missing) and files the run will write."""
    parts: list[Settings] = [config, config.batch]
    if config.frontend is not None:
        parts.append(config.frontend)
    for part in parts:
        for item, value in values_of(part):
            _check(item, value)
    for flag, path in (directories or {}).items():
        if path:
            check_output_dir(flag, path)
    for flag, path in (files or {}).items():
        if path:
            check_output_file(flag, path)


def _check(item: Declared, value: object) -> None:
    option = item.option
    if value is None:
        return
    flag = option.flags[0] if option.flags else item.name
    if option.minimum is not None:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            _refuse(f"{flag} {value!r}: not a number")
        low = option.minimum
        if value < low or (value == low and not option.minimum_allowed):
            least = "0 or more" if option.minimum_allowed else "more than 0"
            if low != 0:
                least = f"{low:g} or more" if option.minimum_allowed else f"more than {low:g}"
            _refuse(f"{flag} {value:g}: must be {least}")
    if option.check == "existing_dir" and value:
        _check_existing_dir(flag, str(value))
    elif option.check == "output_file" and value:
        check_output_file(flag, str(value))
    elif option.check == "output_dir" and value:
        check_output_dir(flag, str(value))


def _refuse(message: str) -> NoReturn:
    raise UsageError(message)


def _check_existing_dir(flag: str, path: str) -> None:
    """A directory that exists (Toil's rule for ``--workDir``) and that we may write."""
    if not os.path.exists(path):
        _refuse(f"{flag} {path}: no such directory; create it, or leave {flag} out")
    if not os.path.isdir(path):
        _refuse(f"{flag} {path}: not a directory; name a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        _refuse(f"{flag} {path}: permission denied; name a directory you can write")


def check_output_dir(flag: str, path: str) -> None:
    """``path`` is a directory the run may write into, or can be made (UsageError if not)."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            _refuse(f"{flag} {path}: not a directory; name a directory (made if missing)")
        if not os.access(path, os.W_OK | os.X_OK):
            _refuse(f"{flag} {path}: permission denied; name a directory you can write")
        return
    _check_creatable(flag, path)


def check_output_file(flag: str, path: str) -> None:
    """``path`` is a file the run may write (made or replaced): UsageError if not."""
    if os.path.isdir(path):
        _refuse(f"{flag} {path}: is a directory; name a file")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            _refuse(f"{flag} {path}: permission denied; name a file you can write")
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        _refuse(f"{flag} {path}: no such directory {parent}; create it first")
    _check_creatable(flag, path)


def _check_creatable(flag: str, path: str) -> None:
    """The nearest existing ancestor of ``path`` is a directory we may write."""
    ancestor = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        _refuse(f"{flag} {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        _refuse(f"{flag} {path}: cannot be made: permission denied in {ancestor}")
