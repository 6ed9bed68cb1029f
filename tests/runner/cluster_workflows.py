"""What the workflow tests on each cluster scheduler share: a WDL scatter, the runs of
examples/python/ through the Python API, and the leader's count of scheduler commands."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.services import users

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


# A leader run elsewhere than in this process's environment (HTCondorPool.user_argv: as the
# pool's user in its chroot): the command that runs argv in cwd with exactly env.
Launch = Callable[[list[str], Path, dict[str, str]], list[str]]


def run(
    argv: list[str], cwd: Path, launch: Launch | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a user's command in ``cwd`` (through ``launch`` if given); its exit status must
    be 0."""
    ours = {"TMPDIR": str(cwd), "PYTHONPATH": str(REPO), **env}
    command, environment = argv, dict(os.environ, **ours)
    if launch is not None:
        command = launch(argv, cwd, {"HOME": str(cwd), **ours})
    done = subprocess.run(
        command,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{argv[:3]} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done


def make_dir(path: Path, owner: str | None) -> Path:
    """``path`` made (and its parents), owned by ``owner`` when given."""
    return users.user_dir(path, owner) if owner else _mkdir(path)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- WDL --------------------------------------------------------------------------------------
def run_scatter(
    tmp_path: Path,
    where: str,
    *args: str,
    env: dict[str, str] | None = None,
    launch: Launch | None = None,
    owner: str | None = None,
) -> dict[str, object]:
    """The WDL scatter run in ``tmp_path/where`` (owned by ``owner``) with ``args``: its
    outputs, and its stderr as ``_stderr``."""
    work = make_dir(tmp_path / where, owner)
    wdl = work / "fan.wdl"
    wdl.write_text(SCATTER_WDL)
    inputs = json.dumps({"fan.xs": [3, 1, 4, 1, 5, 2], "fan.tag": where})
    argv = [sys.executable, "-m", "languages.wdl.cli", str(wdl), inputs, "-o", "out", *args]
    done = run(argv, work, launch, **(env or {}))
    outputs: dict[str, object] = json.loads(done.stdout)
    outputs["_stderr"] = done.stderr
    return outputs


# -- Python API: examples of Toil's documentation ---------------------------------------------
def run_example(
    name: str,
    cwd: Path,
    *args: str,
    launch: Launch | None = None,
    owner: str | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    make_dir(cwd, owner)
    return run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], cwd, launch, **env)
