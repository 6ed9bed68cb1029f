"""Looping steps (``cwltool:Loop`` under ``--enable-ext``): the answers cwltool gives on the
same documents, the errors, the iteration limit, and a restart after the leader is killed
in the middle of a loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.languages.conftest import REPO
from tests.languages.cwl.reference import comparable, run_cwltool, write

RunCwl = Callable[..., Any]

HEAD = """\
cwlVersion: v1.2
class: Workflow
$namespaces: {cwltool: "http://commonwl.org/cwltool#"}
requirements:
  InlineJavascriptRequirement: {}
  SubworkflowFeatureRequirement: {}
  ScatterFeatureRequirement: {}
  StepInputExpressionRequirement: {}
"""

# A command-line tool that prints n + 1: each iteration is a real job of the batch system.
ADD_ONE = """\
      class: CommandLineTool
      baseCommand: expr
      arguments: [$(inputs.n), "+", "1"]
      stdout: count.txt
      inputs: {n: int}
      outputs:
        next:
          type: int
          outputBinding:
            glob: count.txt
            loadContents: true
            outputEval: $(parseInt(self[0].contents))
        file: {type: File, outputBinding: {glob: count.txt}}
"""

COUNT = (
    HEAD
    + """\
inputs: {start: int}
outputs:
  final: {type: "int?", outputSource: add/next}
steps:
  add:
    run:
"""
    + ADD_ONE
    + """\
    in: {n: start}
    out: [next, file]
    requirements:
      cwltool:Loop:
        loopWhen: $(inputs.n < 10)
        loop: {n: next}
        outputMethod: last
"""
)

COUNT_ALL = COUNT.replace(
    'final: {type: "int?", outputSource: add/next}',
    'final: {type: "int[]", outputSource: add/next}\n'
    '  files: {type: "File[]", outputSource: add/file}',
).replace("outputMethod: last", "outputMethod: all")

# The loop's body is a subworkflow that scatters: every element grows by the step each time.
SCATTER_INSIDE = (
    HEAD
    + """\
inputs: {values: "int[]", step: int}
outputs:
  final: {type: "int[]?", outputSource: grow/values}
steps:
  grow:
    run:
      class: Workflow
      inputs: {values: "int[]", step: int}
      outputs:
        values: {type: "int[]", outputSource: add/sum}
      steps:
        add:
          run:
            class: ExpressionTool
            inputs: {value: int, step: int}
            outputs: {sum: int}
            expression: "${return {'sum': inputs.value + inputs.step};}"
          in: {value: values, step: step}
          scatter: value
          out: [sum]
    in: {values: values, step: step}
    out: [values]
    requirements:
      cwltool:Loop:
        loopWhen: $(inputs.values[0] < 10)
        loop: {values: values}
        outputMethod: last
"""
)

# A conditional step whose subworkflow holds the loop; the loop feeds a valueFrom of its own
# (counting by twos) while the step's own valueFrom applies to the first iteration only.
IN_CONDITIONAL = (
    HEAD
    + """\
inputs: {go: boolean, start: int}
outputs:
  final: {type: "int?", outputSource: maybe/final}
steps:
  maybe:
    when: $(inputs.go)
    in: {go: go, start: start}
    out: [final]
    run:
      class: Workflow
      inputs: {start: int}
      outputs:
        final: {type: "int?", outputSource: twice/n_out}
      steps:
        twice:
          run:
            class: ExpressionTool
            inputs: {n: int}
            outputs: {n_out: int}
            expression: "${return {'n_out': inputs.n};}"
          in:
            n: {source: start, valueFrom: $(self * 100)}
          out: [n_out]
          requirements:
            cwltool:Loop:
              loopWhen: $(inputs.n < 1000)
              loop:
                n: {valueFrom: $(inputs.n + 200)}
"""
)

NESTED = (
    HEAD
    + """\
inputs: {rounds: int}
outputs:
  final: {type: "Any", outputSource: outer/inner_all}
steps:
  outer:
    run:
      class: Workflow
      inputs: {rounds: int, k: int}
      outputs:
        inner_all: {type: "int[]", outputSource: inner/n_out}
        k_next: {type: int, outputSource: bump/k_out}
      steps:
        inner:
          run:
            class: ExpressionTool
            inputs: {n: int}
            outputs: {n_out: int}
            expression: "${return {'n_out': inputs.n + 1};}"
          in: {n: {default: 0}, k: k}
          out: [n_out]
          requirements:
            cwltool:Loop:
              loopWhen: $(inputs.n < inputs.k)
              loop: {n: n_out}
              outputMethod: all
        bump:
          run:
            class: ExpressionTool
            inputs: {k: int}
            outputs: {k_out: int}
            expression: "${return {'k_out': inputs.k + 1};}"
          in: {k: k}
          out: [k_out]
    in: {rounds: rounds, k: {default: 1}}
    out: [inner_all, k_next]
    requirements:
      cwltool:Loop:
        loopWhen: $(inputs.k <= inputs.rounds)
        loop: {k: k_next}
        outputMethod: all
"""
)


CASES = {
    "count to ten": (COUNT, {"start": 0}, {"final": 10}),
    "false at the start": (COUNT, {"start": 10}, {"final": None}),
    "scatter inside": (SCATTER_INSIDE, {"values": [1, 2, 3], "step": 4}, {"final": [13, 14, 15]}),
    "in a conditional step": (IN_CONDITIONAL, {"go": True, "start": 3}, {"final": 900}),
    "conditional step skipped": (IN_CONDITIONAL, {"go": False, "start": 3}, {"final": None}),
    "nested, all iterations": (NESTED, {"rounds": 3}, {"final": [[1], [1, 2], [1, 2, 3]]}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loop_gives_what_cwltool_gives(run_cwl: RunCwl, tmp_path: Path, case: str) -> None:
    document, job, expected = CASES[case]
    write(tmp_path / "wf.cwl", document)
    write(tmp_path / "job.json", json.dumps(job))
    result = run_cwl("--enable-ext", "--outdir", "out", "wf.cwl", "job.json")
    assert result.code == 0, result.stderr
    assert result.outputs == expected
    assert run_cwltool(tmp_path, "--enable-ext", "wf.cwl", "job.json") == expected


def test_all_iterations_gives_every_iteration_and_its_files(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    write(tmp_path / "wf.cwl", COUNT_ALL)
    write(tmp_path / "job.json", '{"start": 0}')
    result = run_cwl("--enable-ext", "--outdir", "out", "wf.cwl", "job.json")
    assert result.code == 0, result.stderr
    assert result.outputs["final"] == list(range(1, 11))
    files = result.outputs["files"]
    assert [Path(f["path"]).read_text() for f in files] == [f"{i}\n" for i in range(1, 11)]
    assert all(Path(f["path"]).parent == tmp_path / "out" for f in files)
    assert comparable(result.outputs) == comparable(
        run_cwltool(tmp_path, "--enable-ext", "wf.cwl", "job.json")
    )

    skipped = run_cwl("--enable-ext", "--outdir", "out2", "wf.cwl", "--start", "10")
    assert skipped.code == 0, skipped.stderr
    assert skipped.outputs == {"final": [], "files": []}


def test_iteration_limit_fails_a_loop_that_goes_on(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "wf.cwl", COUNT)
    result = run_cwl("--enable-ext", "--loop-iteration-limit", "3", "wf.cwl", "--start", "0")
    assert result.code == 1
    assert "loopWhen still holds after 3 iterations" in result.stderr
    assert "--loop-iteration-limit 3" in result.stderr
    assert result.stdout == ""
    within = run_cwl(
        "--enable-ext", "--loop-iteration-limit", "10", "--outdir", "o", "wf.cwl", "--start", "0"
    )
    assert within.code == 0, within.stderr
    assert within.outputs == {"final": 10}


def test_loop_errors_are_reported_not_ignored(run_cwl: RunCwl, tmp_path: Path) -> None:
    # a loopWhen that is not a boolean on the second iteration fails the run
    write(
        tmp_path / "bad-when.cwl",
        COUNT.replace("$(inputs.n < 10)", "\"$(inputs.n == 0 ? true : 'yes')\""),
    )
    bad_when = run_cwl("--enable-ext", "bad-when.cwl", "--start", "0")
    assert bad_when.code == 1
    assert "loopWhen must evaluate to true or false, not 'yes'" in bad_when.stderr

    # Loop is only valid under a step's requirements: file:line:col, exit 2
    text = COUNT.replace(
        "    requirements:\n      cwltool:Loop:", "    hints:\n      cwltool:Loop:"
    )
    write(tmp_path / "hint.cwl", text)
    line = text.splitlines().index("      cwltool:Loop:") + 1
    hint = run_cwl("--enable-ext", "hint.cwl", "--start", "0")
    assert hint.code == 2
    assert f"hint.cwl:{line}:7: cwltool:Loop is valid only under the requirements" in hint.stderr
    assert "Traceback" not in hint.stderr

    # a loop cannot scatter (cwltool's rule)
    scattered = (
        COUNT.replace("inputs: {start: int}", 'inputs: {start: "int[]"}')
        .replace("in: {n: start}", "in: {n: start}\n    scatter: n")
        .replace('type: "int?"', "type: Any")
    )
    write(tmp_path / "scatter.cwl", scattered)
    scatter = run_cwl("--enable-ext", "scatter.cwl", "--start", "0")
    assert scatter.code == 2
    assert "not compatible with the `scatter`" in scatter.stderr


@pytest.mark.slow
def test_a_killed_loop_restarts_after_its_last_finished_iteration(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    # each iteration leaves a file named after its input and process; the leader is killed
    # with SIGKILL when some have finished; --restart must not run any of them again
    logged = ADD_ONE.replace(
        'baseCommand: expr\n      arguments: [$(inputs.n), "+", "1"]',
        "baseCommand: [sh, -c, 'sleep 0.4; touch \"$0/ran-$1.$$\"; expr $1 + 1']\n"
        "      arguments: [$(inputs.runs), $(inputs.n)]",
    ).replace("inputs: {n: int}", "inputs: {n: int, runs: string}")
    document = (
        COUNT.replace(ADD_ONE, logged)
        .replace("in: {n: start}", "in: {n: start, runs: runs}")
        .replace("inputs: {start: int}", "inputs: {start: int, runs: string}")
    )
    write(tmp_path / "wf.cwl", document)
    runs = tmp_path / "runs"
    runs.mkdir()
    write(tmp_path / "job.json", json.dumps({"start": 0, "runs": str(runs)}))
    command = [
        sys.executable,
        "-m",
        "languages.cwl.cli",
        "--enable-ext",
        "--jobStore",
        str(tmp_path / "store"),
        "--outdir",
        "out",
        "wf.cwl",
        "job.json",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    leader = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while len(os.listdir(runs)) < 4 and time.monotonic() < deadline:
        assert leader.poll() is None, leader.communicate()
        time.sleep(0.02)
    workers = psutil.Process(leader.pid).children(recursive=True)
    leader.send_signal(signal.SIGKILL)
    leader.wait()
    psutil.wait_procs(workers, timeout=30)
    done_before = len(os.listdir(runs))
    assert 4 <= done_before < 10, "the kill must land in the middle of the loop"

    restarted = run_cwl("--restart", *command[3:-1])
    assert restarted.code == 0, restarted.stderr
    assert restarted.outputs == {"final": 10}
    ran = sorted(int(name.split("-")[1].split(".")[0]) for name in os.listdir(runs))
    assert ran == list(range(10)), "every iteration ran exactly once"
