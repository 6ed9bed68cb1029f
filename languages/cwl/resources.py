"""A CommandLineTool's ResourceRequirement as the scheduler's resources.

cores = ``coresMin`` (else ``coresMax``), memory = ``ramMin`` MiB, disk = ``tmpdirMin`` +
``outdirMin`` MiB; expressions are evaluated on the step's inputs. Without a requirement the
run's defaults (``--defaultCores`` ...) apply. Requests beyond what this run may use are
lowered to that limit with a warning, as cwltool runs them anyway. ``arv:UsePreemptible``
(``usePreemptible: true``) marks the job preemptible, as Toil does.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
from typing import Any

from languages.cwl.expressions import ExpressionFailed, local_files
from languages.cwl.hints import preemptible
from languages.cwl.runtime import runtime_context
from runner.jobenv.tempdirs import work_dir
from runner.model.graph import ResourceSpec

log = logging.getLogger(__name__)

MIB = 1024 * 1024


def resource_spec(process: Any, job: dict[str, Any], ctx: Any) -> ResourceSpec:
    """The resources a run of ``process`` on ``job`` asks for."""
    req, _ = process.get_requirement("ResourceRequirement")
    if not req:
        return ResourceSpec(preemptible=preemptible(process))
    keys = [f"{n}{m}" for n in ("cores", "ram", "tmpdir", "outdir") for m in ("Min", "Max")]
    if any(isinstance(req.get(k), str) for k in keys):
        values = _evaluated(process, job, ctx)
    else:
        values = {}
        for name in ("cores", "ram", "tmpdir", "outdir"):
            low, high = req.get(f"{name}Min"), req.get(f"{name}Max")
            values[name] = (
                float(low) if low is not None else (None if high is None else float(high))
            )
    cores = values["cores"]
    ram = values["ram"]
    disk = None
    if values["tmpdir"] is not None or values["outdir"] is not None:
        disk = (values["tmpdir"] or 1024) + (values["outdir"] or 1024)
    config = ctx.config
    limits = _limits(config.max_cores, config.max_memory, config.max_disk, config.work_dir)
    return ResourceSpec(
        cores=None if cores is None else _clamp("cores", float(cores), limits[0]),
        memory=None if ram is None else int(_clamp("ram", math.ceil(ram) * MIB, limits[1])),
        disk=None if disk is None else int(_clamp("disk", math.ceil(disk) * MIB, limits[2])),
        preemptible=preemptible(process),
    )


def _evaluated(process: Any, job: dict[str, Any], ctx: Any) -> dict[str, float | None]:
    """Resource expressions evaluated by cwltool as the tool's run will (tool defaults
    applied, file sizes known)."""
    from cwltool.errors import WorkflowException

    temp = ctx.file_store.local_temp_dir
    with local_files(ctx) as (localizer, _):
        rc = runtime_context(ctx.config, temp)
        rc.outdir = rc.tmpdir = rc.stagedir = os.path.join(temp, "resources")
        try:
            request = process._init_job(localizer.localize(job), rc).resources
        except WorkflowException as exc:
            raise ExpressionFailed(f"ResourceRequirement: {exc}") from None
    return {
        "cores": request.get("cores"),
        "ram": request.get("ram"),
        "tmpdir": request.get("tmpdirSize"),
        "outdir": request.get("outdirSize"),
    }


@functools.lru_cache(maxsize=8)
def _limits(
    max_cores: float | None, max_memory: int | None, max_disk: int | None, work: str | None
) -> tuple[float, int, int]:
    import psutil

    cores = float(max_cores or os.cpu_count() or 1)
    memory = int(max_memory or psutil.virtual_memory().total)
    disk = int(max_disk or shutil.disk_usage(work_dir(work)).free)
    return cores, memory, disk


def _clamp(what: str, value: float, limit: float) -> float:
    if value > limit:
        log.warning(
            "a tool asks for %s %s, more than this run allows (%s); using %s",
            what,
            value,
            limit,
            limit,
        )
        return limit
    return value
