"""The Grid Engine batch system against a real Son of Grid Engine cell.

Tests with the marker drive a batch system object in this (root) process, so they use the
cell where root may submit (``gridengine_root_cluster``); what a user runs as a user is in
tests/runner/test_gridengine_workflows.py. Jobs here are shell commands leaving files in
``tmp_path``. Tests without the marker check the qsub command line only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.batch.base import BatchJob, ExitReason, Resources
from backends.batch.gridengine import GridEngineBatchSystem
from backends.errors import InsufficientResourcesError
from tests.backends.cluster_jobs import collect_by_job as collect
from tests.backends.cluster_jobs import make_system as make_cluster_system
from tests.backends.cluster_jobs import shell_job
from tests.services import gridengine
from tests.services.gridengine import GridEngineCluster

MiB = 1024**2


def make_system(
    work_dir: Path, cluster: GridEngineCluster | None = None, **options: object
) -> GridEngineBatchSystem:
    options.setdefault("parallel_environment", "smp")
    environment = gridengine.exports(cluster) if cluster else None
    return make_cluster_system(GridEngineBatchSystem, work_dir, environment, **options)


@pytest.fixture
def sge(
    gridengine_root_cluster: GridEngineCluster, tmp_path: Path
) -> Iterator[GridEngineBatchSystem]:
    system = make_system(tmp_path, gridengine_root_cluster, batchLogsDir=str(tmp_path / "logs"))
    system.start()
    yield system
    system.shutdown()


# ----------------------------------------------------------------------- the command line
def options_of(system: GridEngineBatchSystem, job: BatchJob) -> str:
    return " ".join(system.qsub_options(job))


def test_cores_become_slots_and_memory_is_asked_per_slot(tmp_path: Path) -> None:
    system = make_system(tmp_path)
    line = options_of(system, shell_job("a", "true", cores=1.5, memory=1000 * MiB, time_limit=90))
    assert "-pe smp 2" in line
    assert "-l h_vmem=500M" in line  # Grid Engine multiplies a per-slot request by 2 slots
    assert "-l h_rt=90" in line
    assert "-w e" in line
    assert f"-N test_a.{system.token}" in line
    single = options_of(system, shell_job("b", "true", memory=300 * MiB))
    assert "-pe" not in single and "-l h_vmem=300M" in single and "h_rt" not in single


def test_memory_resources_walltime_and_user_arguments(tmp_path: Path) -> None:
    system = make_system(
        tmp_path,
        memory_resources="mem_free,h_vmem",
        defaultWalltime=3600.0,
        qsub_args="-pe mpi 4 -l h_vmem=8G -q long.q",
    )
    line = options_of(system, shell_job("a", "true", cores=2, memory=1024 * MiB))
    # The user's -pe and -l h_vmem replace moil's; the other requests stay.
    assert "-pe smp" not in line and line.endswith("-pe mpi 4 -l h_vmem=8G -q long.q")
    assert "-l h_vmem=512M" not in line
    assert "-l mem_free=512M" in line and "-l h_rt=3600" in line
    none = make_system(tmp_path, memory_resources="none")
    assert "-l" not in options_of(none, shell_job("b", "true")).split()


def test_a_gpu_request_is_refused_with_advice(tmp_path: Path) -> None:
    system = make_system(tmp_path)
    job = BatchJob(
        "g",
        "gpu job",
        Resources(accelerators=({"kind": "gpu", "count": 1},)),
        "x",
        "x:x",
        ("true",),
    )
    with pytest.raises(InsufficientResourcesError, match="TOIL_GRIDENGINE_ARGS"):
        system.issue_job(job)


# ----------------------------------------------------------------------- on a real cell
@pytest.mark.gridengine
def test_jobs_run_with_their_slots_memory_and_environment(
    sge: GridEngineBatchSystem, tmp_path: Path
) -> None:
    sge.issue_job(
        shell_job(
            "slots",
            f'echo "$NSLOTS $(ulimit -v) $MOIL_TEST_VALUE" > {tmp_path}/slots',
            cores=2,
            memory=300 * MiB,
            env={"MOIL_TEST_VALUE": "forty-two"},
        )
    )
    sge.issue_job(shell_job("fails", "echo oops >&2; exit 3"))
    updates = collect(sge, 2)
    assert updates["slots"].exit_reason is ExitReason.FINISHED, updates["slots"]
    assert (tmp_path / "slots").read_text().split() == ["2", str(300 * 1024), "forty-two"]
    assert (updates["fails"].exit_reason, updates["fails"].exit_status) == (ExitReason.FAILED, 3)
    assert updates["fails"].message == "the worker exited with code 3"
    (err,) = (tmp_path / "logs").glob("moil-fails-*.err")
    assert err.read_text() == "oops\n"


@pytest.mark.gridengine
def test_over_memory_and_over_time_are_told_apart(sge: GridEngineBatchSystem) -> None:
    # Two processes of 120 MiB: each under the 200M ulimit, together over h_vmem, so
    # sge_execd (not a failed malloc) ends the job.
    hold = "python3 -c 'import time; b = bytearray(120 * 2**20); time.sleep(60)' & "
    sge.issue_job(shell_job("hog", hold * 2 + "wait", memory=200 * MiB))
    sge.issue_job(shell_job("slow", "sleep 60", time_limit=2))
    updates = collect(sge, 2)
    hog, slow = updates["hog"], updates["slow"]
    assert hog.exit_reason is ExitReason.MEMLIMIT, hog
    assert hog.message.startswith("killed by Grid Engine for exceeding its memory limit of 200 MiB")
    assert slow.exit_reason is ExitReason.TIMELIMIT, slow
    assert slow.message == "killed by Grid Engine for exceeding its time limit of 2s (h_rt)"


@pytest.mark.gridengine
def test_requests_no_queue_can_hold_fail_with_the_schedulers_reason(
    gridengine_root_cluster: GridEngineCluster, tmp_path: Path
) -> None:
    system = make_system(tmp_path, gridengine_root_cluster)
    other_pe = make_system(tmp_path, gridengine_root_cluster, parallel_environment="nosuch")
    system.start()
    other_pe.start()
    try:
        system.issue_job(shell_job("wide", "true", cores=64))
        other_pe.issue_job(shell_job("pe", "true", cores=2))
        (wide,) = collect(system, 1).values()
        (pe,) = collect(other_pe, 1).values()
    finally:
        system.shutdown()
        other_pe.shutdown()
    assert wide.exit_reason is ExitReason.ERROR  # ERROR: not retried
    assert "no suitable queues" in wide.message and "test wide" in wide.message
    assert pe.exit_reason is ExitReason.ERROR
    assert 'parallel environment "nosuch" does not exist' in pe.message
    assert gridengine_root_cluster.job_ids() == []


@pytest.mark.gridengine
def test_a_job_in_error_state_is_cancelled_with_the_reason(
    gridengine_root_cluster: GridEngineCluster, tmp_path: Path
) -> None:
    system = make_system(tmp_path, gridengine_root_cluster, qsub_args="-wd /nonexistent/dir")
    system.start()
    try:
        system.issue_job(shell_job("eqw", "true"))
        (update,) = collect(system, 1).values()
    finally:
        system.shutdown()
    assert update.exit_reason is ExitReason.ERROR, update
    assert "error state" in update.message and "can't chdir to /nonexistent/dir" in update.message
    assert gridengine_root_cluster.job_ids() == []


@pytest.mark.gridengine
def test_one_qstat_per_poll_whatever_the_number_of_jobs(sge: GridEngineBatchSystem) -> None:
    for i in range(40):
        sge.issue_job(shell_job(f"j{i}", "sleep 1"))
    updates = collect(sge, 40)
    assert {u.exit_reason for u in updates.values()} == {ExitReason.FINISHED}
    counts = sge.command_counts
    assert counts["qsub"] == 40
    assert counts["qstat"] == sge.poll_count, counts  # one qstat per poll...
    assert sge.poll_count < 40  # ...and fewer polls than jobs
    assert counts.get("qacct", 0) <= sge.poll_count
