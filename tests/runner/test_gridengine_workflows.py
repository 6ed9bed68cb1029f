"""Workflows on a real Grid Engine, with the results of single_machine: the WDL scatter and
examples of Toil's documentation through the Python API; a job over its memory killed by
Grid Engine and retried; SIGINT of a leader run by a user leaves nothing in ``qstat``.

The leader runs in the test's process tree: as root on the cell where root may submit
(``gridengine_root_cluster``), and as the cell's user where what a user sees matters
(``gridengine_cluster``: a site's cell, root refused)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.runner.cluster_workflows import (
    run_example,
    run_scatter,
    scheduler_commands,
)
from tests.services import gridengine, users
from tests.services.gridengine import GridEngineCluster

pytestmark = pytest.mark.gridengine

SCRIPTS = Path(__file__).parent / "scripts"
GE_ARGS = ("--batchSystem", "grid_engine", "--statePollingWait", "0.2")
WAIT = 120.0  # upper bound for something that should happen; never an assertion


def cell_env(cluster: GridEngineCluster) -> dict[str, str]:
    return {**gridengine.exports(cluster), "TOIL_GRIDENGINE_PE": "smp"}


def test_wdl_scatter_gives_the_single_machine_outputs(
    tmp_path: Path, gridengine_root_cluster: GridEngineCluster
) -> None:
    env = cell_env(gridengine_root_cluster)
    local = run_scatter(tmp_path, "local", "--logLevel", "WARNING")
    sge = run_scatter(tmp_path, "sge", *GE_ARGS, "--logLevel", "INFO", env=env)
    assert sge["fan.cubes"] == local["fan.cubes"] == [27, 1, 64, 1, 125, 8]
    files = sge["fan.files"]
    assert isinstance(files, list) and len(set(files)) == 6
    assert [Path(f).read_text() for f in files] == [f"sge{x}: {x**3}\n" for x in (3, 1, 4, 1, 5, 2)]
    counts = scheduler_commands(str(sge["_stderr"]), "grid_engine")
    assert counts["qsub"] >= 6, "each task ran through qsub"
    assert gridengine_root_cluster.job_ids() == []


def test_python_api_example_gives_the_single_machine_results(
    tmp_path: Path, gridengine_root_cluster: GridEngineCluster
) -> None:
    # getDefaultOptions() takes the batch system from TOIL_BATCH_SYSTEM, as with Toil.
    env = {**cell_env(gridengine_root_cluster), "TOIL_BATCH_SYSTEM": "gridengine"}
    local = run_example("tutorial_promises", tmp_path / "local")
    sge = run_example("tutorial_promises", tmp_path / "sge", **env)
    pattern = r"i is: (\d+)"
    assert re.findall(pattern, sge.stderr) == re.findall(pattern, local.stderr) == ["1", "2", "3"]
    assert scheduler_commands(sge.stderr, "grid_engine")["qsub"] == 3
    assert gridengine_root_cluster.job_ids() == []


def test_a_job_over_its_memory_is_killed_retried_and_named(
    tmp_path: Path, gridengine_root_cluster: GridEngineCluster
) -> None:
    store, runs = tmp_path / "store", tmp_path / "runs"
    runs.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "memhog_procs.py"),
            str(store),
            str(runs),
            *GE_ARGS,
            "--retryCount",
            "1",
            "--logLevel",
            "WARNING",
        ],
        env={**os.environ, **cell_env(gridengine_root_cluster)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "killed for using more memory than it asked for" in done.stderr, done.stderr[-3000:]
    assert "exceeding its memory limit of 256 MiB" in done.stderr
    assert "retrying (attempt 2 of 2)" in done.stderr
    assert len(list(runs.iterdir())) == 2, "the first run and --retryCount 1 retry"
    assert gridengine_root_cluster.job_ids() == []


SLEEPERS_CWL = """\
cwlVersion: v1.2
class: Workflow
requirements: {ScatterFeatureRequirement: {}}
inputs: {n: {type: "int[]", default: [1, 2, 3]}}
outputs: []
steps:
  nap:
    scatter: n
    in: {n: n}
    out: []
    run:
      class: CommandLineTool
      inputs: {n: int}
      outputs: []
      baseCommand: [sleep, "300"]
"""


def test_sigint_of_a_users_leader_leaves_no_job_in_qstat(
    gridengine_cluster: GridEngineCluster,
) -> None:
    cluster = gridengine_cluster
    work = users.user_dir(cluster.work_dir / f"sigint-{os.getpid()}", cluster.user)
    (work / "sleepers.cwl").write_text(SLEEPERS_CWL)
    runner = cluster.user_python().parent / "toil-cwl-runner"
    env = {**cluster.env, "HOME": str(work), "TMPDIR": str(work), "TOIL_GRIDENGINE_PE": "smp"}
    leader = subprocess.Popen(
        [
            str(runner),
            *GE_ARGS,
            "--jobStore",
            str(work / "store"),
            "--outdir",
            str(work / "out"),
            str(work / "sleepers.cwl"),
        ],
        cwd=work,
        env=env,
        user=cluster.user,
        group=cluster.user,
        extra_groups=[],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT
        while len(running(cluster)) < 3:
            assert leader.poll() is None, leader.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the three jobs never ran"
            time.sleep(0.3)
        leader.send_signal(signal.SIGINT)
        _, stderr = leader.communicate(timeout=WAIT)
    finally:
        if leader.poll() is None:
            leader.kill()
    assert leader.returncode == 130, stderr[-3000:]
    assert cluster.job_ids() == [], "a job of the run is still in qstat"


def running(cluster: GridEngineCluster) -> list[str]:
    """IDs of the user's jobs qstat shows running."""
    listed = cluster.run("qstat", "-u", cluster.user, check=False).stdout.splitlines()[2:]
    return [line.split()[0] for line in listed if len(line.split()) > 4 and line.split()[4] == "r"]
