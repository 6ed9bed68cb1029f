"""``toil server`` over HTTP: runs, states, tasks, logs, outputs, and bad requests refused
with a reason (each against a real server process and real moil runs)."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

from tests.services.wes import ECHO_TOOL as ECHO
from tests.services.wes import WesServer, submit

FAILS = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, "echo about to fail >&2; exit 3"]
inputs: []
outputs: []
"""
SLEEPS = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sleep, "300"]
inputs: []
outputs: []
"""
BAD = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [echo]
inputs: []
outputs: []
requirements:
  - class: NoSuchRequirement
"""
CAT = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [cat]
inputs:
  f: {type: File, inputBinding: {position: 1}}
stdout: copy.txt
outputs:
  copy: stdout
"""


def cwl(url: str, params: dict[str, object] | None = None, **extra: object) -> dict[str, object]:
    return {
        "workflow_type": "CWL",
        "workflow_type_version": "v1.2",
        "workflow_url": url,
        "workflow_params": params or {},
        **extra,
    }


def run_to_end(
    server: WesServer, fields: dict[str, object], files: list[tuple[str, bytes]]
) -> tuple[str, dict[str, object]]:
    status, body = submit(server, fields, files)
    assert status == 200, body
    run_id = body["run_id"]
    server.wait(run_id)
    return run_id, server.get(f"/runs/{run_id}")


def test_a_cwl_run_completes_with_outputs_logs_and_tasks(wes_server: WesServer) -> None:
    run_id, log = run_to_end(
        wes_server, cwl("echo.cwl", {"msg": "hello wes"}), [("echo.cwl", ECHO.encode())]
    )
    assert log["state"] == "COMPLETE" and log["run_log"]["exit_code"] == 0
    out = log["outputs"]["out"]
    assert out["class"] == "File" and out["basename"] == "out.txt"
    assert Path(out["path"]).read_text() == "hello wes\n"
    assert wes_server.get(out["url"].removeprefix(wes_server.api)) == "hello wes\n"
    assert "attempt 1" in wes_server.get(f"/runs/{run_id}/stderr")
    tasks = wes_server.get(f"/runs/{run_id}/tasks")["task_logs"]
    tools = [t for t in tasks if "stderr" in t]
    assert len(tools) == 1 and tools[0]["exit_code"] == 0
    assert wes_server.get(f"/runs/{run_id}/tasks/{tools[0]['id']}")["id"] == tools[0]["id"]
    assert log["task_logs_url"].endswith(f"/runs/{run_id}/tasks")


def test_a_failing_tool_is_executor_error_with_its_exit_code(wes_server: WesServer) -> None:
    run_id, log = run_to_end(
        wes_server,
        cwl("fails.cwl", workflow_engine_parameters={"--retryCount": "0"}),
        [("fails.cwl", FAILS.encode())],
    )
    assert log["state"] == "EXECUTOR_ERROR"
    assert log["run_log"]["exit_code"] == 1  # the engine's: a workflow failed
    failed = [
        t for t in wes_server.get(f"/runs/{run_id}/tasks")["task_logs"] if t.get("exit_code") == 3
    ]
    assert len(failed) == 1, "the tool's own exit code"
    assert "about to fail" in wes_server.get(failed[0]["stderr"].removeprefix(wes_server.api))


def test_a_bad_document_is_refused_with_its_place(wes_server: WesServer) -> None:
    before = set(os.listdir(wes_server.work / "runs"))
    status, body = submit(wes_server, cwl("dir/bad.cwl"), [("dir/bad.cwl", BAD.encode())])
    assert status == 400, body
    assert "dir/bad.cwl:7:5" in body["msg"] and body["status_code"] == 400
    assert "/runs/" not in body["msg"], "the server's own paths stay out of the message"
    assert set(os.listdir(wes_server.work / "runs")) == before, "nothing left behind"
    wdl = b"version 1.0\nworkflow w {\n  call nope\n}\n"
    status, body = submit(
        wes_server,
        {"workflow_type": "WDL", "workflow_type_version": "1.0", "workflow_url": "w.wdl"},
        [("w.wdl", wdl)],
    )
    assert status == 400 and "w.wdl:3:3" in body["msg"], body


def test_cancel_stops_the_run_and_its_tool(wes_server: WesServer) -> None:
    status, body = submit(wes_server, cwl("sleeps.cwl"), [("sleeps.cwl", SLEEPS.encode())])
    assert status == 200, body
    run_id = body["run_id"]
    wes_server.wait(run_id, ("RUNNING",))
    tasks = []
    for _ in range(100):  # until the tool's job is on the batch system
        tasks = [
            t
            for t in wes_server.get(f"/runs/{run_id}/tasks")["task_logs"]
            if "stderr" in t and "state: RUNNING" in t["system_logs"]
        ]
        if tasks:
            break
        wes_server.wait(run_id, ("RUNNING",))
    assert tasks, "the sleeping tool runs"
    assert wes_server.call("POST", f"/runs/{run_id}/cancel") == (200, {"run_id": run_id})
    assert wes_server.wait(run_id, ("CANCELED",), timeout=60) == "CANCELED"
    assert not _processes_under(wes_server.work / "runs" / run_id)


def _processes_under(root: Path) -> list[int]:
    """Processes whose command line names the run's directory (its leader, its tools)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(root).encode() in cmdline and b"sleep" in cmdline:
            found.append(int(pid))
    return found


def test_attachments_stay_inside_the_run(wes_server: WesServer) -> None:
    for name in ("../escape.cwl", "/etc/escape.cwl", "a/../../escape.cwl"):
        status, body = submit(
            wes_server, cwl("echo.cwl"), [("echo.cwl", ECHO.encode()), (name, b"x")]
        )
        assert status == 400 and "relative path inside the run" in body["msg"], (name, body)
    assert not (wes_server.work / "escape.cwl").exists()
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("main.cwl", ECHO)
        link = zipfile.ZipInfo("data")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    status, body = submit(wes_server, cwl("wf.zip"), [("wf.zip", bundle.getvalue())])
    assert status == 400 and "symlink" in body["msg"], body


def test_a_zip_with_a_manifest_runs(wes_server: WesServer) -> None:
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("tools/echo.cwl", ECHO)
        archive.writestr("job.json", json.dumps({"msg": "from the zip"}))
        archive.writestr(
            "MANIFEST.json",
            json.dumps({"mainWorkflowURL": "tools/echo.cwl", "inputFileURLs": ["job.json"]}),
        )
    _, log = run_to_end(wes_server, cwl("workflow.zip"), [("workflow.zip", bundle.getvalue())])
    assert log["state"] == "COMPLETE", log
    assert Path(log["outputs"]["out"]["path"]).read_text() == "from the zip\n"


def test_engine_options_are_checked_against_the_allow_list(wes_server: WesServer) -> None:
    files = [("echo.cwl", ECHO.encode())]
    for options, why in (
        ({"--jobStore": "/tmp/elsewhere"}, "not allowed"),
        ({"--workDir": "/"}, "not allowed"),
        ({"--preserve-entire-environment": None}, "not allowed"),
        ({"--logFile": "/etc/cron.d/x"}, "not allowed"),
        ({"--retryCount": "-1"}, "whole number"),
        ({"--maxCores": "1; rm -rf /"}, "not a number"),
        ({"--no-container": "yes please"}, "takes no value"),
    ):
        status, body = submit(
            wes_server, cwl("echo.cwl", {"msg": "x"}, workflow_engine_parameters=options), files
        )
        assert status == 400 and why in body["msg"], (options, body)
    _, log = run_to_end(
        wes_server,
        cwl(
            "echo.cwl",
            {"msg": "x"},
            workflow_engine_parameters={"--outdir": "/tmp/not-here", "--logLevel": "DEBUG"},
        ),
        files,
    )
    assert log["state"] == "COMPLETE"
    assert any("--outdir ignored" in s for s in log["run_log"]["system_logs"])
    assert "--logLevel=DEBUG" in log["run_log"]["cmd"]
    assert not Path("/tmp/not-here").exists()


def test_inputs_outside_the_run_are_refused(wes_server: WesServer, tmp_path: Path) -> None:
    files = [("cat.cwl", CAT.encode())]
    secret = tmp_path / "secret.txt"
    secret.write_text("not for you\n")
    for location in (
        str(secret),
        secret.as_uri(),
        "../../../../etc/passwd",
        str(wes_server.work / "runs"),
    ):
        status, body = submit(
            wes_server, cwl("cat.cwl", {"f": {"class": "File", "location": location}}), files
        )
        assert status == 400 and "outside the run" in body["msg"], (location, body)
    allowed = wes_server.work / "inputs" / "data.txt"
    allowed.write_text("allowed\n")
    _, log = run_to_end(
        wes_server, cwl("cat.cwl", {"f": {"class": "File", "location": str(allowed)}}), files
    )
    assert log["state"] == "COMPLETE", log
    _, log = run_to_end(
        wes_server,
        cwl("cat.cwl", {"f": {"class": "File", "location": "in/data.txt"}}),
        [*files, ("in/data.txt", b"attached\n")],
    )
    assert Path(log["outputs"]["copy"]["path"]).read_text() == "attached\n"


def test_runs_are_listed_in_pages(wes_server: WesServer) -> None:
    everything = wes_server.get("/runs?page_size=1000")["runs"]
    assert len(everything) >= 3
    seen, token = [], ""
    while True:
        page = wes_server.get(f"/runs?page_size=2&page_token={token}")
        assert len(page["runs"]) <= 2
        seen += [r["run_id"] for r in page["runs"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == [r["run_id"] for r in everything]
    assert wes_server.get("/runs?page_token=nonsense") == {"runs": [], "next_page_token": ""}
    assert wes_server.call("GET", "/runs?page_size=x")[0] == 400
    assert len(wes_server.get("/runs?page_size=0")["runs"]) == len(everything)  # the default
    assert wes_server.call("GET", "/runs/nosuchrun")[0] == 404


def test_wdl_and_python_runs(wes_server: WesServer, tmp_path: Path) -> None:
    wdl = """version 1.0
task shout {
  input { String word }
  command <<< echo "~{word}!" ; exit 0 >>>
  output { String out = read_string(stdout()) }
}
task fail { command <<< exit 7 >>> }
workflow w {
  input { String word }
  call shout { input: word = word }
  if (word == "fail") { call fail }
  output { String out = shout.out }
}
"""
    fields = {"workflow_type": "WDL", "workflow_type_version": "1.0", "workflow_url": "w.wdl"}
    _, log = run_to_end(
        wes_server, {**fields, "workflow_params": {"w.word": "hey"}}, [("w.wdl", wdl.encode())]
    )
    assert log["state"] == "COMPLETE" and log["outputs"] == {"w.out": "hey!"}, log
    run_id, log = run_to_end(
        wes_server, {**fields, "workflow_params": {"w.word": "fail"}}, [("w.wdl", wdl.encode())]
    )
    assert log["state"] == "EXECUTOR_ERROR"
    codes = [t.get("exit_code") for t in wes_server.get(f"/runs/{run_id}/tasks")["task_logs"]]
    assert 7 in codes, codes
    script = """from runner import Job, Toil


def hello(job, name):
    return "hello " + name


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    options = parser.parse_args()
    with Toil(options) as toil:
        print(toil.start(Job.wrapJobFn(hello, "python")))
"""
    run_id, log = run_to_end(
        wes_server,
        {"workflow_type": "PY", "workflow_type_version": "3", "workflow_url": "hello.py"},
        [("hello.py", script.encode())],
    )
    assert log["state"] == "COMPLETE", wes_server.get(f"/runs/{run_id}/stderr")
    assert "hello python" in wes_server.get(f"/runs/{run_id}/stdout")
    status, body = submit(
        wes_server,
        {"workflow_type": "PY", "workflow_type_version": "3", "workflow_url": "broken.py"},
        [("broken.py", b"def f(:\n    pass\n")],
    )
    assert status == 400 and "broken.py:1:" in body["msg"], body
