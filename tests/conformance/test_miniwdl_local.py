"""miniwdl with the host-process task backend runs a real workflow without a container runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WORKFLOW = """\
version 1.1

workflow wf {
  input {
    File data
  }
  call count { input: data = data }
  output {
    Int lines = count.lines
    File out = count.out
    File log = count.log
  }
}

task count {
  input {
    File data
  }
  command <<<
    wc -l < ~{data} | tr -d ' ' > n.txt
    echo changed >> ~{data}
    echo "to stdout"
  >>>
  output {
    Int lines = read_int("n.txt")
    File out = "n.txt"
    File log = stdout()
  }
  runtime {
    docker: "no-such-image:latest"
  }
}
"""


def test_local_backend_runs_tasks_on_the_host(tmp_path: Path) -> None:
    (tmp_path / "wf.wdl").write_text(WORKFLOW)
    data = tmp_path / "data.txt"
    data.write_text("a\nb\nc\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("MINIWDL__SCHEDULER__CONTAINER_BACKEND", None)
    completed = subprocess.run(
        [sys.executable, "-m", "conformance.miniwdl_local", "run", "wf.wdl", f"data={data}",
         "-d", "run/.", "-o", "out.json"],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    outputs = json.loads((tmp_path / "out.json").read_text())["outputs"]
    assert outputs["wf.lines"] == 3
    assert Path(outputs["wf.out"]).read_text() == "3\n"
    assert Path(outputs["wf.log"]).read_text() == "to stdout\n"
    # The task wrote to its copy of the input, never to the caller's file.
    assert data.read_text() == "a\nb\nc\n"
