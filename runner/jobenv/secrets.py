"""Secret values of a run: kept in memory, never written to the job store, journal, logs,
stats or reports.

A front end puts a placeholder in place of each secret value before anything is stored and
registers ``placeholder -> value`` here, in the leader (``register``). The job graph, the
journal and every stored job input then hold only placeholders; a job that must use the
real value (a tool's command line, environment, files) asks for it at run time (``values``).

Workers get the values from the leader through their environment, one variable
(``worker_environment``) that ``take_from_environment`` removes from ``os.environ`` before
the job runs, so the job's own processes do not inherit it. A pool worker gets it through
its pipe from the leader; a cluster job through the scheduler's copy of the submitting
environment (Slurm keeps that in its state directory while the job exists: readable by
root and the Slurm user, not by other users). Nothing else carries them: ``--restart``
needs them given again.
"""

from __future__ import annotations

import json
import os

ENV_NAME = "MOIL_SECRETS"

_values: dict[str, str] = {}
_environment: dict[str, str] = {}


def register(pairs: dict[str, str]) -> None:
    """Add ``placeholder -> value`` pairs (in the leader, before jobs are issued)."""
    _values.update(pairs)
    _environment.clear()
    if _values:
        _environment[ENV_NAME] = json.dumps(_values)


def values() -> dict[str, str]:
    """``placeholder -> value`` of every secret this process knows."""
    return _values


def worker_environment() -> dict[str, str]:
    """The environment entries that give a worker the secrets (empty when there are none).
    The same dict each time: callers must not change it."""
    return _environment


def take_from_environment() -> dict[str, str]:
    """In a worker: move the secrets its environment carries into memory (and out of
    ``os.environ``); every secret this process knows."""
    carried = os.environ.pop(ENV_NAME, None)
    if carried:
        register(json.loads(carried))
    return _values


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by its placeholder."""
    for placeholder, value in _values.items():
        if value:
            text = text.replace(value, placeholder)
    return text
