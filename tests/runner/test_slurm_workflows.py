"""Workflows a user runs, on a real Slurm (the ``slurm_cluster`` fixture), giving the same
results as on single_machine: a WDL scatter through ``toil-wdl-runner`` and examples of Toil's
documentation (examples/python/) through the Python API."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.slurm import SlurmCluster

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "python"
ALL_BINARY_5 = ["".join(bits) for bits in itertools.product("01", repeat=5)]
SLURM_ARGS = ("--batchSystem", "slurm", "--statePollingWait", "0.2")

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


def slurm_commands(stderr: str) -> dict[str, int]:
    """The leader's end-of-run count of scheduler commands ("slurm commands: 6 sbatch, ...")."""
    found = re.findall(r"slurm commands: (.*)", stderr)
    assert found, f"the leader did not log its Slurm commands:\n{stderr[-3000:]}"
    return {name: int(n) for n, name in re.findall(r"(\d+) (\w+)", found[-1])}


def assert_queue_empty(cluster: SlurmCluster) -> None:
    assert cluster.queued_job_ids() == [], "a job of the run is still in squeue"


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a user's command in ``cwd``; its exit status must be 0."""
    environment = dict(os.environ, TMPDIR=str(cwd), PYTHONPATH=str(REPO), **env)
    done = subprocess.run(
        argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{argv[:3]} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done


# -- WDL --------------------------------------------------------------------------------------
def run_scatter(tmp_path: Path, where: str, *args: str) -> dict[str, object]:
    work = tmp_path / where
    work.mkdir()
    wdl = work / "fan.wdl"
    wdl.write_text(SCATTER_WDL)
    inputs = json.dumps({"fan.xs": [3, 1, 4, 1, 5, 2], "fan.tag": where})
    argv = [sys.executable, "-m", "languages.wdl.cli", str(wdl), inputs, "-o", "out", *args]
    done = run(argv, work)
    outputs: dict[str, object] = json.loads(done.stdout)
    outputs["_stderr"] = done.stderr
    return outputs


def test_wdl_scatter_gives_the_single_machine_outputs(
    tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    local = run_scatter(tmp_path, "local", "--logLevel", "WARNING")
    slurm = run_scatter(tmp_path, "slurm", *SLURM_ARGS, "--logLevel", "INFO")
    assert slurm["fan.cubes"] == local["fan.cubes"] == [27, 1, 64, 1, 125, 8]
    assert slurm["fan.total"] == 6
    files = slurm["fan.files"]
    assert isinstance(files, list) and len(set(files)) == 6
    assert all(Path(f).is_relative_to(tmp_path / "slurm" / "out") for f in files)
    assert [Path(f).read_text() for f in files] == [
        f"slurm{x}: {x**3}\n" for x in (3, 1, 4, 1, 5, 2)
    ]
    assert slurm_commands(str(slurm["_stderr"]))["sbatch"] >= 6, "each task ran through sbatch"
    assert_queue_empty(slurm_cluster)


# -- Python API: examples of Toil's documentation ---------------------------------------------
def run_example(name: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], cwd, **env)


def test_promises_example_logs_the_same_on_slurm(
    tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    # The example takes its options from getDefaultOptions(): the batch system comes from
    # TOIL_BATCH_SYSTEM, as with Toil.
    local = run_example("tutorial_promises", tmp_path / "local")
    slurm = run_example("tutorial_promises", tmp_path / "slurm", TOIL_BATCH_SYSTEM="slurm")
    pattern = r"i is: (\d+)"
    assert re.findall(pattern, slurm.stderr) == re.findall(pattern, local.stderr) == ["1", "2", "3"]
    assert slurm_commands(slurm.stderr)["sbatch"] == 3
    assert not (tmp_path / "slurm" / "toilWorkflowRun").exists()
    assert_queue_empty(slurm_cluster)


def test_dynamic_example_logs_every_binary_string_once_on_slurm(
    tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    local = run_example("tutorial_dynamic", tmp_path / "local")
    slurm = run_example("tutorial_dynamic", tmp_path / "slurm", TOIL_BATCH_SYSTEM="slurm")
    pattern = r"Binary string: (\S*)"
    assert sorted(re.findall(pattern, slurm.stderr)) == ALL_BINARY_5
    assert sorted(re.findall(pattern, local.stderr)) == ALL_BINARY_5
    assert slurm_commands(slurm.stderr)["sbatch"] == 63, "2**6 - 1 jobs, each one sbatch"
    assert_queue_empty(slurm_cluster)


def test_merge_sort_example_sorts_the_same_file_the_same_on_slurm(
    tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    args = ("file:jobStore", "--numLines=2000", "--N=10000")
    local = tmp_path / "local"
    run_example("sort", local, *args)
    slurm = tmp_path / "slurm"
    slurm.mkdir()
    shutil.copy(local / "fileToSort.txt", slurm / "fileToSort.txt")
    done = run_example("sort", slurm, *args, *SLURM_ARGS, "--logLevel", "INFO")
    assert "Sorting existing file: fileToSort.txt" in done.stdout
    expected = subprocess.run(
        ["sort", str(local / "fileToSort.txt")],
        env=dict(os.environ, LC_ALL="C"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (slurm / "sortedFile.txt").read_text() == (local / "sortedFile.txt").read_text()
    assert (slurm / "sortedFile.txt").read_text() == expected
    assert slurm_commands(done.stderr)["sbatch"] > 1
    assert not (slurm / "jobStore").exists()
    assert_queue_empty(slurm_cluster)
