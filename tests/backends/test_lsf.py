"""The lsf batch system against moil's LSF STAND-IN (tests/services/lsf.py: not IBM Spectrum
LSF, which no open implementation replaces; it runs jobs for real behind LSF's documented
command formats). What this shows is that the backend speaks those formats; behaviour of a
real LSF is not shown. The contract suite runs on it too."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.batch.base import ExitReason
from backends.batch.lsf import LsfBatchSystem
from backends.errors import InsufficientResourcesError
from tests.backends.cluster_jobs import collect_by_job as collect
from tests.backends.cluster_jobs import make_system as make_cluster_system
from tests.backends.cluster_jobs import shell_job
from tests.services.lsf import LsfCluster

MiB = 1024**2


def make_system(
    work_dir: Path, cluster: LsfCluster | None = None, **options: object
) -> LsfBatchSystem:
    return make_cluster_system(
        LsfBatchSystem, work_dir, cluster.env if cluster else None, **options
    )


def test_bsub_options_carry_slots_memory_in_mb_and_minutes(tmp_path: Path) -> None:
    system = make_system(tmp_path, defaultWalltime=90.0, bsub_args="-q long -M 4096")
    line = system.bsub_options(shell_job("a", "true", cores=2, memory=1000 * MiB))
    assert line[:8] == [
        "-J",
        "test_a",
        "-n",
        "2",
        "-R",
        "span[hosts=1] rusage[mem=1000MB]",
        "-o",
        "/dev/null",
    ]
    assert ["-W", "2"] == line[line.index("-W") : line.index("-W") + 2]  # 90 s -> 2 minutes
    assert line[-4:] == ["-q", "long", "-M", "4096"] and line.count("-M") == 1


@pytest.fixture
def lsf(lsf_cluster: LsfCluster, tmp_path: Path) -> Iterator[LsfBatchSystem]:
    system = make_system(tmp_path, lsf_cluster, batchLogsDir=str(tmp_path / "logs"))
    system.start()
    yield system
    system.shutdown()


HOG = f"{sys.executable} -c 'b = bytearray(300 * 2**20); b[::4096] = b\"x\" * len(b[::4096]); import time; time.sleep(30)'"


@pytest.mark.lsf
def test_exit_codes_memory_kill_and_one_bjobs_per_poll(lsf: LsfBatchSystem, tmp_path: Path) -> None:
    for i in range(20):
        lsf.issue_job(
            shell_job(
                f"j{i}",
                f"echo $LSB_DJOB_NUMPROC > {tmp_path}/j{i}; exit {i % 3}",
                cores=2 if i == 0 else 1,
            )
        )
    lsf.issue_job(shell_job("hog", HOG, memory=64 * MiB))
    updates = collect(lsf, 21)
    assert [updates[f"j{i}"].exit_status for i in range(20)] == [i % 3 for i in range(20)]
    assert updates["j2"].message == "the worker exited with code 2"
    assert (tmp_path / "j0").read_text() == "2\n"
    hog = updates["hog"]
    assert hog.exit_reason is ExitReason.MEMLIMIT, hog
    assert (
        hog.message
        == "killed by LSF: TERM_MEMLIMIT: job killed after reaching LSF memory usage limit"
    )
    counts = lsf.command_counts
    assert counts["bsub"] == 21
    assert counts["bjobs"] == lsf.poll_count < 21, counts


@pytest.mark.lsf
def test_more_cores_than_any_host_is_refused_with_bhosts_figure(lsf: LsfBatchSystem) -> None:
    with pytest.raises(
        InsufficientResourcesError, match=r"largest host LSF knows \(bhosts\) has 8 job slots"
    ):
        lsf.issue_job(shell_job("wide", "true", cores=64))
