"""WDL ``runtime.docker`` / ``runtime.container``: which image a task names, and which engine
runs it (``toil-wdl-runner --container auto|docker|podman|none``).

The task's own directory is bound into the container at the same path, so the command,
its inputs and its outputs have the same paths inside and out: the interpolated command
needs no rewriting and outputs are read back where they were written. Staged inputs (and
inputs read in place, ``--referenceInputs``) are bound read-only on top: a task cannot change
a file of the job store through its hard link. The engine runs the command as the caller
(files written belong to the user that ran the workflow) with the engine's network, as
miniwdl does (WDL has no way to ask for none).
"""

from __future__ import annotations

import logging
from typing import Any

from WDL import Value

from runner.jobenv.containers import ContainerEngine, detect_engine

log = logging.getLogger(__name__)

_engines: dict[str, ContainerEngine | None] = {}


def engine_for(choice: str) -> ContainerEngine | None:
    """The engine for ``--container choice`` (probed once per process); None runs tasks on
    the host. Raises ContainerEngineUnavailable (exit 33) for an explicit engine that does
    not work. ``singularity``: None (the command refuses, before the run, a document whose
    tasks name an image)."""
    if choice == "singularity":
        return None
    if choice not in _engines:
        _engines[choice] = detect_engine(choice)
    return _engines[choice]


def task_image(runtime: dict[str, Value.Base]) -> str | None:
    """The image a task's evaluated runtime names (``container`` before ``docker``; of a
    list, the first that is not ``"*"``), or None for none (or only ``"*"``: any host)."""
    value = runtime.get("container") or runtime.get("docker")
    if value is None or isinstance(value, Value.Null):
        return None
    candidates: list[Any] = value.value if isinstance(value, Value.Array) else [value]
    for item in candidates:
        text = str(item.value).strip() if isinstance(item, Value.String) else ""
        if text and text != "*":
            return text
    return None


def wants_container(runtime_keys: Any) -> bool:
    """Whether a task's runtime section names an image at all."""
    return any(key in runtime_keys for key in ("docker", "container"))
