"""Logging set-up for the commands (the library itself only uses getLogger).

On a terminal every log line goes through one rich console on stderr (``stderr_console``),
the one the progress bar (``runner.cli.progress``) draws on, so a line logged while the bar
is up is printed above it and the bar is redrawn below. A worker forked from the leader
(the single-machine pool, a bundle's jobs) gets plain handlers on its stderr instead
(``_plain_after_fork``): what a job logs goes to its own log file as text, never with the
leader's bar in it.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from typing import Any

from runner.config.options import log_level
from runner.config.runconfig import RunConfig

#: --rotatingLogging: the --logFile rolls over to LOGFILE.1 past this size
ROTATE_BYTES = 10 * 1024 * 1024
#: the format of lines on stderr when it is not a terminal, and in a forked worker's log
PLAIN_FORMAT = "[%(asctime)s] %(levelname)s %(message)s"
PLAIN_DATES = "%Y-%m-%dT%H:%M:%S"

_console: Any = None


def stderr_console() -> Any:
    """The rich console on stderr that log lines and the progress bar share (one per
    process: rich can only keep a live display tidy on the console it draws on)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True)
    return _console


class ConsoleHandler(logging.Handler):
    """Writes each record, formatted as by a plain handler, through ``stderr_console``
    (no markup, colours or wrapping of its own), so it lands above a live progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            stderr_console().print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
        except Exception:  # noqa: BLE001 (logging must not raise: as logging.Handler does)
            self.handleError(record)


def stderr_handler(formatter: logging.Formatter, *, rich: bool = False) -> logging.Handler:
    """The handler a command logs to stderr with: on a terminal, one through the shared
    console (``rich``: rich's own layout of time, level and message); elsewhere a plain
    stream handler. Marked as moil's, so a forked worker replaces it (module docstring)."""
    handler: logging.Handler
    if sys.stderr.isatty():
        if rich:
            from rich.logging import RichHandler

            handler = RichHandler(console=stderr_console(), show_path=False)
            formatter = logging.Formatter("%(message)s")
        else:
            handler = ConsoleHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    setattr(handler, "_moil", True)  # marks our own handlers  # noqa: B010
    return handler


def _plain_after_fork() -> None:
    """In a forked child: log lines that went through the shared console go plainly to
    stderr (in a worker, the job's log file) instead, and none goes to the leader's
    ``--logFile`` (the leader's own story; a job's lines reach it as the leader logs them)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not getattr(handler, "_moil", False):
            continue
        if isinstance(handler, logging.FileHandler):
            root.handlers.remove(handler)  # not closed: the file is the leader's
        elif isinstance(handler, ConsoleHandler) or type(handler).__name__ == "RichHandler":
            plain = logging.StreamHandler(sys.stderr)
            plain.setFormatter(logging.Formatter(PLAIN_FORMAT, PLAIN_DATES))
            plain.setLevel(handler.level)
            setattr(plain, "_moil", True)  # noqa: B010
            root.handlers[root.handlers.index(handler)] = plain


os.register_at_fork(after_in_child=_plain_after_fork)


def setup_logging(config: RunConfig) -> None:
    """Install a handler on stderr (rich on a terminal) and ``--logFile`` if given
    (``--rotatingLogging``: rolled over at ROTATE_BYTES, one older part kept)."""
    root = logging.getLogger()
    level = log_level(config.log_level)
    for old in list(root.handlers):
        if getattr(old, "_moil", False):
            root.removeHandler(old)
    root.addHandler(stderr_handler(logging.Formatter(PLAIN_FORMAT, PLAIN_DATES), rich=True))
    log_file = config.log_file
    if log_file:
        file_handler: logging.Handler
        if config.rotating_logging:
            file_handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=ROTATE_BYTES, backupCount=1
            )
        else:
            file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(
            logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s")
        )
        setattr(file_handler, "_moil", True)  # noqa: B010
        root.addHandler(file_handler)
    root.setLevel(level)
