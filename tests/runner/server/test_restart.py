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


def test_a_server_stopped_in_order_resumes_its_runs_when_started_again(tmp_path: Path) -> None:
    """SIGTERM: the server stops its running run (its leader keeps the store) and the next
    server resumes it with --restart; a queued run canceled meanwhile ends at once."""
    server = WesServer(tmp_path, args=["--workers", "1"])
    server.start()
    marks, go = tmp_path / "marks", tmp_path / "go"
    try:
        running = _submit(server, marks, go)
        queued = _submit(server, tmp_path / "marks-q", tmp_path / "go-q")
        _wait_for(marks.exists)
        assert server.wait(running, ("RUNNING",), timeout=30) == "RUNNING"
        assert server.call("POST", f"/runs/{queued}/cancel")[0] == 200
        assert server.get(f"/runs/{queued}/status")["state"] == "CANCELED"
        server.stop()  # SIGTERM, as a user's Ctrl-C or a service manager would
        assert (
            json.loads((tmp_path / "runs" / running / "exit.json").read_text())["exit_code"] == 143
        )
        server.start()
        go.touch()
        assert server.wait(running) == "COMPLETE", server.get(f"/runs/{running}/stderr")
        assert marks.read_text().split() == ["first", "second"]
        log = server.get(f"/runs/{running}")
        assert any("resumed with --restart" in s for s in log["run_log"]["system_logs"])
        assert server.get(f"/runs/{queued}/status")["state"] == "CANCELED"
        assert not (tmp_path / "marks-q").exists()
    finally:
        go.touch()
        server.stop()


def test_leaders_that_outlived_their_supervisors_are_waited_for(tmp_path: Path) -> None:
    """Server and supervisors killed, leaders alive: the next server waits for each leader
    (its store's lease) and takes its outcome from the store; a cancel reaches it through
    the store (``toil kill``)."""
    server = WesServer(tmp_path, args=["--workers", "2"])
    server.start()
    marks = [tmp_path / "m0", tmp_path / "m1"]
    gos = [tmp_path / "g0", tmp_path / "g1"]
    try:
        runs = [_submit(server, marks[i], gos[i]) for i in (0, 1)]
        _wait_for(lambda: all(m.exists() for m in marks))
        for run_id in runs:
            assert server.wait(run_id, ("RUNNING",), timeout=30) == "RUNNING"
        server.kill()
        for run_id in runs:
            record = json.loads(
                (tmp_path / "runs" / "state" / "runs" / f"{run_id}.json").read_text()
            )
            os.kill(int(record["process"]["pid"]), signal.SIGKILL)  # the supervisor alone
        server.start()
        assert server.call("POST", f"/runs/{runs[1]}/cancel")[0] == 200
        gos[0].touch()
        assert server.wait(runs[0]) == "COMPLETE", server.get(f"/runs/{runs[0]}/stderr")
        assert server.wait(runs[1], timeout=60) == "CANCELED"
        assert marks[0].read_text().split() == ["first", "second"]
        assert marks[1].read_text().split() == ["first"], "canceled before its second step"
        assert Path(server.get(f"/runs/{runs[0]}")["outputs"]["done"]["path"]).exists()
    finally:
        for go in gos:
            go.touch()
        server.stop()
