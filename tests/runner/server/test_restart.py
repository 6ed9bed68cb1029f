"""The server killed with SIGKILL while runs are queued, running and finished, then started
again: every run ends as it would have, and nothing that had finished runs again.

Each run is a two-step CWL workflow whose steps append to a marker file (outside the run:
tools here run on the host) and whose second step waits for a "go" file, so the test
decides when runs may end. At the kill: run 1 has finished; runs 2 and 3 run (their second
step waits); run 4 is queued (2 runs at once). Run 2's processes are killed too, as if the
machine had rebooted; run 3's survive the server. After the restart, run 2 is resumed with
--restart (its first step does not run again), run 3 is watched to its end, run 4 starts.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from tests.services.wes import WesServer, submit

WORKFLOW = """\
cwlVersion: v1.2
class: Workflow
inputs:
  marks: string
  go: string
outputs:
  done: {type: File, outputSource: second/out}
steps:
  first:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'echo first >> "$0"; echo one']
      inputs: {marks: {type: string, inputBinding: {position: 1}}}
      stdout: first.txt
      outputs: {out: stdout}
    in: {marks: marks}
    out: [out]
  second:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'while [ ! -e "$1" ]; do sleep 0.1; done; echo second >> "$0"; cat "$2"']
      inputs:
        marks: {type: string, inputBinding: {position: 1}}
        go: {type: string, inputBinding: {position: 2}}
        prev: {type: File, inputBinding: {position: 3}}
      stdout: second.txt
      outputs: {out: stdout}
    in: {marks: marks, go: go, prev: first/out}
    out: [out]
"""


def _submit(server: WesServer, marks: Path, go: Path) -> str:
    status, body = submit(
        server,
        {
            "workflow_type": "CWL",
            "workflow_type_version": "v1.2",
            "workflow_url": "wf.cwl",
            "workflow_params": {"marks": str(marks), "go": str(go)},
        },
        [("wf.cwl", WORKFLOW.encode())],
    )
    assert status == 200, body
    return str(body["run_id"])


def _wait_for(predicate: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_sigkill_of_the_server_loses_nothing_and_reruns_nothing(tmp_path: Path) -> None:
    server = WesServer(tmp_path, args=["--workers", "2"])
    server.start()
    marks = [tmp_path / f"marks{i}" for i in range(4)]
    gos = [tmp_path / f"go{i}" for i in range(4)]
    try:
        gos[0].touch()
        first = _submit(server, marks[0], gos[0])
        assert server.wait(first) == "COMPLETE"
        running = [_submit(server, marks[i], gos[i]) for i in (1, 2)]
        queued = _submit(server, marks[3], gos[3])
        _wait_for(lambda: all(m.exists() for m in marks[1:3]))
        assert server.get(f"/runs/{queued}/status")["state"] == "QUEUED"
        for run_id in running:
            assert server.wait(run_id, ("RUNNING",), timeout=30) == "RUNNING"

        server.kill()
        record = json.loads(
            (tmp_path / "runs" / "state" / "runs" / f"{running[0]}.json").read_text()
        )
        os.killpg(int(record["process"]["pid"]), signal.SIGKILL)  # run 2's whole tree
        time.sleep(0.5)
        server.start()
        for go in gos:
            go.touch()
        for run_id in [first, *running, queued]:
            assert server.wait(run_id) == "COMPLETE", server.get(f"/runs/{run_id}/stderr")
        assert [m.read_text().split() for m in marks] == [["first", "second"]] * 4
        resumed = server.get(f"/runs/{running[0]}")
        assert any("resumed with --restart" in s for s in resumed["run_log"]["system_logs"])
        assert "--restart" in server.get(f"/runs/{running[0]}/stderr")
        adopted = server.get(f"/runs/{running[1]}")
        assert not any("resumed" in s for s in adopted["run_log"]["system_logs"])
        for run_id in [first, *running, queued]:
            log = server.get(f"/runs/{run_id}")
            assert Path(log["outputs"]["done"]["path"]).read_text() == "one\n"
    finally:
        for go in gos:
            go.touch()
        server.stop()
