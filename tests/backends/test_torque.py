"""The torque batch system against Slurm's PBS wrappers over a real Slurm (``torque_cluster``;
what those wrappers do not cover of PBS is in tests/services/torque.py). The contract suite
runs on it too. Tests without the markers check the qsub command line and qstat parsing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.batch.base import BatchJob, ExitReason
from backends.batch.torque import TorqueBatchSystem, parse_full_status
from backends.errors import InsufficientResourcesError
from tests.backends.cluster_jobs import collect_by_job as collect
from tests.backends.cluster_jobs import make_system as make_cluster_system
from tests.backends.cluster_jobs import shell_job as cluster_shell_job
from tests.services.torque import TorqueCluster

MiB = 1024**2


def make_system(
    work_dir: Path, cluster: TorqueCluster | None = None, **options: object
) -> TorqueBatchSystem:
    return make_cluster_system(
        TorqueBatchSystem, work_dir, cluster.env if cluster else None, **options
    )


def shell_job(
    job_id: str, script: str, cores: float = 1, time_limit: float | None = None
) -> BatchJob:
    return cluster_shell_job(job_id, script, cores=cores, memory=300 * MiB, time_limit=time_limit)


def test_resources_become_one_l_list_that_toil_torque_reqs_extends(tmp_path: Path) -> None:
    system = make_system(tmp_path, defaultWalltime=5400.0)
    assert system.resource_list(shell_job("a", "true", cores=1.5)) == (
        "nodes=1:ppn=2,mem=300mb,walltime=01:30:00"
    )
    assert system.resource_list(shell_job("b", "true", time_limit=90061)) == (
        "nodes=1:ppn=1,mem=300mb,walltime=25:01:01"
    )
    user = make_system(tmp_path, requests="walltime=00:10:00,gpus=1", qsub_args="-q long -N mine")
    assert user.resource_list(shell_job("c", "true")) == (
        "nodes=1:ppn=1,mem=300mb,walltime=00:10:00,gpus=1"
    )
    line = user.qsub_options(shell_job("c", "true"), 7)
    assert line[-4:] == ["-q", "long", "-N", "mine"] and line.count("-N") == 1


def test_qstat_f_of_torque_and_pbs_pro_give_the_exit_status(tmp_path: Path) -> None:
    text = (
        "Job Id: 12.head.example.org\n    job_state = C\n    exit_status = 3\n\n"
        "Job Id: 13.head.example.org\n    job_state = F\n    Exit_status = 271\n"
    )
    jobs = parse_full_status(text)
    assert jobs == {
        "12": {"job_state": "C", "exit_status": "3"},
        "13": {"job_state": "F", "Exit_status": "271"},
    }
    system = make_system(tmp_path)
    failed = system.exit_for("12", "3")
    killed = system.exit_for("13", "271")
    assert failed is not None and (failed.reason, failed.exit_status) == (ExitReason.FAILED, 3)
    assert killed is not None and killed.reason is ExitReason.KILLED
    assert killed.message == "killed by signal 15"


def test_torque_s_over_limit_exit_statuses_are_memory_and_time_limits(tmp_path: Path) -> None:
    # Torque 6.1's documented codes of a job its MOM killed (JOB_EXEC_OVERLIMIT_*)
    text = "".join(
        f"Job Id: {n}.head\n    job_state = C\n    exit_status = {code}\n\n"
        for n, code in ((20, -10), (21, -11), (22, -12), (23, -1))
    )
    system = make_system(tmp_path)
    ends = {
        job: system.exit_for(job, attrs["exit_status"])
        for job, attrs in parse_full_status(text).items()
    }
    assert {job: info.reason for job, info in ends.items() if info} == {
        "20": ExitReason.MEMLIMIT,
        "21": ExitReason.TIMELIMIT,
        "22": ExitReason.TIMELIMIT,
        "23": ExitReason.FAILED,
    }
    memory = ends["20"]
    assert memory is not None and "exceeded its memory limit" in memory.message


@pytest.fixture
def pbs(torque_cluster: TorqueCluster, tmp_path: Path) -> Iterator[TorqueBatchSystem]:
    system = make_system(tmp_path / "work", torque_cluster, batchLogsDir=str(tmp_path / "logs"))
    system.start()
    yield system
    system.shutdown()


@pytest.mark.slurm
@pytest.mark.torque
def test_exit_codes_and_one_qstat_per_poll(pbs: TorqueBatchSystem, tmp_path: Path) -> None:
    for i in range(30):
        pbs.issue_job(
            shell_job(
                f"j{i}",
                f"echo $SLURM_CPUS_ON_NODE > {tmp_path}/j{i}; exit {i % 3}",
                cores=2 if i == 0 else 1,
            )
        )
    updates = collect(pbs, 30)
    assert [updates[f"j{i}"].exit_status for i in range(30)] == [i % 3 for i in range(30)]
    assert updates["j1"].exit_reason is ExitReason.FAILED
    assert updates["j1"].message == "the worker exited with code 1"
    assert (tmp_path / "j0").read_text() == "2\n"  # nodes=1:ppn=2
    counts = pbs.command_counts
    assert counts["qsub"] == 30
    assert counts["qstat"] == pbs.poll_count < 30, counts


@pytest.mark.slurm
@pytest.mark.torque
def test_more_cores_than_any_node_is_refused_with_pbsnodes_figure(pbs: TorqueBatchSystem) -> None:
    with pytest.raises(
        InsufficientResourcesError, match=r"largest node PBS knows \(pbsnodes -a\) has 8"
    ):
        pbs.issue_job(shell_job("wide", "true", cores=64))
    assert pbs.issued_ids() == []
