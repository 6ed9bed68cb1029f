"""PyPI's wes-service clients against moil's server: the ``wes-client`` command and the
``wes_client`` library each submit a CWL and a WDL workflow, poll, and read outputs and logs.

The clients run in their own venv (tools cache), as their users run them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.runner.server.conftest import write
from tests.services.wes import WesServer, clients_venv

pytestmark = pytest.mark.wes

CWL = """\
cwlVersion: v1.0
class: CommandLineTool
baseCommand: [wc, -l]
inputs:
  f: {type: File, inputBinding: {position: 1}}
stdout: lines.txt
outputs:
  lines: stdout
"""
WDL = """\
version 1.0
task count {
  input { File f }
  command <<< wc -w < ~{f} >>>
  output { Int words = read_int(stdout()) }
}
workflow words {
  input { File f }
  call count { input: f = f }
  output { Int n = count.words }
}
"""
LIBRARY_SCRIPT = """
import json, sys, time
import requests
from wes_client.util import WESClient

host, wf, inputs = sys.argv[1:4]
client = WESClient({"auth": {}, "proto": "http", "host": host})
info = client.get_service_info()
run = client.run(wf, inputs, [])
state = client.get_run_status(run["run_id"])["state"]
seen = [state]
while state in ("QUEUED", "INITIALIZING", "RUNNING"):
    time.sleep(0.3)
    state = client.get_run_status(run["run_id"])["state"]
    seen.append(state)
log = client.get_run_log(run["run_id"])
stderr = requests.get(log["run_log"]["stderr"]).text
listed = [r["run_id"] for r in client.list_runs()["runs"]]
print(json.dumps({"info": info, "run_id": run["run_id"], "states": seen, "log": log,
                  "stderr": stderr, "listed": listed}))
"""


def _client(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(clients_venv() / "bin" / argv[0]), *argv[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _command_run(host: str, here: Path, *argv: str) -> tuple[Any, str]:
    """The outputs and run ID that ``wes-client`` printed running ``argv`` (workflow and
    inputs as paths under ``here``) to COMPLETE."""
    paths = [arg if arg.startswith("-") or "/" in arg else str(here / arg) for arg in argv]
    done = _client("wes-client", "--proto", "http", "--host", host, *paths, cwd=here)
    assert done.returncode == 0, done.stderr
    assert "State is COMPLETE" in done.stderr
    run_id = next(
        line.rsplit(" ", 1)[1] for line in done.stderr.splitlines() if "Workflow run id is" in line
    )
    return json.loads(done.stdout), run_id


def _library_run(wes_server: WesServer, here: Path, workflow: str, inputs: str) -> Any:
    """What LIBRARY_SCRIPT saw running ``here/workflow`` on ``here/inputs`` (file URIs)."""
    script = write(here / "client.py", LIBRARY_SCRIPT)
    done = _client(
        "python",
        str(script),
        f"{wes_server.host}:{wes_server.port}",
        (here / workflow).as_uri(),
        (here / inputs).as_uri(),
        cwd=here,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_wes_client_command_runs_a_cwl_workflow(wes_server: WesServer) -> None:
    here = wes_server.work / "inputs" / "cli"
    write(here / "count.cwl", CWL)
    write(here / "data.txt", "one\ntwo\nthree\n")
    write(here / "job.json", json.dumps({"f": {"class": "File", "location": "data.txt"}}))
    host = f"{wes_server.host}:{wes_server.port}"
    outputs, run_id = _command_run(
        host, here, "--attachments", str(here / "data.txt"), "count.cwl", "job.json"
    )
    assert Path(outputs["lines"]["path"]).read_text().split()[0] == "3"
    shown = _client("wes-client", "--proto", "http", "--host", host, f"--log={run_id}", cwd=here)
    assert shown.returncode == 0 and "moil server: attempt 1" in shown.stdout, shown.stderr
    got = _client("wes-client", "--proto", "http", "--host", host, f"--get={run_id}", cwd=here)
    assert json.loads(got.stdout)["state"] == "COMPLETE"
    listed = _client("wes-client", "--proto", "http", "--host", host, "--list", cwd=here)
    assert run_id in [r["run_id"] for r in json.loads(listed.stdout)["runs"]]


def test_wes_client_library_runs_a_wdl_workflow(wes_server: WesServer) -> None:
    here = wes_server.work / "inputs" / "lib"
    write(here / "words.wdl", WDL)
    write(here / "text.txt", "a few words here\n")
    write(here / "inputs.json", json.dumps({"words.f": str(here / "text.txt")}))
    result = _library_run(wes_server, here, "words.wdl", "inputs.json")
    assert result["info"]["supported_wes_versions"][0] == "1.1.0"
    assert result["states"][-1] == "COMPLETE", result["log"]
    assert result["log"]["outputs"] == {"words.n": 4}
    assert result["log"]["request"]["workflow_type"] == "WDL"
    assert "toil-wdl-runner" in result["stderr"]
    assert result["run_id"] in result["listed"]


def test_wes_client_command_runs_a_wdl_workflow(wes_server: WesServer) -> None:
    here = wes_server.work / "inputs" / "cli-wdl"
    write(here / "words.wdl", WDL)
    write(here / "text.txt", "two words\n")
    write(here / "inputs.json", json.dumps({"words.f": str(here / "text.txt")}))
    host = f"{wes_server.host}:{wes_server.port}"
    outputs, run_id = _command_run(host, here, "words.wdl", "inputs.json")
    assert outputs == {"words.n": 2}
    shown = _client("wes-client", "--proto", "http", "--host", host, f"--log={run_id}", cwd=here)
    assert shown.returncode == 0 and "toil-wdl-runner" in shown.stdout, shown.stderr


def test_wes_client_library_runs_a_cwl_workflow(wes_server: WesServer) -> None:
    here = wes_server.work / "inputs" / "lib-cwl"
    write(here / "count.cwl", CWL)
    write(here / "data.txt", "one\ntwo\n")
    write(here / "job.json", json.dumps({"f": {"class": "File", "path": str(here / "data.txt")}}))
    result = _library_run(wes_server, here, "count.cwl", "job.json")
    assert result["states"][-1] == "COMPLETE", result["log"]
    lines = result["log"]["outputs"]["lines"]
    assert lines["basename"] == "lines.txt"
    assert Path(lines["path"]).read_text().split()[0] == "2"
    assert result["log"]["request"]["workflow_type"] == "CWL"
    assert "toil-cwl-runner" in result["stderr"]
    assert result["run_id"] in result["listed"]
