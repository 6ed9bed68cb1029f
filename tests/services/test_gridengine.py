"""The Grid Engine cell of tests/services/gridengine.py does what the backend will rely on:
jobs run as the fixture's user with their slots and memory, ``qstat``/``qstat -xml``/``qacct``
report them, a job over its ``h_vmem`` is killed and accounted as such, ``qdel`` works, and a
request no queue can hold pends with the scheduler's reason."""

from __future__ import annotations

import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from tests.services import gridengine, users
from tests.services.gridengine import GridEngineCluster
from tests.services.polling import wait_until

pytestmark = pytest.mark.gridengine


def job_dir(cluster: GridEngineCluster, name: str) -> Path:
    return users.user_dir(cluster.work_dir / name, cluster.user)


def script(directory: Path, body: str) -> Path:
    path = directory / "job.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def submit(cluster: GridEngineCluster, directory: Path, *argv: str) -> str:
    done = cluster.run_as_user("qsub", *argv, cwd=directory)
    found = re.search(r"Your job (\d+) ", done.stdout)
    assert found, done.stdout + done.stderr
    return found.group(1)


def accounting(cluster: GridEngineCluster, job_id: str) -> dict[str, str]:
    """``qacct -j`` as key -> value, once the job is in the accounting file."""

    def record() -> dict[str, str] | None:
        done = cluster.run("qacct", "-j", job_id, check=False)
        if done.returncode != 0:
            return None
        pairs = (line.split(None, 1) for line in done.stdout.splitlines()[1:])
        return {p[0]: p[1].strip() if len(p) > 1 else "" for p in pairs if p}

    return wait_until(f"job {job_id} in qacct", record)


def xml_states(cluster: GridEngineCluster) -> dict[str, str]:
    """job id -> state letters, from ``qstat -xml`` (every user's jobs)."""
    done = cluster.run("qstat", "-u", "*", "-xml")
    root = ET.fromstring(done.stdout)
    return {
        job.findtext("JB_job_number", ""): job.findtext("state", "")
        for job in root.iter("job_list")
    }


def test_a_job_runs_as_the_user_with_its_slots_and_memory(
    gridengine_cluster: GridEngineCluster,
) -> None:
    cluster = gridengine_cluster
    directory = job_dir(cluster, "slots")
    job = script(directory, 'echo "$(id -un) $NSLOTS $(ulimit -v)"; echo oops >&2; exit 3\n')
    argv = ("-cwd", "-o", "out.txt", "-e", "err.txt", "-pe", "smp", "2", "-l", "h_vmem=100M")
    job_id = submit(cluster, directory, *argv, str(job))
    record = accounting(cluster, job_id)
    # h_vmem is per slot: 2 x 100M as the job's virtual memory limit (in KiB).
    assert (directory / "out.txt").read_text().split() == [cluster.user, "2", "204800"]
    assert (directory / "err.txt").read_text() == "oops\n"
    assert (directory / "out.txt").stat().st_uid == users.ensure_user(cluster.user).pw_uid
    assert record["exit_status"] == "3"
    assert record["failed"] == "0"
    assert record["slots"] == "2"
    assert record["granted_pe"] == "smp"
    assert record["owner"] == cluster.user
    assert "maxvmem" in record
    assert "h_vmem=100M" in record["category"]


def test_qstat_shows_a_running_job_and_qdel_ends_it(gridengine_cluster: GridEngineCluster) -> None:
    cluster = gridengine_cluster
    directory = job_dir(cluster, "qdel")
    job_id = submit(
        cluster, directory, "-cwd", "-o", "/dev/null", "-j", "y", "-b", "y", "sleep", "300"
    )
    wait_until("the job to run", lambda: xml_states(cluster).get(job_id) == "r")
    assert re.search(
        rf"^\s*{job_id}\s.*\smoiltest\s+r\s", cluster.run("qstat", "-u", "*").stdout, re.MULTILINE
    )
    detail = cluster.run("qstat", "-j", job_id).stdout
    assert re.search(rf"^job_number:\s+{job_id}$", detail, re.MULTILINE)
    deleted = cluster.run_as_user("qdel", job_id)
    assert job_id in deleted.stdout
    wait_until("the job to leave qstat", lambda: job_id not in xml_states(cluster))
    record = accounting(cluster, job_id)
    assert record["exit_status"].split()[0] == "137"  # SIGKILL


def test_a_job_over_its_memory_is_killed_and_accounted(
    gridengine_cluster: GridEngineCluster,
) -> None:
    cluster = gridengine_cluster
    directory = job_dir(cluster, "memory")
    # Two processes of 120 MiB each: each under the 200M ulimit, together over h_vmem, so
    # sge_execd (not a failed malloc) ends the job.
    hold = "python3 -c 'import time; b = bytearray(120 * 2**20); time.sleep(60)' &\n"
    job = script(directory, hold * 2 + "wait\necho survived\n")
    job_id = submit(
        cluster, directory, "-cwd", "-o", "out.txt", "-j", "y", "-l", "h_vmem=200M", str(job)
    )
    record = accounting(cluster, job_id)
    assert record["failed"].startswith("37"), record["failed"]
    assert "h_vmem" in record["failed"]
    assert record["exit_status"].split()[0] == "137"
    assert "survived" not in (directory / "out.txt").read_text()
    value, unit = re.fullmatch(r"([\d.]+)([KMG]?)B?", record["maxvmem"]).groups()  # type: ignore[union-attr]
    assert float(value) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[unit] > 200 * 2**20


def test_more_slots_than_any_queue_pends_with_the_reason(
    gridengine_cluster: GridEngineCluster,
) -> None:
    cluster = gridengine_cluster
    directory = job_dir(cluster, "pending")
    job = script(directory, "true\n")
    refused = cluster.run_as_user(
        "qsub", "-w", "e", "-cwd", "-pe", "smp", "64", str(job), check=False, cwd=directory
    )
    assert refused.returncode != 0
    assert "no suitable queues" in refused.stdout + refused.stderr
    job_id = submit(cluster, directory, "-cwd", "-pe", "smp", "64", str(job))
    try:

        def reason() -> str | None:
            detail = cluster.run("qstat", "-j", job_id).stdout
            found = re.search(r"^scheduling info:\s+(.*)$", detail, re.MULTILINE)
            return found.group(1) if found and "PE" in found.group(1) else None

        assert 'cannot run in PE "smp"' in str(wait_until("a pending reason", reason))
        assert xml_states(cluster)[job_id] == "qw"
    finally:
        cluster.run("qdel", job_id, check=False)


def test_root_cannot_submit(gridengine_cluster: GridEngineCluster) -> None:
    cluster = gridengine_cluster
    job = script(job_dir(cluster, "root"), "true\n")
    done = cluster.run("qsub", "-cwd", str(job), check=False, cwd=job.parent)
    assert done.returncode != 0
    assert "lower than minimum user id 1000" in done.stdout + done.stderr


def test_a_worker_interpreter_runs_in_a_job_and_a_leader_as_the_user(
    gridengine_cluster: GridEngineCluster,
) -> None:
    cluster = gridengine_cluster
    python = str(cluster.user_python())
    directory = job_dir(cluster, "python")
    # A script, not "-b y": Grid Engine joins a binary job's arguments into one shell line.
    job = script(directory, f"exec {python} -c 'import runner, cwltool; print(runner.__name__)'\n")
    job_id = submit(cluster, directory, "-cwd", "-o", "out.txt", "-j", "y", str(job))
    assert accounting(cluster, job_id)["exit_status"] == "0"
    assert (directory / "out.txt").read_text() == "runner\n"
    # The leader as the user: a CWL workflow run by the user's copy of toil-cwl-runner.
    examples = Path(__file__).resolve().parents[2] / "examples" / "workflow"
    runner = Path(python).parent / "toil-cwl-runner"
    env = {**cluster.env, "HOME": str(directory), "TMPDIR": str(directory)}
    done = cluster.run(
        "runuser",
        "-u",
        cluster.user,
        "--",
        "env",
        *[f"{k}={v}" for k, v in env.items() if k in ("HOME", "TMPDIR")],
        str(runner),
        "--outdir",
        str(directory / "out"),
        str(examples / "greet.cwl"),
        str(examples / "greet-job.yaml"),
        check=False,
        cwd=directory,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (directory / "out" / "greetings.txt").stat().st_uid == users.ensure_user(
        cluster.user
    ).pw_uid


@pytest.mark.slow
def test_stop_leaves_no_job_or_daemon(gridengine_cluster: GridEngineCluster) -> None:
    """A second cell beside the session's (the fixture made sure Grid Engine is installed)."""
    base = Path(tempfile.mkdtemp(prefix="moil-sge-stop-", dir="/tmp"))
    cluster = gridengine.start(base, slots=2)
    try:
        directory = job_dir(cluster, "stop")
        job_id = submit(
            cluster, directory, "-cwd", "-o", "/dev/null", "-j", "y", "-b", "y", "sleep", "300"
        )
        wait_until("the job to run", lambda: xml_states(cluster).get(job_id) == "r")
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    wanted = f"SGE_ROOT={cluster.sge_root}"
    left = []
    for process in psutil.process_iter(["pid", "name", "status"]):
        try:
            environ = process.environ()
        except (psutil.Error, OSError):
            continue
        if process.info["status"] != psutil.STATUS_ZOMBIE and environ.get("SGE_ROOT") == str(
            cluster.sge_root
        ):
            left.append((process.info["pid"], process.info["name"]))
    assert left == [], f"processes with {wanted} after stop: {left}"
    assert cluster.run("qstat", check=False).returncode != 0
