"""What a report says about a run besides its jobs: the command line, the versions, the
workflow's inputs and outputs. Kept in the store as one shared JSON blob (``run-info``),
written by the leader when it starts driving the run and again when the front end has the
outputs, so ``toil report`` on a kept store shows them as the runner's ``--report`` does.

Secrets never get in: the front ends hand over inputs and outputs that hold placeholders
only (``runner.jobenv.secrets``), and every text is also passed through ``secrets.redact``.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
import time
from importlib import metadata
from typing import Any

from backends.errors import BackendError
from backends.jobstore.base import JobStore
from runner.engine import names
from runner.jobenv import secrets

#: libraries whose versions a report names, when the run loaded them
LIBRARIES = ("moil", "cwltool", "cwl-utils", "schema-salad", "miniwdl")


def versions() -> dict[str, str]:
    """Python's and the loaded libraries' versions."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        module = name.replace("-", "_").replace("miniwdl", "WDL")
        if name != "moil" and module not in sys.modules:
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _clean(value: Any) -> Any:
    """``value`` as JSON-ready data with every known secret replaced by its placeholder."""
    text = secrets.redact(json.dumps(value, default=str))
    return json.loads(text)


def start_info(argv: list[str]) -> dict[str, Any]:
    """The run-info of a leader starting now with command line ``argv``."""
    return {
        "command_line": _clean(argv),
        "versions": versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "started": time.time(),
    }


def read_run_info(store: JobStore) -> dict[str, Any]:
    """The stored run-info (empty if there is none or it cannot be read)."""
    try:
        if not store.shared_exists(names.RUN_INFO):
            return {}
        data = json.loads(store.read_shared(names.RUN_INFO))
    except (BackendError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_run_info(store: JobStore, **entries: Any) -> None:
    """Add ``entries`` (JSON-ready after ``str`` of what is not) to the stored run-info."""
    info = read_run_info(store)
    info.update({key: _clean(value) for key, value in entries.items()})
    store.write_shared(names.RUN_INFO, json.dumps(info).encode())
