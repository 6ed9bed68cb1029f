"""A recorded journal replayed gives the state the live run had when it wrote it.

Real runs (a Python workflow with dynamic children, a retry, a checkpoint rerun and a
service; a CWL workflow with a scatter) record the leader's full state after each journal
append (``scripts/live_states.py``); every prefix of the journal is then replayed through
``runner.engine.journal`` and compared with the state recorded at that point. A job the
leader had handed out is ISSUED live and READY in a replay (nothing runs it there); that is
the only difference allowed.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

from backends.jobstore.base import open_job_store
from runner.engine.journal import replay
from runner.model import events
from runner.model.state import StateMachine

SCRIPT = Path(__file__).parent / "scripts" / "live_states.py"

SCATTER = """\
cwlVersion: v1.2
class: Workflow
requirements:
  ScatterFeatureRequirement: {}
  StepInputExpressionRequirement: {}
  InlineJavascriptRequirement: {}
inputs:
  words: string[]
outputs:
  out:
    type: string[]
    outputSource: shout/out
steps:
  shout:
    run:
      class: CommandLineTool
      baseCommand: echo
      stdout: o.txt
      inputs:
        word: {type: string, inputBinding: {position: 1}}
      outputs:
        out:
          type: string
          outputBinding:
            glob: o.txt
            loadContents: true
            outputEval: $(self[0].contents.trim().toUpperCase())
    scatter: word
    in:
      word: words
    out: [out]
"""


def _normal(snapshot: dict[str, Any]) -> dict[str, Any]:
    for job in snapshot["jobs"].values():
        if job["status"] == "issued":
            job["status"] = "ready"
    return snapshot


def _run(tmp_path: Path, kind: str, *args: str) -> tuple[list[tuple[int, Any]], list[bytes]]:
    out, runs, store = tmp_path / "live.pkl", tmp_path / "runs", tmp_path / "store"
    runs.mkdir()
    argv = [sys.executable, str(SCRIPT), str(out), str(runs), kind]
    if kind == "python":
        argv += [f"file:{store}", "--clean", "never"]
    else:
        argv += ["--jobStore", f"file:{store}", "--clean", "never", *args]
    done = subprocess.run(
        argv, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    with open(out, "rb") as stream:
        recorded: list[tuple[int, Any]] = pickle.load(stream)
    job_store = open_job_store(f"file:{store}")
    job_store.open()
    return recorded, list(job_store.read_records())


def _check_every_prefix(recorded: list[tuple[int, Any]], records: list[bytes]) -> None:
    assert recorded and recorded[-1][0] == len(records), "every record written was seen"
    for count, live in recorded:
        state = StateMachine(1)
        for event in events.decode(records[:count]):
            state.apply(event)
        assert _normal(state.snapshot()) == _normal(live), f"after {count} records"


def test_python_workflow_replays_to_its_live_states(tmp_path: Path) -> None:
    recorded, records = _run(tmp_path, "python")
    kinds = {type(e).__name__ for e in events.decode(records)}
    assert {"AttemptFailed", "CheckpointReset", "ServiceStarted", "JobRan"} <= kinds, kinds
    assert len(recorded) > 5
    _check_every_prefix(recorded, records)
    final = recorded[-1][1]
    assert final["values"][final["root"]] == [14, "steady", "SERVICE-ADDRESS"]


def test_cwl_scatter_replays_to_its_live_states(tmp_path: Path) -> None:
    (tmp_path / "wf.cwl").write_text(SCATTER)
    (tmp_path / "job.yaml").write_text("words: [a, b, c]\n")
    recorded, records = _run(
        tmp_path, "cwl", "--outdir", str(tmp_path / "out"), "wf.cwl", "job.yaml"
    )
    _check_every_prefix(recorded, records)
    store = open_job_store(f"file:{tmp_path / 'store'}")
    store.open()
    assert replay(store, 1).succeeded()


def test_a_failed_run_replays_with_its_failures_and_a_restart_revives_them() -> None:
    from runner.model.graph import JobNode
    from runner.model.records import flatten

    root = JobNode(executor="x:y", payload=None, name="root")
    child = root.add_child(JobNode(executor="x:y", payload=None, name="child"))
    live = StateMachine(0)
    written: list[bytes] = []
    for event in (
        events.RunStarted(tuple(flatten(root)), root.id),
        events.JobRan(root.id, pickle.dumps(None), frozenset()),
        events.JobFailed(child.id, "boom"),
    ):
        live.apply(event)
        written += events.encode(event)
    replayed = StateMachine(0)
    for event in events.decode(written):
        replayed.apply(event)
    assert replayed.snapshot() == live.snapshot()
    assert replayed.failed == {child.id: "boom"}
    assert replayed.revive_failed() == [child.id]
    assert replayed.take_ready() == [child.id] and not replayed.failed
