"""The environment of a WDL task's command: what cwltool gives a CWL tool, not the leader's.

On the host the command sees only ``HOME`` (its working directory), ``TMPDIR`` (a private
directory beside it) and ``PATH`` (this worker's), plus the variables the user named with
``--preserve-environment VAR`` (or all of them with ``--preserve-entire-environment``; ``HOME``
and ``TMPDIR`` are still the task's). In a container the image sets the rest: only the
preserved variables are passed in, with a warning (once per process), as cwltool warns,
because they override the image's own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from languages.wdl.settings import WdlSettings

#: reports a warning to the user (the leader's log): the job's ``log_to_leader``
Warn = Callable[[str, int], None]

_warned: set[str] = set()


def preserved(settings: WdlSettings, warn: Warn) -> dict[str, str]:
    """The variables of this process that ``--preserve-environment`` and
    ``--preserve-entire-environment`` pass to a task (a missing one is named in a warning,
    once per process)."""
    if settings.preserve_entire_environment:
        return dict(os.environ)
    out: dict[str, str] = {}
    for name in settings.preserve_environment:
        if name in os.environ:
            out[name] = os.environ[name]
        elif name not in _warned:
            _warned.add(name)
            warn(f"--preserve-environment {name}: there is no such variable here", logging.WARNING)
    return out


def host_environment(settings: WdlSettings, home: str, tmpdir: str, warn: Warn) -> dict[str, str]:
    """The environment of a command run on the host."""
    env = preserved(settings, warn)
    env.update(HOME=home, TMPDIR=tmpdir, PATH=os.environ.get("PATH", os.defpath))
    return env


def container_environment(settings: WdlSettings, warn: Warn) -> dict[str, str] | None:
    """The variables passed into a task's container (None: only the image's)."""
    env = preserved(settings, warn)
    if not env:
        return None
    if "container" not in _warned:
        _warned.add("container")
        names = "every variable" if len(env) > 8 else ", ".join(sorted(env))
        warn(
            f"--preserve-environment: {names} passed into task containers override the "
            "images' own values, which may break them",
            logging.WARNING,
        )
    return env
