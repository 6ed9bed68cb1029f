"""The batch-system contract suite: what every batch system keeps, as pytest tests.

``BatchSystemContract`` asks for one fixture, ``batch_target``, giving a ``BatchTarget``:
how to make a started system of the kind under test (``make``), the directory its jobs
leave their traces in (``directory``: on a filesystem the system's workers see), and the
hooks where a system differs:

- ``containers_left``: for a system whose jobs run in containers of their own (aws_batch),
  how to list those still there. Such a system is held to the container being gone where the
  others are held to the job's processes being gone: a job's process IDs belong to the
  container's PID namespace, not the host's;
- ``job_count``: fewer jobs for the exactly-once test, for systems that take seconds a job;
- the system's ``capabilities``: ``time_limits`` (a system that does not enforce
  ``BatchJob.time_limit`` itself skips that test), ``in_process`` (held to exact exit
  statuses and messages where the contract leaves a detail to the system, and to reaching
  its concurrency limit), ``isolated`` (a system that runs jobs in the caller's own process,
  like ``inline``, skips the tests whose jobs kill, end or hang their process, and the
  concurrency one: it runs one job at a time).

``target_for(cls, directory, ...)`` builds a target for a class, shutting down every
system it made at the end of the test. Jobs carry both ``entry`` (in-process systems) and
``argv`` (cluster systems); see ``backends.testing.jobs``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from backends.batch.base import (
    BatchConfig,
    BatchJob,
    BatchSystem,
    ExitReason,
    Resources,
    UpdatedJob,
)
from backends.errors import InsufficientResourcesError
from backends.settings import from_values

JOBS_MODULE = "backends.testing.jobs"
#: the directory that holds the ``backends`` package: the jobs' PYTHONPATH
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
GiB = 1024**3
MiB = 1024**2
WAIT = 120.0  # upper bound on waiting for something that should happen; never an assertion

Factory = Callable[..., BatchSystem]


@dataclass
class BatchTarget:
    """One batch system under test (see the module docstring)."""

    make: Factory
    """``make(max_cores=2, max_memory=8 GiB, max_disk=8 GiB)`` -> a started system."""
    directory: Path
    """Where the jobs write their traces; seen by the system's workers."""
    containers_left: Callable[[], list[str]] | None = None
    job_count: int = 200


@contextmanager
def target_for(
    cls: type[BatchSystem],
    directory: Path,
    *,
    settings: Mapping[str, object] | None = None,
    environment: Mapping[str, str] | None = None,
    containers_left: Callable[[], list[str]] | None = None,
    job_count: int = 200,
) -> Iterator[BatchTarget]:
    """A target making started ``cls`` systems (work directory ``directory/work``) with
    ``settings`` by Toil name (``backends.settings.from_values``) and ``environment`` for
    their commands; each is shut down when the block ends."""
    made: list[BatchSystem] = []

    def make(
        max_cores: float = 2.0, max_memory: int = 8 * GiB, max_disk: int = 8 * GiB
    ) -> BatchSystem:
        work_dir = directory / "work"
        work_dir.mkdir(exist_ok=True)
        config = BatchConfig(
            max_cores,
            max_memory,
            max_disk,
            str(work_dir),
            settings=from_values(cls.settings_class, dict(settings or {})),
            environment=dict(environment or {}),
        )
        system = cls(config)
        system.start()
        made.append(system)
        return system

    try:
        yield BatchTarget(make, directory, containers_left, job_count)
    finally:
        for system in made:
            system.shutdown()


# -- helpers (public: a system's own tests use them too) ----------------------------------
def job(
    directory: Path,
    function: str,
    job_id: str,
    cores: float = 1.0,
    memory: int = 64 * MiB,
    disk: int = 64 * MiB,
    time_limit: float | None = None,
    environment: dict[str, str] | None = None,
) -> BatchJob:
    """A BatchJob running ``backends.testing.jobs.function`` with ``directory`` as its
    locator."""
    return BatchJob(
        job_id=job_id,
        name=function,
        resources=Resources(cores=cores, memory=memory, disk=disk),
        locator=str(directory),
        entry=f"{JOBS_MODULE}:{function}",
        argv=(sys.executable, "-m", JOBS_MODULE, function, str(directory), job_id),
        environment={"PYTHONPATH": str(PACKAGE_ROOT), **(environment or {})},
        time_limit=time_limit,
    )


def collect(system: BatchSystem, count: int) -> list[UpdatedJob]:
    """Take updates until ``count`` arrived (or WAIT passed: the caller's assert says so)."""
    updates: list[UpdatedJob] = []
    end = time.monotonic() + WAIT
    while len(updates) < count and time.monotonic() < end:
        update = system.get_updated_job(1.0)
        if update is not None:
            updates.append(update)
    return updates


def wait_for_file(path: Path) -> str:
    """The text of ``path`` once it exists (waiting up to WAIT)."""
    end = time.monotonic() + WAIT
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.02)
    return path.read_text()


def wait_no_containers(containers_left: Callable[[], list[str]]) -> list[str]:
    """The containers still there after at most WAIT (empty once all are gone)."""
    end = time.monotonic() + WAIT
    while (left := containers_left()) and time.monotonic() < end:
        time.sleep(0.2)
    return left


def wait_gone(process: psutil.Process) -> bool:
    """Whether the process ended (a zombie counts: it runs no more) within WAIT."""
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def wait_pid_gone(pid: int) -> bool:
    """Whether process ``pid`` ended (or never existed) within WAIT."""
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    return wait_gone(process)


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = running = 0
    for _, step in events:  # at equal times, an end (-1) sorts before a start
        running += step
        peak = max(peak, running)
    return peak


def _needs_isolation(system: BatchSystem, what: str) -> None:
    if not system.capabilities.isolated:
        pytest.skip(f"{system.name} runs jobs in the caller's own process: {what}")


class BatchSystemContract:
    """The contract suite; subclass it as ``Test...`` with a ``batch_target`` fixture."""

    def test_each_job_is_reported_exactly_once(self, batch_target: BatchTarget) -> None:
        tmp_path, count = batch_target.directory, batch_target.job_count
        system = batch_target.make(max_cores=2.0)
        issued = [
            system.issue_job(job(tmp_path, "touch", f"job{i}", cores=0.1)) for i in range(count)
        ]
        assert len(set(issued)) == count
        assert sorted(system.issued_ids()) == sorted(issued)
        updates = collect(system, count)
        assert sorted(u.batch_id for u in updates) == sorted(issued)
        assert {u.exit_reason for u in updates} == {ExitReason.FINISHED}
        assert {u.exit_status for u in updates} == {0}
        by_batch_id = {u.batch_id: u.job_id for u in updates}
        assert [by_batch_id[b] for b in issued] == [f"job{i}" for i in range(count)]
        assert all((tmp_path / f"job{i}").read_text() == "done" for i in range(count))
        assert system.get_updated_job(0.2) is None
        assert system.issued_ids() == []
        assert system.running_jobs() == {}
        assert system.running_count() == 0

    @pytest.mark.parametrize(
        ("cores", "memory", "max_cores", "max_memory", "expected"),
        [
            pytest.param(1.0, 64 * MiB, 2.0, 8 * GiB, 2, id="cores"),
            pytest.param(0.5, 64 * MiB, 2.0, 8 * GiB, 4, id="fractional-cores"),
            pytest.param(0.1, 1 * GiB, 2.0, 2 * GiB, 2, id="memory"),
        ],
    )
    def test_concurrency_is_limited_by_resources(
        self,
        batch_target: BatchTarget,
        cores: float,
        memory: int,
        max_cores: float,
        max_memory: int,
        expected: int,
    ) -> None:
        tmp_path = batch_target.directory
        system = batch_target.make(max_cores=max_cores, max_memory=max_memory)
        count = 2 * expected
        for i in range(count):
            system.issue_job(job(tmp_path, "record_interval", f"j{i}", cores=cores, memory=memory))
        updates = collect(system, count)
        assert [u.exit_reason for u in updates] == [ExitReason.FINISHED] * count
        intervals = []
        for i in range(count):
            start, end = (tmp_path / f"j{i}.interval").read_text().split()
            intervals.append((float(start), float(end)))
        peak = peak_overlap(intervals)
        assert peak <= expected
        if system.capabilities.in_process and system.capabilities.isolated:
            assert peak == expected  # jobs that fit start at once: the limit is reached

    def test_job_environment_is_set(self, batch_target: BatchTarget) -> None:
        tmp_path = batch_target.directory
        system = batch_target.make()
        system.issue_job(
            job(tmp_path, "write_environment", "env", environment={"MOIL_TEST_VALUE": "forty-two"})
        )
        [update] = collect(system, 1)
        assert update.exit_reason is ExitReason.FINISHED
        assert (tmp_path / "env").read_text() == "forty-two"

    def test_failing_job_is_reported(self, batch_target: BatchTarget) -> None:
        system = batch_target.make()
        batch_id = system.issue_job(job(batch_target.directory, "fail", "bad"))
        [update] = collect(system, 1)
        assert (update.batch_id, update.job_id) == (batch_id, "bad")
        assert update.exit_reason is ExitReason.FAILED
        assert update.exit_status == 1
        if system.capabilities.in_process:
            assert "job bad fails on purpose" in update.message

    def test_dead_worker_is_reported_and_the_system_recovers(
        self, batch_target: BatchTarget
    ) -> None:
        tmp_path = batch_target.directory
        system = batch_target.make(max_cores=1.0)
        _needs_isolation(system, "a job that kills its process would kill the test")
        killed = system.issue_job(job(tmp_path, "die_by_sigkill", "killed"))
        exited = system.issue_job(job(tmp_path, "exit_3", "exited"))
        after = [system.issue_job(job(tmp_path, "touch", f"after{i}")) for i in range(3)]
        updates = {u.batch_id: u for u in collect(system, 5)}
        assert sorted(updates) == sorted([killed, exited, *after])
        assert updates[killed].exit_status != 0
        assert updates[killed].exit_reason in (ExitReason.KILLED, ExitReason.FAILED)
        if system.capabilities.in_process:
            assert (updates[killed].exit_status, updates[killed].exit_reason) == (
                -9,
                ExitReason.KILLED,
            )
        assert (updates[exited].exit_status, updates[exited].exit_reason) == (3, ExitReason.FAILED)
        assert all(updates[b].exit_reason is ExitReason.FINISHED for b in after)
        assert all((tmp_path / f"after{i}").exists() for i in range(3))

    def test_kill_jobs_kills_the_job_and_its_children(self, batch_target: BatchTarget) -> None:
        tmp_path, containers_left = batch_target.directory, batch_target.containers_left
        system = batch_target.make()
        _needs_isolation(system, "a job that runs there cannot be killed")
        batch_id = system.issue_job(job(tmp_path, "spawn_child_and_sleep", "parent"))
        child_pid = int(wait_for_file(tmp_path / "parent.child"))
        assert batch_id in system.running_jobs()
        assert system.running_jobs()[batch_id] >= 0
        assert system.running_count() == 1  # the running job, as the poll just made saw it
        if containers_left is not None:
            assert containers_left(), "the job runs in a container"
            system.kill_jobs([batch_id])
            assert wait_no_containers(containers_left) == []
        else:
            child = psutil.Process(child_pid)
            system.kill_jobs([batch_id])
            assert wait_gone(child)
        [update] = collect(system, 1)
        assert update.batch_id == batch_id
        assert update.exit_reason is ExitReason.KILLED
        assert system.get_updated_job(0.2) is None
        assert system.issued_ids() == []

    def test_kill_jobs_of_a_queued_job(self, batch_target: BatchTarget) -> None:
        tmp_path = batch_target.directory
        system = batch_target.make(max_cores=1.0)
        _needs_isolation(system, "no job runs beside the test to be killed")
        running = system.issue_job(job(tmp_path, "sleep_long", "running"))
        queued = system.issue_job(job(tmp_path, "touch", "queued"))
        wait_for_file(tmp_path / "running.started")
        system.kill_jobs([queued])
        system.kill_jobs([running])
        updates = {u.batch_id: u for u in collect(system, 2)}
        assert sorted(updates) == sorted([running, queued])
        assert {u.exit_reason for u in updates.values()} == {ExitReason.KILLED}
        assert not (tmp_path / "queued").exists()
        assert system.get_updated_job(0.2) is None

    def test_kill_jobs_before_they_start(self, batch_target: BatchTarget) -> None:
        """Jobs killed before any ran: each reported KILLED once, none run."""
        tmp_path = batch_target.directory
        system = batch_target.make(max_cores=1.0)
        if system.capabilities.isolated:
            pytest.skip(f"{system.name} runs jobs apart: test_kill_jobs_of_a_queued_job holds it")
        issued = [system.issue_job(job(tmp_path, "touch", f"never{i}")) for i in range(3)]
        system.kill_jobs(issued[1:])
        updates = collect(system, 3)
        assert sorted(u.batch_id for u in updates) == sorted(issued)
        reasons = {u.batch_id: u.exit_reason for u in updates}
        assert [reasons[b] for b in issued] == [ExitReason.FINISHED] + [ExitReason.KILLED] * 2
        assert [(tmp_path / f"never{i}").exists() for i in range(3)] == [True, False, False]
        assert system.get_updated_job(0.2) is None
        assert system.issued_ids() == []

    @pytest.mark.parametrize(
        ("resources", "words"),
        [
            pytest.param({"cores": 3.0}, ["3 cores", "2 "], id="cores"),
            pytest.param({"memory": 16 * GiB}, ["16.0 GiB", "8.0 GiB", "memory"], id="memory"),
            pytest.param({"disk": 16 * GiB}, ["16.0 GiB", "8.0 GiB", "disk"], id="disk"),
        ],
    )
    def test_a_job_that_can_never_fit_is_refused(
        self, batch_target: BatchTarget, resources: dict[str, Any], words: list[str]
    ) -> None:
        system = batch_target.make(max_cores=2.0, max_memory=8 * GiB, max_disk=8 * GiB)
        with pytest.raises(InsufficientResourcesError) as raised:
            system.issue_job(job(batch_target.directory, "touch", "huge", **resources))
        for word in words:
            assert word in str(raised.value)
        assert system.issued_ids() == []

    def test_time_limit(self, batch_target: BatchTarget) -> None:
        tmp_path = batch_target.directory
        system = batch_target.make()
        if not system.capabilities.time_limits:
            pytest.skip(f"{system.name} does not enforce time limits itself")
        slow = system.issue_job(job(tmp_path, "sleep_long", "slow", time_limit=1.0))
        quick = system.issue_job(job(tmp_path, "touch", "quick", time_limit=60.0))
        updates = {u.batch_id: u for u in collect(system, 2)}
        assert updates[slow].exit_reason is ExitReason.TIMELIMIT
        assert updates[quick].exit_reason is ExitReason.FINISHED
        assert wait_pid_gone(int((tmp_path / "slow.started").read_text()))

    def test_shutdown_leaves_no_processes(self, batch_target: BatchTarget) -> None:
        tmp_path, containers_left = batch_target.directory, batch_target.containers_left
        me = psutil.Process()
        before = {p.pid for p in me.children(recursive=True)}
        system = batch_target.make(max_cores=2.0)
        _needs_isolation(system, "a job that runs there cannot be stopped")
        system.issue_job(job(tmp_path, "spawn_child_and_sleep", "a", cores=0.5))
        system.issue_job(job(tmp_path, "sleep_long", "b", cores=0.5))
        system.issue_job(job(tmp_path, "touch", "c", cores=0.5))
        system.issue_job(job(tmp_path, "sleep_long", "queued", cores=2.0))
        grandchild_pid = int(wait_for_file(tmp_path / "a.child"))
        wait_for_file(tmp_path / "b.started")
        wait_for_file(tmp_path / "c")
        if containers_left is not None:
            assert containers_left(), "the jobs run in containers"
            system.shutdown()
            assert wait_no_containers(containers_left) == []
            assert not (tmp_path / "queued.started").exists()
            return
        grandchild = psutil.Process(grandchild_pid)
        started = [p for p in me.children(recursive=True) if p.pid not in before]
        if system.capabilities.in_process:
            assert grandchild in started
        system.shutdown()
        assert all(wait_gone(p) for p in [grandchild, *started])
        assert not (tmp_path / "queued.started").exists()
        # Not even zombies: the system reaps what it started.
        assert [p for p in me.children(recursive=True) if p.pid not in before] == []

    def test_shutdown_forgets_queued_jobs(self, batch_target: BatchTarget) -> None:
        """Jobs still queued at shutdown never run and yield no update."""
        tmp_path = batch_target.directory
        system = batch_target.make(max_cores=1.0)
        if system.capabilities.isolated:
            pytest.skip(
                f"{system.name} runs jobs apart: test_shutdown_leaves_no_processes holds it"
            )
        for i in range(3):
            system.issue_job(job(tmp_path, "touch", f"queued{i}"))
        system.shutdown()
        assert system.get_updated_job(0.2) is None
        assert system.issued_ids() == []
        assert not any((tmp_path / f"queued{i}").exists() for i in range(3))
