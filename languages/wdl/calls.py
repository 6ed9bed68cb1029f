"""Task calls as work nodes: the payload a worker gets, and the resources the scheduler sees.

Resources come from the task's ``runtime`` section (``cpu`` -> cores, ``memory`` -> bytes,
``disks`` -> bytes, ``gpu`` -> one accelerator) evaluated in the leader with the inputs they
read. When those inputs are still promises, a local *prepare* node waits for them, computes
the resources and adds the work node as its child.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from typing import Any

import psutil
from WDL import Tree, Type, Value
from WDL._util import parse_byte_size

from languages.wdl.expressions import decl_order, evaluate, free_names
from languages.wdl.load import CallableRef
from languages.wdl.stdlib import WorkflowLib
from languages.wdl.values import is_ready
from runner.config.runconfig import RunConfig
from runner.jobenv.tempdirs import work_dir
from runner.model.graph import JobContext, JobNode, ResourceSpec

log = logging.getLogger(__name__)

RESOURCE_KEYS = ("cpu", "memory", "disks", "gpu", "gpuCount", "nvidiaGpu")
TASK_EXECUTOR = "languages.wdl.task:run_task"
PREPARE_EXECUTOR = "languages.wdl.nodes:prepare_task"


@dataclass(frozen=True)
class TaskPayload:
    """What a worker needs to run one task call: the task, its inputs (files as job-store
    references), and a label for messages (``wf.call[3]``)."""

    task: CallableRef
    inputs: dict[str, Any]
    label: str


def input_type(callee: Tree.Task | Tree.Workflow, name: str) -> Type.Base:
    """The type a call input ``name`` is coerced to (optional if the input has a default)."""
    decl = callee.available_inputs[name]
    return decl.type.copy(optional=True) if decl.expr is not None else decl.type


def task_job(
    ctx: JobContext,
    task: Tree.Task,
    ref: CallableRef,
    inputs: dict[str, Any],
    label: str,
    lib: WorkflowLib,
) -> JobNode:
    """The node that runs ``task`` with ``inputs`` (values or promises)."""
    payload = TaskPayload(ref, inputs, label)
    if all(is_ready(inputs[n]) for n in resource_names(task) if n in inputs):
        return work_node(task, payload, lib, ctx.config)
    return JobNode(
        executor=PREPARE_EXECUTOR,
        payload=payload,
        name="wdl-prepare",
        display_name=label,
        local=True,
    )


def work_node(
    task: Tree.Task, payload: TaskPayload, lib: WorkflowLib, config: RunConfig
) -> JobNode:
    """The work node of a task call whose resource inputs are known."""
    return JobNode(
        executor=TASK_EXECUTOR,
        payload=payload,
        name=task.name,
        display_name=payload.label,
        resources=task_resources(task, payload.inputs, lib, config),
    )


_resource_names: dict[int, tuple[Tree.Task, frozenset[str]]] = {}


def resource_names(task: Tree.Task) -> frozenset[str]:
    """The task's declarations (inputs among them) its resource expressions read, directly or
    through other declarations."""
    hit = _resource_names.get(id(task))
    if hit is not None and hit[0] is task:
        return hit[1]
    decls = {d.name: d for d in (task.inputs or []) + task.postinputs}
    todo = [
        n for key in RESOURCE_KEYS if key in task.runtime for n in free_names(task.runtime[key])
    ]
    found: set[str] = set()
    while todo:
        name = todo.pop()
        if name in found or name not in decls:
            continue
        found.add(name)
        expr = decls[name].expr
        if expr is not None:
            todo.extend(free_names(expr))
    result = frozenset(found)
    _resource_names[id(task)] = (task, result)
    return result


def task_resources(
    task: Tree.Task, inputs: dict[str, Any], lib: WorkflowLib, config: RunConfig
) -> ResourceSpec:
    """Cores, memory, disk and accelerators from the ``runtime`` section. A value that cannot
    be evaluated here falls back to the default (the task itself evaluates it again)."""
    wanted = [k for k in RESOURCE_KEYS if k in task.runtime]
    if not wanted:
        return ResourceSpec()
    env = _resource_env(task, inputs, lib)
    runtime: dict[str, Value.Base] = {}
    for key in wanted:
        try:
            runtime[key] = evaluate(task.runtime[key], env, lib)
        except Exception as exc:  # noqa: BLE001 (fall back to the default; the task re-evaluates)
            log.debug("runtime.%s of %s not evaluated in the leader: %s", key, task.name, exc)
    cores = _cores(runtime.get("cpu"))
    memory = _bytes(runtime.get("memory"), "memory")
    disk = _disks(runtime.get("disks"))
    gpus = _gpus(runtime)
    if config.batch_system.replace("_", "").lower() in ("singlemachine",):
        cores, memory, disk = _fit_machine(task.name, cores, memory, disk, config)
    accelerators = ({"kind": "gpu", "count": gpus},) if gpus else ()
    return ResourceSpec(cores=cores, memory=memory, disk=disk, accelerators=accelerators)


def _resource_env(
    task: Tree.Task, inputs: dict[str, Any], lib: WorkflowLib
) -> dict[str, Value.Base]:
    needed = resource_names(task)
    env: dict[str, Value.Base] = {}
    for decl in decl_order((task.inputs or []) + task.postinputs):
        if decl.name not in needed:
            continue
        given = inputs.get(decl.name)
        try:
            if given is not None and not (isinstance(given, Value.Null) and decl.expr is not None):
                env[decl.name] = given.coerce(decl.type)
            elif decl.expr is not None:
                env[decl.name] = evaluate(decl.expr, env, lib, decl.type)
            else:
                env[decl.name] = Value.Null()
        except Exception as exc:  # noqa: BLE001 (the resource just falls back to its default)
            log.debug(
                "declaration %s of %s not evaluated in the leader: %s", decl.name, task.name, exc
            )
    return env


def _cores(value: Value.Base | None) -> float | None:
    if value is None or isinstance(value, Value.Null):
        return None
    return max(float(value.coerce(Type.Float()).value), 0.01)


def _bytes(value: Value.Base | None, what: str) -> int | None:
    if value is None or isinstance(value, Value.Null):
        return None
    if isinstance(value, Value.Int | Value.Float):
        return int(value.value)
    try:
        return parse_byte_size(str(value.coerce(Type.String()).value))
    except ValueError:
        log.warning("ignoring runtime.%s = %s: not a size", what, value)
        return None


def _disks(value: Value.Base | None) -> int | None:
    """Bytes from ``disks``: ``"local-disk 100 SSD"`` (GiB), ``"10 GiB"``, ``"/mnt 5 GB"``, an
    Int (GiB), or an array of those (summed)."""
    if value is None or isinstance(value, Value.Null):
        return None
    if isinstance(value, Value.Int | Value.Float):
        return int(value.value * 1024**3)
    specs = value.value if isinstance(value, Value.Array) else [value]
    total = 0
    for spec in specs:
        parts = str(spec.coerce(Type.String()).value).replace(",", " ").split()
        for i, part in enumerate(parts):
            try:
                amount = float(part)
            except ValueError:
                continue
            unit = parts[i + 1] if i + 1 < len(parts) else "GiB"
            try:
                total += parse_byte_size(f"{amount} {unit}")
            except ValueError:
                total += int(amount * 1024**3)
            break
    return total or None


def _gpus(runtime: dict[str, Value.Base]) -> int:
    for key in ("gpuCount", "nvidiaGpu"):
        v = runtime.get(key)
        if isinstance(v, Value.Int) and v.value > 0:
            return int(v.value)
    gpu = runtime.get("gpu")
    return 1 if isinstance(gpu, Value.Boolean) and gpu.value else 0


def _fit_machine(
    name: str, cores: float | None, memory: int | None, disk: int | None, config: RunConfig
) -> tuple[float | None, int | None, int | None]:
    """Requests cut down to what this machine (or --max*) has, as miniwdl does, so that a task
    asking for a big machine still runs here."""
    max_cores = float(config.max_cores or os.cpu_count() or 1)
    max_memory = int(config.max_memory or psutil.virtual_memory().total)
    work = work_dir(config.work_dir)
    max_disk = int(config.max_disk or shutil.disk_usage(work).free)
    out: list[Any] = []
    for what, asked, limit in (
        ("cpu", cores, max_cores),
        ("memory", memory, max_memory),
        ("disk", disk, max_disk),
    ):
        if asked is not None and asked > limit:
            log.warning("task %s asks for %s %s; using this machine's %s", name, what, asked, limit)
            asked = type(asked)(limit)
        out.append(asked)
    return out[0], out[1], out[2]
