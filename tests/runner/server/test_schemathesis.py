"""schemathesis against the official WES 1.1.0 OpenAPI file: every response of moil's
server validates (status codes, content types, headers, bodies), for requests made up by
schemathesis from the spec, including ones that break it.

The spec is read where the project keeps it (``../shared/specs/wes``, or
``$MOIL_WES_SPECS``) and changed in two ways, in a temporary copy: its one reference to a
schema on the network (GA4GH service-info's ``Service``, unreachable here) is replaced by
that schema's fields, written here; and the path parameters ``run_id`` and ``task_id`` are
narrowed to a run and a task of this server, so that the run endpoints are tested on a run
that exists (schemathesis's negative cases still try other values). And ListTasks gets the
400 response ListRuns has: the spec documents none there, yet a ``page_size`` that is not
an int64 must be refused, as schemathesis's negative cases check.

``positive_data_acceptance`` is left out for RunWorkflow only: its form schema marks no
field required (WES's RunRequest model does), so a form without ``workflow_url`` is valid
to the schema, and the server refuses it (400), as it must.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services.wes import WesServer, clients_venv, specs_dir, submit

pytestmark = pytest.mark.wes

SPEC = "workflow_execution_service-1.1.0.openapi.yaml"
SERVICE = {
    "type": "object",
    "required": ["id", "name", "type", "organization", "version"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "type": {
            "type": "object",
            "required": ["group", "artifact", "version"],
            "properties": {k: {"type": "string"} for k in ("group", "artifact", "version")},
        },
        "description": {"type": "string"},
        "organization": {
            "type": "object",
            "required": ["name", "url"],
            "properties": {"name": {"type": "string"}, "url": {"type": "string", "format": "uri"}},
        },
        "contactUrl": {"type": "string", "format": "uri"},
        "documentationUrl": {"type": "string", "format": "uri"},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
        "environment": {"type": "string"},
        "version": {"type": "string"},
    },
}
TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [echo, checked]
inputs: []
stdout: out.txt
outputs: {out: stdout}
"""


def patched_spec(target: Path, run_id: str, task_id: str) -> Path:
    source = specs_dir() / SPEC
    if not source.exists():
        pytest.fail(f"the WES spec is not at {source}; set MOIL_WES_SPECS to its directory")
    spec: dict[str, Any] = yaml.safe_load(source.read_text())
    schemas = spec["components"]["schemas"]
    remote = schemas["ServiceInfo"]["allOf"][0]["$ref"]
    assert remote.startswith("https://"), "the one remote reference this test replaces"
    schemas["Service"] = SERVICE
    schemas["ServiceInfo"]["allOf"][0] = {"$ref": "#/components/schemas/Service"}
    tasks = spec["paths"]["/runs/{run_id}/tasks"]["get"]["responses"]
    assert 400 not in tasks and "400" not in tasks, "the omission this test makes up for"
    tasks[400] = spec["paths"]["/runs"]["get"]["responses"][400]
    for path in spec["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "run_id":
                    parameter["schema"] = {"type": "string", "enum": [run_id]}
                elif parameter["name"] == "task_id":
                    parameter["schema"] = {"type": "string", "enum": [task_id]}
    target.write_text(json.dumps(spec))
    return target


def schemathesis(spec: Path, server: WesServer, *args: str) -> subprocess.CompletedProcess[str]:
    # schemathesis keeps a `.schemathesis/` cache in its working directory: run it beside the
    # spec so a test run leaves nothing in the checkout.
    argv = [
        str(clients_venv() / "bin" / "schemathesis"),
        "run",
        str(spec),
        "--url",
        server.api,
        "--max-examples",
        "25",
        "--workers",
        "2",
        "--seed",
        "19",
        "--request-timeout",
        "30",
        *args,
    ]
    for name, value in server.headers().items():
        argv += ["--header", f"{name}: {value}"]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=900, check=False, cwd=spec.parent
    )


@pytest.mark.parametrize("token", [None, "s3cret-token"], ids=["open", "with-token"])
def test_every_response_validates_against_the_wes_spec(tmp_path: Path, token: str | None) -> None:
    server = WesServer(tmp_path / "server", token=token)
    if token:
        (tmp_path / "token").write_text(token + "\n")
        server.args = ["--token_file", str(tmp_path / "token")]
    server.start()
    try:
        status, body = submit(
            server,
            {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "t.cwl"},
            [("t.cwl", TOOL.encode())],
        )
        assert status == 200, body
        run_id = body["run_id"]
        assert server.wait(run_id) == "COMPLETE"
        task_id = server.get(f"/runs/{run_id}/tasks")["task_logs"][0]["id"]
        spec = patched_spec(tmp_path / "wes.json", run_id, task_id)
        rest = schemathesis(
            spec, server, "--checks", "all", "--exclude-operation-id", "RunWorkflow"
        )
        assert rest.returncode == 0, rest.stdout[-6000:]
        runs = schemathesis(
            spec,
            server,
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--include-operation-id",
            "RunWorkflow",
        )
        assert runs.returncode == 0, runs.stdout[-6000:]
        assert "8/8" in rest.stdout or "7/8" in rest.stdout, rest.stdout[-2000:]
        assert server.get(f"/runs/{run_id}/status")["state"] == "COMPLETE"
    finally:
        server.stop()
