"""The HTCondor pool of tests/services/htcondor.py does what an ``htcondor`` backend will rely
on: jobs submitted through the host's wrappers run as the pool's user on shared paths, their
exit code is in ``condor_history -json``, ``condor_q -json`` and ``condor_rm`` work, and
``request_memory`` is honoured (too large never matches; exceeded is held)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.services import htcondor, users
from tests.services.htcondor import HTCondorPool
from tests.services.polling import wait_until

pytestmark = pytest.mark.htcondor


def job_dir(pool: HTCondorPool, name: str) -> Path:
    return users.user_dir(pool.work_dir / name, pool.user)


def submit(pool: HTCondorPool, directory: Path, **description: str) -> str:
    """``condor_submit`` through the host's wrapper, from ``directory``; the cluster id."""
    lines = [f"{key} = {value}" for key, value in description.items()]
    lines += ["should_transfer_files = NO", f"log = {directory}/job.log", "queue"]
    (directory / "job.sub").write_text("\n".join(lines) + "\n")
    done = pool_run(pool, directory, "condor_submit", "-terse", "job.sub")
    return done.split(".")[0].strip()


def pool_run(pool: HTCondorPool, directory: Path, *argv: str) -> str:
    done = subprocess.run(
        argv, env=pool.env, cwd=directory, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ads(pool: HTCondorPool, command: str, cluster: str) -> list[dict[str, Any]]:
    """``condor_q``/``condor_history -json`` for one cluster (an empty list if none)."""
    out = pool_run(pool, pool.work_dir, command, "-json", cluster)
    return json.loads(out) if out.strip() else []


def finished(pool: HTCondorPool, cluster: str) -> dict[str, Any]:
    found = wait_until(
        f"job {cluster} in condor_history", lambda: ads(pool, "condor_history", cluster)
    )
    return found[0]


def test_a_job_runs_as_the_user_and_its_exit_code_is_in_history(
    htcondor_pool: HTCondorPool,
) -> None:
    pool = htcondor_pool
    directory = job_dir(pool, "exit")
    script = directory / "job.sh"
    script.write_text('#!/bin/sh\necho "$(id -un) $(pwd)"\nexit 7\n')
    script.chmod(0o755)
    cluster = submit(
        pool,
        directory,
        executable=str(script),
        output=f"{directory}/out.txt",
        error=f"{directory}/err.txt",
        request_cpus="2",
        request_memory="100MB",
        initialdir=str(directory),
    )
    ad = finished(pool, cluster)
    assert (ad["ExitCode"], ad["JobStatus"], ad["Owner"]) == (7, 4, pool.user)
    assert (ad["RequestCpus"], ad["RequestMemory"]) == (2, 100)
    assert (directory / "out.txt").read_text() == f"{pool.user} {directory}\n"
    assert (directory / "out.txt").stat().st_uid == users.ensure_user(pool.user).pw_uid


def test_condor_q_shows_a_running_job_and_condor_rm_ends_it(htcondor_pool: HTCondorPool) -> None:
    pool = htcondor_pool
    directory = job_dir(pool, "rm")
    cluster = submit(pool, directory, executable="/bin/sleep", arguments="300")

    def status() -> int | None:
        found = ads(pool, "condor_q", cluster)
        return found[0]["JobStatus"] if found else None

    wait_until("the job to run", lambda: status() == 2)
    pool_run(pool, directory, "condor_rm", cluster)
    ad = finished(pool, cluster)
    assert ad["JobStatus"] == 3  # removed
    assert "condor_rm" in ad["RemoveReason"]


def test_request_memory_is_honoured(htcondor_pool: HTCondorPool) -> None:
    pool = htcondor_pool
    directory = job_dir(pool, "memory")
    too_big = submit(
        pool, directory, executable="/bin/true", request_memory=f"{pool.memory_mib * 2}MB"
    )
    hog = directory / "hog.py"
    hog.write_text(
        "import time\nb = bytearray(300 * 2**20)\nb[::4096] = b'x' * len(b[::4096])\n"
        "time.sleep(60)\n"
    )
    greedy = submit(
        pool, directory, executable="/usr/bin/python3", arguments=str(hog), request_memory="100MB"
    )
    try:

        def held() -> dict[str, Any] | None:
            found = ads(pool, "condor_q", greedy)
            return found[0] if found and found[0]["JobStatus"] == 5 else None

        ad = wait_until("the greedy job to be held", held)
        assert ad["HoldReasonCode"] == 21
        assert "memory usage exceeded request_memory" in ad["HoldReason"]
        # Meanwhile the job larger than the machine never matched.
        assert ads(pool, "condor_q", too_big)[0]["JobStatus"] == 1
        analysis = pool_run(pool, directory, "condor_q", "-better-analyze", too_big)
        assert "TARGET.Memory >= RequestMemory" in analysis
    finally:
        pool_run(pool, directory, "condor_rm", too_big, greedy)


def test_a_moil_worker_interpreter_runs_in_a_job(htcondor_pool: HTCondorPool) -> None:
    pool = htcondor_pool
    directory = job_dir(pool, "python")
    cluster = submit(
        pool,
        directory,
        executable=sys.executable,
        arguments="\"-c 'import runner, cwltool; print(runner.__file__)'\"",
        output=f"{directory}/out.txt",
        error=f"{directory}/err.txt",
    )
    ad = finished(pool, cluster)
    assert ad["ExitCode"] == 0, (directory / "err.txt").read_text()
    project = Path(htcondor.__file__).resolve().parents[2]
    assert (directory / "out.txt").read_text() == f"{project / 'runner' / '__init__.py'}\n"


def test_root_cannot_submit(htcondor_pool: HTCondorPool) -> None:
    pool = htcondor_pool
    directory = job_dir(pool, "root")
    (directory / "job.sub").write_text("executable = /bin/true\nqueue\n")
    done = pool.run("condor_submit", "job.sub", cwd=directory, check=False)
    assert done.returncode != 0
    assert "Cannot allocate a cluster id" in done.stdout + done.stderr


@pytest.mark.slow
def test_stop_leaves_no_process_or_mount(htcondor_pool: HTCondorPool) -> None:
    """A second pool beside the session's (whose fixture built the chroot)."""
    base = Path(tempfile.mkdtemp(prefix="moil-condor-stop-", dir="/tmp"))
    pool = htcondor.start(base, cpus=2)
    try:
        cluster = submit(pool, job_dir(pool, "stop"), executable="/bin/sleep", arguments="300")
        wait_until("the job to run", lambda: ads(pool, "condor_q", cluster)[0]["JobStatus"] == 2)
    finally:
        pool.stop()
    mounts = [line for line in Path("/proc/mounts").read_text().splitlines() if str(base) in line]
    assert mounts == []
    assert htcondor.processes_in(pool.root) == []
    shutil.rmtree(base)
