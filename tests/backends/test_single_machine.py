"""What the single-machine batch system promises beyond the shared contract: forked,
long-lived workers in their own process groups that outlive a dead leader only long enough to
finish their job, and first-come-first-served scheduling with backfill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from backends.batch.base import BatchConfig, ExitReason
from backends.batch.single_machine import SingleMachineBatchSystem, SingleMachineSettings
from backends.testing import jobs as jobs_for_tests
from backends.testing.batch import (
    PACKAGE_ROOT as REPO_ROOT,
)
from backends.testing.batch import (
    GiB,
    collect,
    job,
    peak_overlap,
    wait_for_file,
    wait_gone,
)

# A leader in its own process: two print_noise jobs (so two workers exist), then one job that
# sleeps a second; it lists its workers, waits for that job's update, records it, and waits to
# be killed. It ignores SIGINT, as a leader that handles Ctrl-C itself would.
LEADER_SCRIPT = """
import json, signal, sys, time
import psutil
from backends.batch.base import BatchConfig
from backends.batch.single_machine import SingleMachineBatchSystem
from backends.testing.jobs import write_file
from backends.testing.batch import collect, job, wait_for_file
from pathlib import Path

signal.signal(signal.SIGINT, signal.SIG_IGN)
directory = Path(sys.argv[1])
system = SingleMachineBatchSystem(BatchConfig(2.0, 8 * 1024**3, 8 * 1024**3, str(directory)))
system.start()
system.issue_job(job(directory, "print_noise", "noise1"))
system.issue_job(job(directory, "print_noise", "noise2"))
assert len(collect(system, 2)) == 2
system.issue_job(job(directory, "sleep_then_touch", "slow"))
busy = int(wait_for_file(directory / "slow.started"))
workers = [p.pid for p in psutil.Process().children()]
write_file(str(directory), "workers.json", json.dumps({"busy": busy, "all": workers}))
[update] = collect(system, 1)
write_file(str(directory), "leader-saw", update.exit_reason.value)
time.sleep(600)
"""


@pytest.fixture
def leader(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The leader process running LEADER_SCRIPT in a session of its own, killed at the end."""
    with (tmp_path / "leader.out").open("wb") as out, (tmp_path / "leader.err").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", LEADER_SCRIPT, str(tmp_path)],
            stdout=out,
            stderr=err,
            cwd=REPO_ROOT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def system(tmp_path: Path) -> Iterator[SingleMachineBatchSystem]:
    made = SingleMachineBatchSystem(BatchConfig(2.0, 8 * GiB, 8 * GiB, str(tmp_path)))
    made.start()
    yield made
    made.shutdown()


def test_workers_finish_their_job_then_exit_when_the_leader_dies(
    leader: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    workers = json.loads(wait_for_file(tmp_path / "workers.json"))
    assert workers["busy"] in workers["all"] and len(workers["all"]) == 2
    processes = [psutil.Process(pid) for pid in workers["all"]]
    leader.kill()
    leader.wait()
    assert wait_for_file(tmp_path / "slow") == "done"
    assert all(wait_gone(p) for p in processes)
    assert "noise from noise1" not in (tmp_path / "leader.out").read_text()
    assert "noise from noise1" in (tmp_path / "leader.err").read_text()


def test_ctrl_c_reaches_the_leader_only(leader: subprocess.Popen[bytes], tmp_path: Path) -> None:
    workers = json.loads(wait_for_file(tmp_path / "workers.json"))
    os.killpg(leader.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    assert wait_for_file(tmp_path / "leader-saw") == ExitReason.FINISHED.value
    assert all(psutil.Process(pid).is_running() for pid in workers["all"])


def test_workers_are_reused(system: SingleMachineBatchSystem, tmp_path: Path) -> None:
    for i in range(5):
        system.issue_job(job(tmp_path, "write_pid", f"pid{i}"))
        assert collect(system, 1)[0].exit_reason is ExitReason.FINISHED
    pids = {int((tmp_path / f"pid{i}").read_text()) for i in range(5)}
    assert len(pids) == 1
    assert psutil.Process(pids.pop()).ppid() == os.getpid()


def test_workers_see_what_the_leader_loaded(
    system: SingleMachineBatchSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_for_tests, "LEADER_STATE", "set in the leader")
    system.issue_job(job(tmp_path, "write_leader_state", "state"))
    assert collect(system, 1)[0].exit_reason is ExitReason.FINISHED
    assert (tmp_path / "state").read_text() == "set in the leader"


def test_sys_exit_ends_the_job_not_the_worker(
    system: SingleMachineBatchSystem, tmp_path: Path
) -> None:
    # each job takes every core: they run one after another, on one worker if it survives
    # (with room for two, "after" could go to whichever worker happened to be free first)
    system.issue_job(job(tmp_path, "write_pid", "before", cores=2.0))
    system.issue_job(job(tmp_path, "sys_exit_4", "exits", cores=2.0))
    system.issue_job(job(tmp_path, "write_pid", "after", cores=2.0))
    updates = {u.job_id: u for u in collect(system, 3)}
    assert (updates["exits"].exit_status, updates["exits"].exit_reason) == (4, ExitReason.FAILED)
    assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text()


def test_a_job_that_fits_starts_before_an_earlier_one_that_does_not(
    system: SingleMachineBatchSystem, tmp_path: Path
) -> None:
    running = system.issue_job(job(tmp_path, "sleep_long", "running", cores=1.0))
    wait_for_file(tmp_path / "running.started")
    big = system.issue_job(job(tmp_path, "touch", "big", cores=2.0))
    small = system.issue_job(job(tmp_path, "touch", "small", cores=1.0))
    [first] = collect(system, 1)
    assert (first.batch_id, first.exit_reason) == (small, ExitReason.FINISHED)
    assert not (tmp_path / "big").exists()
    assert sorted(system.issued_ids()) == sorted([running, big])
    system.kill_jobs([running])
    updates = {u.batch_id: u.exit_reason for u in collect(system, 2)}
    assert updates == {running: ExitReason.KILLED, big: ExitReason.FINISHED}


def test_the_pool_size_is_capped(tmp_path: Path) -> None:
    config = BatchConfig(
        2.0, 8 * GiB, 8 * GiB, str(tmp_path), settings=SingleMachineSettings(max_workers=3)
    )
    system = SingleMachineBatchSystem(config)
    try:
        for i in range(9):
            system.issue_job(job(tmp_path, "record_interval", f"j{i}", cores=0.01))
        assert len(system.running_jobs()) == 3
        assert [u.exit_reason for u in collect(system, 9)] == [ExitReason.FINISHED] * 9
    finally:
        system.shutdown()
    intervals = []
    for i in range(9):
        start, end = (tmp_path / f"j{i}.interval").read_text().split()
        intervals.append((float(start), float(end)))
    assert peak_overlap(intervals) == 3


def test_shutdown_is_idempotent_and_forgets_every_job(
    system: SingleMachineBatchSystem, tmp_path: Path
) -> None:
    before = {p.pid for p in psutil.Process().children()}  # other fixtures' services
    system.issue_job(job(tmp_path, "sleep_long", "long"))
    system.issue_job(job(tmp_path, "touch", "done"))
    wait_for_file(tmp_path / "long.started")
    system.shutdown()
    system.shutdown()
    assert system.running_jobs() == {}
    assert system.issued_ids() == []
    assert system.get_updated_job(0.1) is None
    assert [p for p in psutil.Process().children() if p.pid not in before] == []


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:"):
            found.add(target)
    return found


def test_workers_hold_none_of_the_leaders_pipe_ends(
    system: SingleMachineBatchSystem, tmp_path: Path
) -> None:
    # Were a worker to hold another's leader-side end, that one would not see the leader die.
    # Sockets this test process had before (other tests' connections) are not the pool's.
    before = _socket_inodes(os.getpid())
    for i in range(3):
        system.issue_job(job(tmp_path, "sleep_long", f"w{i}", cores=0.5))
    pids = [int(wait_for_file(tmp_path / f"w{i}.started")) for i in range(3)]
    leader_sockets = _socket_inodes(os.getpid()) - before
    assert len(leader_sockets) >= 3  # one leader-side end per worker
    for pid in pids:
        assert _socket_inodes(pid) & leader_sockets == set()
