"""What the workflow tests on each cluster scheduler share: a WDL scatter, the runs of
examples/python/ through the Python API, and the leader's count of scheduler commands."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "python"
ALL_BINARY_5 = ["".join(bits) for bits in itertools.product("01", repeat=5)]

SCATTER_WDL = """\
version 1.0

workflow fan {
  input { Array[Int] xs  String tag = "n" }
  scatter (x in xs) {
    call cube { input: x = x, tag = tag }
  }
  output {
    Array[Int] cubes = cube.y
    Array[File] files = cube.f
    Int total = length(cube.y)
  }
}

task cube {
  input { Int x  String tag }
  command <<<
    echo "~{tag}~{x}: $(( ~{x} * ~{x} * ~{x} ))" > cube.txt
    echo $(( ~{x} * ~{x} * ~{x} ))
  >>>
  output {
    Int y = read_int(stdout())
    File f = "cube.txt"
  }
  runtime { cpu: 1  memory: "256 MiB" }
}
"""


def scheduler_commands(stderr: str, system: str) -> dict[str, int]:
    """The leader's end-of-run count of scheduler commands ("slurm commands: 6 sbatch, ...")."""
    found = re.findall(rf"{system} commands: (.*)", stderr)
    assert found, f"the leader did not log its {system} commands:\n{stderr[-3000:]}"
    return {name: int(n) for n, name in re.findall(r"(\d+) (\w+)", found[-1])}


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a user's command in ``cwd``; its exit status must be 0."""
    environment = dict(os.environ, TMPDIR=str(cwd), PYTHONPATH=str(REPO), **env)
    done = subprocess.run(
        argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{argv[:3]} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done


# -- WDL --------------------------------------------------------------------------------------
def run_scatter(
    tmp_path: Path, where: str, *args: str, env: dict[str, str] | None = None
) -> dict[str, object]:
    """The WDL scatter run in ``tmp_path/where`` with ``args``: its outputs, and its stderr
    as ``_stderr``."""
    work = tmp_path / where
    work.mkdir()
    wdl = work / "fan.wdl"
    wdl.write_text(SCATTER_WDL)
    inputs = json.dumps({"fan.xs": [3, 1, 4, 1, 5, 2], "fan.tag": where})
    argv = [sys.executable, "-m", "languages.wdl.cli", str(wdl), inputs, "-o", "out", *args]
    done = run(argv, work, **(env or {}))
    outputs: dict[str, object] = json.loads(done.stdout)
    outputs["_stderr"] = done.stderr
    return outputs


# -- Python API: examples of Toil's documentation ---------------------------------------------
def run_example(name: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], cwd, **env)
