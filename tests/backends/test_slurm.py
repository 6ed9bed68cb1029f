"""The Slurm batch system against a real single-node Slurm (``slurm_cluster`` fixture).

Jobs here are plain shell commands that leave files in ``tmp_path``; the leader and worker
are not involved. Tests without the marker only check the sbatch command line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from backends.batch.base import BatchConfig, BatchJob, ExitReason, Resources
from backends.batch.slurm import SlurmBatchSystem, SlurmSettings, format_time, parse_time
from backends.settings import from_values
from tests.backends.cluster_jobs import collect, shell_job
from tests.services.slurm import SlurmCluster, start

MiB = 1024**2
WAIT = 180.0  # upper bound for something that should happen; never an assertion


def make_system(work_dir: Path, **options: object) -> SlurmBatchSystem:
    """No bound of moil's own on jobs in flight: Slurm alone decides what runs."""
    options.setdefault("statePollingWait", 0.5)
    settings = from_values(SlurmSettings, options)
    config = BatchConfig(math.inf, 2**62, 2**62, str(work_dir), settings=settings)
    return SlurmBatchSystem(config)


@pytest.fixture
def slurm(slurm_cluster: SlurmCluster, tmp_path: Path) -> Iterator[SlurmBatchSystem]:
    system = make_system(tmp_path, batchLogsDir=str(tmp_path / "logs"))
    system.start()
    yield system
    system.shutdown()


def wait_for(predicate: object, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


# ----------------------------------------------------------------------- with a real Slurm
@pytest.mark.slurm
def test_jobs_run_and_write_files(slurm: SlurmBatchSystem, tmp_path: Path) -> None:
    ids = {
        slurm.issue_job(
            shell_job(
                f"j{i}",
                f'printf "%s" "$MOIL_TEST_VALUE" > {tmp_path}/out{i}',
                env={"MOIL_TEST_VALUE": f"value {i}"},
            )
        ): i
        for i in range(3)
    }
    updates = collect(slurm, 3)
    assert set(updates) == set(ids)
    for batch_id, i in ids.items():
        assert updates[batch_id].exit_reason is ExitReason.FINISHED, updates[batch_id]
        assert updates[batch_id].exit_status == 0
        assert updates[batch_id].job_id == f"j{i}"
        assert (tmp_path / f"out{i}").read_text() == f"value {i}"
    assert slurm.issued_ids() == []
    assert slurm.get_updated_job(timeout=0) is None


@pytest.mark.slurm
def test_python_worker_command_finds_moil(slurm: SlurmBatchSystem, tmp_path: Path) -> None:
    """A ``python -m`` command runs with this source tree importable, as the worker must."""
    job = BatchJob(
        "py",
        "py",
        Resources(memory=256 * MiB),
        str(tmp_path),
        "unused:unused",
        (sys.executable, "-m", "backends.testing.jobs", "touch", str(tmp_path), "py"),
    )
    slurm.issue_job(job)
    (update,) = collect(slurm, 1).values()
    assert update.exit_reason is ExitReason.FINISHED, update
    assert (tmp_path / "py").read_text() == "done"


@pytest.mark.slurm
def test_failing_job_reports_its_exit_code(slurm: SlurmBatchSystem) -> None:
    slurm.issue_job(shell_job("fails", "echo oops >&2; exit 3"))
    (update,) = collect(slurm, 1).values()
    assert update.exit_reason is ExitReason.FAILED
    assert update.exit_status == 3
    assert "exited with code 3" in update.message


@pytest.mark.slurm
def test_rejected_submission_is_an_error_update(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    system = make_system(tmp_path, slurmPartition="no_such_partition")
    system.start()
    try:
        system.issue_job(shell_job("bad", "true"))
        (update,) = collect(system, 1).values()
    finally:
        system.shutdown()
    assert update.exit_reason is ExitReason.ERROR
    assert "sbatch failed" in update.message and "partition" in update.message.lower()


@pytest.mark.slurm
@pytest.mark.slow
def test_job_over_its_time_limit_is_timelimit(slurm: SlurmBatchSystem, tmp_path: Path) -> None:
    # Slurm's smallest limit is a minute, checked about every 30 s: this takes 60-100 s.
    slurm.issue_job(shell_job("slow", f"touch {tmp_path}/started; exec sleep 600", time_limit=60))
    (update,) = collect(slurm, 1).values()
    assert (tmp_path / "started").exists()
    assert update.exit_reason is ExitReason.TIMELIMIT, update
    assert update.message == "killed by Slurm for exceeding its time limit of 0:01:00"
    assert update.wall_time is not None and update.wall_time >= 60


HOG = (
    f"{sys.executable} -c 'import time; a = bytearray(400 * 2**20); "
    'a[::4096] = b"x" * len(a[::4096]); time.sleep(20)\''
)


@pytest.mark.slurm
def test_job_over_its_memory_is_memlimit(
    slurm: SlurmBatchSystem, slurm_cluster: SlurmCluster
) -> None:
    assert slurm_cluster.memory_enforced_by_cgroup, "this host should allow task/cgroup"
    slurm.issue_job(shell_job("hog", HOG, memory=64 * MiB))
    (update,) = collect(slurm, 1).values()
    assert update.exit_reason is ExitReason.MEMLIMIT, update
    assert update.message == "killed by Slurm for exceeding its memory limit of 64 MiB"


@pytest.fixture
def sampling_cluster(
    slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SlurmCluster]:
    """A second cluster that enforces memory by sampling (no cgroups), as on hosts without
    a writable cgroup v1 memory controller."""
    base = tempfile.mkdtemp(prefix="moil-slurm-nocg-", dir="/tmp")
    cluster = start(base, cpus=2, cgroup=False)
    monkeypatch.setenv("SLURM_CONF", cluster.env["SLURM_CONF"])
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slurm
def test_memory_kill_without_cgroups_is_read_from_the_job_log(
    sampling_cluster: SlurmCluster, tmp_path: Path
) -> None:
    """Slurm records FAILED + signal 9 here; the job's stderr in --batchLogsDir says why."""
    system = make_system(tmp_path, batchLogsDir=str(tmp_path / "logs"))
    system.start()
    try:
        system.issue_job(shell_job("hog", HOG, memory=64 * MiB))
        (update,) = collect(system, 1).values()
        no_logs = make_system(tmp_path)
        no_logs.start()
        no_logs.issue_job(shell_job("hog2", HOG, memory=64 * MiB))
        (blind,) = collect(no_logs, 1).values()
        no_logs.shutdown()
    finally:
        system.shutdown()
    assert update.exit_reason is ExitReason.MEMLIMIT, update
    # Without the job's stderr nothing tells a memory kill from any other SIGKILL.
    assert blind.exit_reason is ExitReason.FAILED, blind
    assert "signal 9" in blind.message


def job_pids(directory: Path) -> list[int]:
    return [int(p.read_text()) for p in directory.glob("*.pid") if p.read_text().strip()]


@pytest.mark.slurm
def test_kill_removes_pending_and_running_jobs(
    slurm: SlurmBatchSystem, slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    # Each job takes all 8 CPUs of the node: one runs, the others pend.
    ids = [
        slurm.issue_job(
            shell_job(
                f"k{i}", f"echo $$ > {tmp_path}/k{i}.pid; exec sleep 600", cores=slurm_cluster.cpus
            )
        )
        for i in range(3)
    ]
    wait_for(lambda: slurm.running_jobs() and job_pids(tmp_path), "a job to start")
    assert len(slurm.running_jobs()) == 1
    pids = job_pids(tmp_path)
    slurm.kill_jobs(ids)
    updates = collect(slurm, 3)
    assert {u.exit_reason for u in updates.values()} == {ExitReason.KILLED}
    assert all(u.message == "killed on request" for u in updates.values())
    assert slurm_cluster.queued_job_ids() == []
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)
    assert slurm.command_counts["scancel"] == 1


@pytest.mark.slurm
def test_shutdown_cancels_what_still_runs(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    system = make_system(tmp_path)
    system.start()
    system.issue_job(shell_job("long", f"echo $$ > {tmp_path}/long.pid; exec sleep 600"))
    wait_for(lambda: job_pids(tmp_path), "the job to start")
    system.shutdown()
    assert slurm_cluster.queued_job_ids() == []


@pytest.mark.slurm
def test_status_polls_grow_with_time_not_with_jobs(slurm: SlurmBatchSystem, tmp_path: Path) -> None:
    count = 50
    started = time.monotonic()
    for i in range(count):
        slurm.issue_job(shell_job(f"q{i}", f"touch {tmp_path}/q{i}", memory=64 * MiB))
    updates = collect(slurm, count)
    elapsed = time.monotonic() - started
    assert {u.exit_reason for u in updates.values()} == {ExitReason.FINISHED}
    assert len(list(tmp_path.glob("q*"))) == count
    counts = slurm.command_counts
    assert counts["sbatch"] == count
    # One squeue per poll serves every job: polls follow the clock (every 0.5 s here).
    assert counts["squeue"] <= elapsed / 0.5 + 2, (counts, elapsed)
    assert counts["squeue"] < count / 2, counts
    print(f"\n{count} jobs in {elapsed:.1f}s with {counts}")


@pytest.mark.slurm
def test_job_its_partition_can_never_run_ends_with_the_reason(
    slurm: SlurmBatchSystem, slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    # Slurm (EnforcePartLimits=NO, its default) accepts a job over the partition's time limit
    # and keeps it pending forever; the run must not wait for it.
    slurm_cluster.run("scontrol", "update", "PartitionName=debug", "MaxTime=1")
    try:
        slurm.issue_job(shell_job("too_long", f"touch {tmp_path}/ran", time_limit=300))
        (update,) = collect(slurm, 1).values()
    finally:
        slurm_cluster.run("scontrol", "update", "PartitionName=debug", "MaxTime=INFINITE")
    assert update.exit_reason is ExitReason.ERROR, update
    assert "PartitionTimeLimit" in update.message and "--slurmTime" in update.message
    assert slurm_cluster.queued_job_ids() == []
    assert not (tmp_path / "ran").exists()


# ----------------------------------------------------------------------- no Slurm needed
@pytest.mark.slurm
def test_jobs_of_one_shape_share_a_scheduler_job(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    system = make_system(tmp_path, jobsPerAllocation=3, workersPerAllocation=2)
    system.start()
    try:
        script = f'echo "$@" > {tmp_path}/run.$$'
        jobs = [shell_job(f"j{i}", script) for i in range(7)]
        jobs = [dataclasses.replace(j, argv=(*j.argv, "bundle", j.job_id)) for j in jobs]
        jobs.append(shell_job("other", script, cores=2))  # another shape: alone
        ids = {system.issue_job(job): job.job_id for job in jobs}
        updates = collect(system, len(jobs))
        counts = system.command_counts
    finally:
        system.shutdown()
    assert {updates[b].job_id for b in ids} == set(ids.values())
    assert all(u.exit_reason is ExitReason.FINISHED for u in updates.values()), updates
    runs = sorted(p.read_text().split() for p in tmp_path.glob("run.*"))
    # a bundle's command: its worker count and issue time, then its jobs' IDs in order;
    # a job alone runs its own command
    bundles = sorted(run[4:] if run[:1] == ["--workers"] else run for run in runs)
    assert bundles == [[], ["j0", "j1", "j2"], ["j3", "j4", "j5"], ["j6"]], runs
    assert sorted(run[:2] for run in runs if len(run) > 3) == [["--workers", "2"]] * 2
    assert counts["sbatch"] == 4, counts  # 3 bundles and the 2-core job


def test_sbatch_options_follow_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOIL_SLURM_ARGS", raising=False)
    monkeypatch.delenv("TOIL_SLURM_PE", raising=False)
    system = make_system(
        tmp_path, slurmPartition="short", slurmPE="multi", batchLogsDir=str(tmp_path)
    )
    job = BatchJob(
        "a/b",
        "my job",
        Resources(cores=1.5, memory=1000 * MiB + 1, accelerators=({"kind": "gpu", "count": 2},)),
        "loc",
        "m:f",
        ("echo",),
        time_limit=3661,
    )
    argv = system.sbatch_options(job)
    assert "--cpus-per-task=2" in argv
    assert "--mem=1001M" in argv
    assert "--time=1:01:01" in argv
    assert "--partition=multi" in argv  # more than one core: the --slurmPE partition
    assert "--gres=gpu:2" in argv
    assert "--job-name=my_job" in argv
    assert f"--output={tmp_path}/moil-a_b-%j.out" in argv
    single = system.sbatch_options(BatchJob("c", "c", Resources(), "l", "m:f", ("x",)))
    assert "--partition=short" in single
    assert "--error=/dev/null" in make_system(tmp_path).sbatch_options(job)
    assert not any(a.startswith("--time") for a in single)


def test_user_arguments_replace_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOIL_SLURM_ARGS", "-p big --time=2:00:00 --qos=high")
    system = make_system(tmp_path, slurmPartition="short", slurmArgs="--mem-per-cpu=1G")
    argv = system.sbatch_options(BatchJob("c", "c", Resources(), "l", "m:f", ("x",), {}, 60))
    assert argv[-5:] == ["-p", "big", "--time=2:00:00", "--qos=high", "--mem-per-cpu=1G"]
    assert not any(a.startswith(("--partition", "--time=0", "--mem=")) for a in argv)


def test_job_environment_drops_an_enclosing_allocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_MEM_PER_CPU", "100")
    monkeypatch.setenv("SLURM_CONF", "/etc/x/slurm.conf")
    env = make_system(tmp_path).job_environment(
        BatchJob("c", "c", Resources(), "l", "m:f", ("x",), {"A": "1"})
    )
    assert "SLURM_MEM_PER_CPU" not in env
    assert env["SLURM_CONF"] == "/etc/x/slurm.conf" and env["A"] == "1"
    assert str(Path(__file__).resolve().parents[2]) in env["PYTHONPATH"].split(os.pathsep)


def test_slurm_times() -> None:
    assert format_time(60) == "0:01:00"
    assert format_time(0.2) == "0:00:01"
    assert format_time(2 * 86400 + 3723) == "2-01:02:03"
    assert parse_time("1:02") == 62
    assert parse_time("1:02:03") == 3723
    assert parse_time("2-01:02:03") == 2 * 86400 + 3723
    assert parse_time("UNLIMITED") is None


def test_toils_slurm_options_become_sbatch_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOIL_SLURM_ARGS", raising=False)
    system = make_system(
        tmp_path,
        slurmPartition="short",
        slurmQOS="normal",
        slurmGPUPartition="gpus",
        slurmGPUQOS="fast",
    )
    gpu = Resources(accelerators=({"kind": "gpu", "count": 1},))
    plain = system.sbatch_options(BatchJob("a", "a", Resources(), "l", "m:f", ("x",)))
    assert "--partition=short" in plain and "--qos=normal" in plain
    on_gpu = system.sbatch_options(BatchJob("b", "b", gpu, "l", "m:f", ("x",)))
    assert "--partition=gpus" in on_gpu and "--qos=fast" in on_gpu
    assert "--gres=gpu:1" in on_gpu
    no_mem = make_system(tmp_path, slurmAllocateMem=False).sbatch_options(
        BatchJob("c", "c", Resources(memory=64 * MiB), "l", "m:f", ("x",))
    )
    assert not any(a.startswith("--mem") for a in no_mem)
    all_mem = make_system(tmp_path, slurmDefaultAllMem=True)
    said = Resources(memory=64 * MiB)
    unsaid = Resources(memory=64 * MiB, default_memory=True)
    assert "--mem=64M" in all_mem.sbatch_options(BatchJob("d", "d", said, "l", "m:f", ("x",)))
    assert "--mem=0" in all_mem.sbatch_options(BatchJob("e", "e", unsaid, "l", "m:f", ("x",)))


@pytest.mark.slurm
def test_slurm_memory_options_on_a_real_slurm(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """Each job writes what Slurm says of it (scontrol show job: MinMemoryNode)."""
    systems = {
        "given": make_system(tmp_path),
        "none": make_system(tmp_path, slurmAllocateMem=False),
        "all": make_system(tmp_path, slurmDefaultAllMem=True),
    }
    for name, system in systems.items():
        system.start()
        job = shell_job(name, f"scontrol -o show job $SLURM_JOB_ID > {tmp_path}/{name}")
        system.issue_job(
            dataclasses.replace(
                job, resources=Resources(cores=1, memory=64 * MiB, default_memory=name == "all")
            )
        )
        update = collect(system, 1)
        assert [u.exit_reason for u in update.values()] == [ExitReason.FINISHED], update
        system.shutdown()
    shown = {name: (tmp_path / name).read_text() for name in systems}
    given = {name: re.findall(r"MinMemoryNode=(\S+)", text) for name, text in shown.items()}
    # none: the cluster's default (MinMemoryCPU); all: --mem=0, the whole node's memory
    assert given == {"given": ["64M"], "none": [], "all": ["0"]}, shown
    assert f"mem={slurm_cluster.memory_mib}M" in shown["all"]
