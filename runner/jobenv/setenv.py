"""``--setEnv/-e NAME=VALUE`` (or ``NAME``: its value in the leader's environment): variables
every job of the run sees.

The leader resolves each entry once (``resolve``, when the configuration is built), so a
worker on another host is given the leader's value. A job sees them in its process's
environment while it runs (``job_environment``: a pool worker gets its own back after the
job), and the tools of CWL and WDL jobs get them as if named by ``--preserve-environment``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from runner.errors import UsageError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def resolve(entries: Iterable[str], environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Each entry as ``NAME=VALUE`` (a bare ``NAME`` takes its value in ``environ``, this
    process's by default). Raises UsageError for a bad name or a NAME that is not set."""
    environ = os.environ if environ is None else environ
    out = []
    for entry in entries:
        name, sep, value = entry.partition("=")
        if not _NAME.match(name):
            raise UsageError(f"--setEnv {entry!r}: give NAME=VALUE or NAME (a variable name)")
        if not sep:
            if name not in environ:
                raise UsageError(f"--setEnv {name}: {name} is not set here; give {name}=VALUE")
            value = environ[name]
        out.append(f"{name}={value}")
    return tuple(out)


def variables(entries: Iterable[str]) -> dict[str, str]:
    """The resolved entries as a mapping (a later entry for a name wins)."""
    return dict(entry.partition("=")[::2] for entry in entries)


@contextmanager
def job_environment(entries: Iterable[str]) -> Iterator[None]:
    """Set the variables while the block runs; put back what was there before."""
    wanted = variables(entries)
    if not wanted:
        yield
        return
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, old in before.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
