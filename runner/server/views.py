"""The JSON bodies the server answers with, shaped as WES 1.1.0's schemas say.

Fields WES does not allow to be null are left out when there is nothing to say (a run not
started has no ``start_time``); engine parameters given as null (cwltest's runners send
flags so) are shown as empty strings, as the schema wants strings.
"""

from __future__ import annotations

import platform
import time
from typing import Any

from runner import __version__
from runner.server.options import default_parameters
from runner.server.state import RunRecord, State, iso_time
from runner.server.submit import TYPE_VERSIONS
from runner.server.tasks import Task

API = "/ga4gh/wes/v1"
STARTED = time.time()


def error(message: str, status: int) -> dict[str, Any]:
    """An ErrorResponse."""
    return {"msg": message, "status_code": status}


def service_info(counts: dict[str, int], token: bool, base_url: str) -> dict[str, Any]:
    """The ServiceInfo (GA4GH service-info 1.0 ``Service`` plus WES's fields)."""
    states = {str(s): 0 for s in State} | counts
    return {
        "id": "org.moil.wes",
        "name": "moil WES server",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"},
        "description": "GA4GH WES 1.1.0 over moil (CWL, WDL and Toil scripts)",
        "organization": {"name": "moil", "url": base_url or "http://127.0.0.1"},
        "version": __version__,
        "createdAt": iso_time(STARTED),
        "updatedAt": iso_time(time.time()),
        "environment": "production",
        "workflow_type_versions": {
            kind: {"workflow_type_version": list(versions)}
            for kind, versions in TYPE_VERSIONS.items()
        },
        "supported_wes_versions": ["1.1.0", "1.0.0"],
        "supported_filesystem_protocols": ["file", "http", "https"],
        "workflow_engine_versions": {
            "moil": {"workflow_engine_version": [__version__]},
        },
        "default_workflow_engine_parameters": [
            {"name": name, "type": "string", "default_value": ""}
            for name in sorted({n for k in TYPE_VERSIONS for n in default_parameters(k)})
        ],
        "system_state_counts": states,
        "auth_instructions_url": (f"{base_url}/#auth" if token else f"{base_url}/#no-auth"),
        "tags": {
            "python": platform.python_version(),
            "authentication": "bearer" if token else "none",
        },
    }


def request_view(request: dict[str, Any]) -> dict[str, Any]:
    """The RunRequest as accepted (strings where the schema wants them)."""
    out = dict(request)
    out["workflow_engine_parameters"] = {
        k: "" if v is None else str(v) for k, v in request["workflow_engine_parameters"].items()
    }
    out["tags"] = {k: str(v) for k, v in request.get("tags", {}).items()}
    return out


def run_summary(record: RunRecord) -> dict[str, Any]:
    """A RunSummary."""
    out: dict[str, Any] = {
        "run_id": record.run_id,
        "state": str(record.state),
        "tags": dict(record.request.get("tags", {})),
    }
    _times(out, record.start_time, record.end_time)
    return out


def run_log(
    record: RunRecord, base: str, outputs: dict[str, Any] | None, tasks: list[Task] | None
) -> dict[str, Any]:
    """A RunLog; ``base`` is ``http://host:port/ga4gh/wes/v1``."""
    log: dict[str, Any] = {
        "name": str(record.request.get("workflow_url", "")),
        "cmd": list(record.argv),
        "stdout": f"{base}/runs/{record.run_id}/stdout",
        "stderr": f"{base}/runs/{record.run_id}/stderr",
        "system_logs": list(record.system_logs),
    }
    _times(log, record.start_time, record.end_time)
    if record.exit_code is not None:
        log["exit_code"] = record.exit_code
    out: dict[str, Any] = {
        "run_id": record.run_id,
        "request": request_view(record.request),
        "state": str(record.state),
        "run_log": log,
        "task_logs_url": f"{base}/runs/{record.run_id}/tasks",
        "task_logs": None if tasks is None else [task_log(t, record, base) for t in tasks],
        "outputs": outputs or {},
    }
    return out


def task_log(task: Task, record: RunRecord, base: str) -> dict[str, Any]:
    """A TaskLog; stdout and stderr are one log (the job's merged output)."""
    url = f"{base}/runs/{record.run_id}/tasks/{task.id}/log"
    out: dict[str, Any] = {
        "id": task.id,
        "name": task.display_name or task.name,
        "system_logs": [f"state: {task.state}", f"job: {task.name}"]
        + ([f"attempts failed: {task.failed_attempts}"] if task.failed_attempts else [])
        + ([task.message] if task.message else [])
        + (["ran in the leader"] if task.local else []),
    }
    if not task.local:
        out["stdout"] = url
        out["stderr"] = url
    _times(out, task.start, task.end if task.state in ("COMPLETE", "EXECUTOR_ERROR") else None)
    if task.exit_code is not None:
        out["exit_code"] = task.exit_code
    return out


def timeline(tasks: list[Task]) -> dict[str, Any]:
    """What the run page draws: each task's attempts on one time axis (moil's own)."""
    return {
        "tasks": [
            {
                "id": t.id,
                "name": t.name,
                "display_name": t.display_name,
                "state": t.state,
                "local": t.local,
                "exit_code": t.exit_code,
                "spans": t.spans,
            }
            for t in tasks
        ]
    }


def _times(out: dict[str, Any], start: float | None, end: float | None) -> None:
    if start is not None:
        out["start_time"] = iso_time(start)
    if end is not None:
        out["end_time"] = iso_time(end)
