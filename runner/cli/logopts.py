"""Toil's logging options on every ``toil`` subcommand.

``logged(name)`` wraps a subcommand's function: the command gains ``--logLevel LEVEL``, its
shorthands (``--logCritical``, ``--logError``, ``--logWarning``, ``--logInfo``, ``--logDebug``,
``--logTrace``, ``--logOff``), ``--logFile FILE``, ``--rotatingLogging``, ``--logColors BOOL``
and ``--tempDirRoot DIR`` (Toil's names), and logging is set up from them before the command
runs: records of that level and above go to stderr and, with ``--logFile``, to that file
(``--rotatingLogging``: rolled over past 10 MiB). ``--logTrace`` is DEBUG here (moil has no
finer level); ``--tempDirRoot`` is where the command's own temporary files go (TMPDIR).
"""

from __future__ import annotations

import functools
import inspect
import logging
import logging.handlers
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import typer

from backends.settings import parse_bool
from runner.config.checks import check_output_file
from runner.config.options import log_level
from runner.errors import UsageError

log = logging.getLogger("runner.cli")

LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "TRACE", "OFF", "WARN", "CRIT")
SHORTHANDS = {
    "log_critical": "CRITICAL",
    "log_error": "ERROR",
    "log_warning": "WARNING",
    "log_info": "INFO",
    "log_debug": "DEBUG",
    "log_trace": "TRACE",
    "log_off": "OFF",
}
ROTATE_BYTES = 10 * 1024 * 1024
_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"


def _options(default_level: str) -> list[inspect.Parameter]:
    def option(name: str, default: Any, kind: type, *flags: str, **more: Any) -> inspect.Parameter:
        return inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=kind,
            default=typer.Option(default, *flags, **more),
        )

    shorthands = [
        option(
            key,
            False,
            bool,
            "--"
            + "".join(part.capitalize() if i else part for i, part in enumerate(key.split("_"))),
            help=f"Same as --logLevel {level}.",
            rich_help_panel="Logging Options",
        )
        for key, level in SHORTHANDS.items()
    ]
    return [
        *shorthands,
        option(
            "log_level",
            default_level,
            str,
            "--logLevel",
            metavar="LEVEL",
            help=f"Log level: {', '.join(LEVELS[:7])} (any case).",
            rich_help_panel="Logging Options",
        ),
        option(
            "log_file",
            None,
            str,
            "--logFile",
            metavar="FILE",
            help="Also write the log to this file.",
            rich_help_panel="Logging Options",
        ),
        option(
            "rotating_logging",
            False,
            bool,
            "--rotatingLogging",
            help="Roll --logFile over past 10 MiB.",
            rich_help_panel="Logging Options",
        ),
        option(
            "log_colors",
            "true",
            str,
            "--logColors",
            metavar="BOOL",
            help="Colour the log levels on a terminal.",
            rich_help_panel="Logging Options",
        ),
        option(
            "temp_dir_root",
            None,
            str,
            "--tempDirRoot",
            metavar="DIR",
            help="Where the command's own temporary files go (default: TMPDIR).",
            rich_help_panel="Logging Options",
        ),
    ]


def logged(
    name: str, *, default_level: str = "INFO"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The decorator (see the module docstring); ``name``: the subcommand, for messages."""

    def wrap(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command)
        added = _options(default_level)
        keys = [p.name for p in added]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            chosen = {key: kwargs.pop(key) for key in keys}
            try:
                _setup(chosen)
            except UsageError as exc:
                typer.echo(f"toil {name}: {exc}", err=True)
                raise typer.Exit(2) from None
            log.debug("toil %s %s", name, " ".join(f"{k}={v!r}" for k, v in kwargs.items()))
            return command(*args, **kwargs)

        run.__signature__ = own.replace(  # type: ignore[attr-defined]  # read by typer
            parameters=[*own.parameters.values(), *added]
        )
        run.__annotations__ = {**command.__annotations__, **{p.name: p.annotation for p in added}}
        return run

    return wrap


def _setup(chosen: dict[str, Any]) -> None:
    level_name = str(chosen["log_level"]).upper()
    for key, level in SHORTHANDS.items():
        if chosen[key]:
            level_name = level
    if level_name == "TRACE":
        level_name = "DEBUG"
    if level_name not in LEVELS:
        raise UsageError(
            f"--logLevel {chosen['log_level']}: not a level; use one of {', '.join(LEVELS[:7])}"
        )
    try:
        parse_bool(str(chosen["log_colors"]))
    except ValueError:
        raise UsageError(f"--logColors {chosen['log_colors']}: use true or false") from None
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_moil_cli", False)]:
        root.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if chosen["log_file"]:
        check_output_file("--logFile", chosen["log_file"])
        handlers.append(
            logging.handlers.RotatingFileHandler(
                chosen["log_file"], maxBytes=ROTATE_BYTES, backupCount=1
            )
            if chosen["rotating_logging"]
            else logging.FileHandler(chosen["log_file"])
        )
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT, "%Y-%m-%dT%H:%M:%S"))
        setattr(handler, "_moil_cli", True)  # noqa: B010 (marks our own handlers)
        root.addHandler(handler)
    root.setLevel(log_level(level_name))
    if chosen["temp_dir_root"]:
        root_dir = chosen["temp_dir_root"]
        if not os.path.isdir(root_dir):
            raise UsageError(f"--tempDirRoot {root_dir}: no such directory; create it first")
        os.environ["TMPDIR"] = root_dir
        tempfile.tempdir = None
