"""Workflows a user runs, on a real Slurm (the ``slurm_cluster`` fixture), giving the same
results as on single_machine: a WDL scatter through ``toil-wdl-runner`` and examples of Toil's
documentation (examples/python/) through the Python API."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.runner.cluster_workflows import (
    ALL_BINARY_5,
    run_example,
    run_scatter,
    scheduler_commands,
)
from tests.services.slurm import SlurmCluster

pytestmark = pytest.mark.slurm

SLURM_ARGS = ("--batchSystem", "slurm", "--statePollingWait", "0.2")


def slurm_commands(stderr: str) -> dict[str, int]:
    return scheduler_commands(stderr, "slurm")


def assert_queue_empty(cluster: SlurmCluster) -> None:
    assert cluster.queued_job_ids() == [], "a job of the run is still in squeue"


# -- WDL --------------------------------------------------------------------------------------
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
