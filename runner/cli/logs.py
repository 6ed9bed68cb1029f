"""Logging set-up for the commands (the library itself only uses getLogger)."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from runner.config.options import log_level
from runner.config.runconfig import RunConfig

#: --rotatingLogging: the --logFile rolls over to LOGFILE.1 past this size
ROTATE_BYTES = 10 * 1024 * 1024


def setup_logging(config: RunConfig) -> None:
    """Install a handler on stderr (rich on a terminal) and ``--logFile`` if given
    (``--rotatingLogging``: rolled over at ROTATE_BYTES, one older part kept)."""
    root = logging.getLogger()
    level = log_level(config.log_level)
    for old in list(root.handlers):
        if getattr(old, "_moil", False):
            root.removeHandler(old)
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(stderr=True), show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(message)s",
                                               "%Y-%m-%dT%H:%M:%S"))
    setattr(handler, "_moil", True)  # marks our own handlers  # noqa: B010
    root.addHandler(handler)
    log_file = config.log_file
    if log_file:
        file_handler: logging.Handler
        if config.rotating_logging:
            file_handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=ROTATE_BYTES, backupCount=1)
        else:
            file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: "
                                                    "%(message)s"))
        setattr(file_handler, "_moil", True)  # noqa: B010
        root.addHandler(file_handler)
    root.setLevel(level)
