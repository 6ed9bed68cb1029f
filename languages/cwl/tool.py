"""The work node of a CWL CommandLineTool: runs in a worker of the batch system.

Payload: ``{"tool": ProcRef, "inputs": {name: value}}`` with File/Directory values in the
job store (see ``languages.cwl.files``). The worker maps them to local paths (the stored
files themselves, no copies), lets cwltool build the command line, stage, run and collect,
then moves the outputs into the store and returns them (``{output name: value}``).

A failing tool raises ``ToolFailed`` with its exit code, the tail of its stderr and
cwltool's reason; the leader adds the path of the job's full log.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from typing import Any, NoReturn

from languages.cwl.files import Globalizer, Localizer, MissingInput, UnsafeName
from languages.cwl.load import ProcRef, resolve
from languages.cwl.runtime import (
    CWLTOOL_LOGGER,
    ProcessRun,
    run_process,
    runtime_context,
    stderr_tail,
)
from languages.cwl.secrets import secret_store
from languages.cwl.settings import cwl_settings
from runner.engine.execute import register_warmer
from runner.errors import JobError, PermanentJobError, UnsupportedRequirement
from runner.jobenv import secrets

EXECUTOR = "languages.cwl.tool:run_tool"
#: the job directory's subdirectories that cwltool makes for every job (output directory,
#: a container's /tmp): left in place, empty, when the directory is recycled
_KEPT_SUBDIRS = frozenset({"out", "tmp"})


class ToolFailed(PermanentJobError):
    """The tool ended with a permanent failure (retrying will not help): an invalid input
    or expression, an output that cannot be collected, an exit code in its
    ``permanentFailCodes``, its ToolTimeLimit reached."""


class ToolTemporaryFailure(JobError):
    """The tool exited with one of its ``temporaryFailCodes``: worth a retry."""


class ToolExitFailure(JobError):
    """The tool's command exited non-zero (not a success code) or was killed by a signal
    (the OOM killer, a time limit): retried per ``--retryCount``, as cwltool's users get
    from Toil."""


def _warm(payload: dict[str, Any]) -> None:
    """Load the tool's document and cwltool's runtime, once for a bundle's jobs."""
    resolve(payload["tool"])
    import cwltool.command_line_tool  # noqa: F401 (what running a tool imports)


register_warmer(EXECUTOR, _warm)


def run_tool(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Executor of a CommandLineTool node; returns the tool's outputs, stored."""
    ref: ProcRef = payload["tool"]
    # the job's log (this worker's stderr) shows the command line and cwltool's progress
    # (setLevel empties every logger's cache: only when the level changes)
    cwltool_log = logging.getLogger(CWLTOOL_LOGGER)
    if cwltool_log.level != logging.INFO:
        cwltool_log.setLevel(logging.INFO)
    process = resolve(ref)
    store = ctx.file_store.store
    ctx.file_store.kept_subdirs = _KEPT_SUBDIRS
    temp = ctx.file_store.local_temp_dir
    localizer = Localizer(store, os.path.join(temp, "in"))
    job_order = {}
    for name, value in payload["inputs"].items():
        try:
            job_order[name] = localizer.localize(value)
        except UnsafeName as exc:
            raise ToolFailed(f"{ref.label}: input {name!r}: {exc}") from None
    rc = runtime_context(ctx.config, temp, process)
    rc.secret_store = secret_store()  # cwltool puts the values back where the tool uses them
    run = run_process(process, job_order, rc)
    if _updates_in_place(process):  # what it changed stays changed, even if it failed
        localizer.record_in_place_changes()
    if cwl_settings(ctx.config).leave_tmpdir:
        kept = sorted({temp, *run.outdirs})
        ctx.file_store.logToMaster(f"{ref.label}: --leave-tmpdir kept {', '.join(kept)}")
        return _store_outputs(ctx, ref, process, localizer, run)
    try:
        return _store_outputs(ctx, ref, process, localizer, run)
    finally:
        inside = os.path.realpath(temp)
        for path in run.outdirs:  # made outside the job's directory by --tmp*-prefix
            real = os.path.realpath(path)
            if real != inside and not real.startswith(inside + os.sep):
                shutil.rmtree(path, ignore_errors=True)


def _store_outputs(
    ctx: Any, ref: ProcRef, process: Any, localizer: Localizer, run: ProcessRun
) -> dict[str, Any]:
    """The tool's outputs moved into the job store (or its failure raised)."""
    if run.unsupported:
        raise UnsupportedRequirement(f"{ref.label}: {run.unsupported}")
    if run.status != "success" or run.outputs is None:
        _raise_failure(ref, run)
    store = ctx.file_store.store
    temp = ctx.file_store.local_temp_dir
    in_place = _updates_in_place(process)
    globalizer = Globalizer(
        store,
        localizer.back,
        owned=[temp, *run.outdirs],
        inputs=run.inputs,
        # files updated in place keep no checksum: the final export computes it afresh
        checksums={} if in_place else localizer.checksums,
        checksum=not cwl_settings(ctx.config).no_compute_checksum,
    )
    if in_place:
        try:
            globalizer.sync_in_place(localizer.materialized)
        except MissingInput as exc:
            raise ToolFailed(f"{ref.label}: a directory updated in place: {exc}") from None
    outputs: dict[str, Any] = {}
    for name, value in run.outputs.items():
        try:
            outputs[name] = globalizer.globalize(value)
        except (MissingInput, UnsafeName) as exc:
            raise ToolFailed(f"{ref.label}: output {name!r}: {exc}") from None
    return outputs


def _updates_in_place(process: Any) -> bool:
    req, _ = process.get_requirement("InplaceUpdateRequirement")
    return bool(req and req.get("inplaceUpdate"))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _raise_failure(ref: ProcRef, run: ProcessRun) -> NoReturn:
    parts = [f"tool {ref.label} failed"]
    if run.timed_out:
        parts[0] += ": it ran out of its ToolTimeLimit"
    elif run.exit_code is not None and run.exit_code < 0:
        parts[0] += f", killed by {_signal_name(-run.exit_code)}"
    elif run.exit_code is not None:
        parts[0] += f" with exit code {run.exit_code}"
    reasons = [
        m
        for m in run.messages
        if "exited with status" not in m and "completed permanentFail" not in m
    ]
    if reasons:
        parts.append("; ".join(r.strip() for r in reasons[-3:]))
    tail = stderr_tail(run.stderr_path)
    if tail:
        parts.append("stderr (last lines):\n  | " + "\n  | ".join(tail.splitlines()))
    message = secrets.redact("\n".join(parts))  # a tool may print what it was given
    code = run.exit_code
    if run.status == "temporaryFail":
        raise ToolTemporaryFailure(message, tool_exit_code=code)
    if run.exit_failed:
        raise ToolExitFailure(message, tool_exit_code=code)
    raise ToolFailed(message, tool_exit_code=code)
