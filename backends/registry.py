"""Discovery of job stores and batch systems by entry point.

Built-in backends are registered in ``pyproject.toml`` the same way third-party ones are
(groups ``moil.job_stores`` and ``moil.batch_systems``). Names are matched ignoring case,
``-`` and ``_`` so that Toil's spellings (``single_machine``, ``singleMachine``) all work.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from backends.errors import UnknownBackendError

JOB_STORE_GROUP = "moil.job_stores"
BATCH_SYSTEM_GROUP = "moil.batch_systems"

# Fallbacks for running from a source tree that was not installed (entry points missing).
_BUILTIN: dict[str, dict[str, str]] = {
    JOB_STORE_GROUP: {
        "file": "backends.jobstore.file:FileJobStore",
        "memory": "backends.jobstore.memory:MemoryJobStore",
    },
    BATCH_SYSTEM_GROUP: {
        "single_machine": "backends.batch.single_machine:SingleMachineBatchSystem",
        "slurm": "backends.batch.slurm:SlurmBatchSystem",
    },
}


def _norm(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


_BUILTIN_NORMED = {
    group: {_norm(n): (n, t) for n, t in names.items()} for group, names in _BUILTIN.items()
}


@cache
def _targets(group: str) -> dict[str, tuple[str, str]]:
    """Map normalised name -> (display name, "module:attr") for one group."""
    from importlib.metadata import entry_points  # ~15 ms to import: only when scanning

    found = dict(_BUILTIN_NORMED[group])
    for ep in entry_points(group=group):
        found.setdefault(_norm(ep.name), (ep.name, ep.value))
    return found


def builtin_names(group: str) -> tuple[str, ...]:
    """The names of the built-in backends of a group (no scan of the entry points)."""
    return tuple(_BUILTIN[group])


def known_names(group: str) -> list[str]:
    """The registered names of a group, sorted."""
    return sorted(display for display, _ in _targets(group).values())


def load(group: str, name: str) -> Any:
    """Import and return the class registered as ``name`` in ``group``.

    Raises UnknownBackendError listing the known names.
    """
    key = _norm(name)
    # A built-in name needs no scan of every installed distribution's entry points (~30 ms
    # at each command's start); built-ins cannot be replaced by a plug-in of the same name.
    entry = _BUILTIN_NORMED[group].get(key) or _targets(group).get(key)
    if entry is None:
        kind = "batch system" if group == BATCH_SYSTEM_GROUP else "job store kind"
        raise UnknownBackendError(
            f"unknown {kind} {name!r}; known: {', '.join(known_names(group))}"
        )
    module, _, attr = entry[1].partition(":")
    return getattr(importlib.import_module(module), attr)
