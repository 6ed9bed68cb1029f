"""moil's LSF stand-in (tests/services/lsf.py; not IBM Spectrum LSF) keeps LSF's documented
command surface and really runs the jobs: the formats an ``lsf`` backend parses (as Toil's
does), the memory limit, ``bkill``, pending reasons, and jobs run as their submitter."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.services import lsf, users
from tests.services.lsf import LsfCluster
from tests.services.polling import wait_until

pytestmark = pytest.mark.lsf

SUBMITTED = re.compile(r"^Job <(\d+)> is submitted to default queue <normal>\.$")


def submit(cluster: LsfCluster, cwd: Path, *argv: str, stdin: str | None = None) -> str:
    done = cluster.run("bsub", *argv, cwd=cwd, input=stdin)
    found = SUBMITTED.match(done.stdout.strip())
    assert found, done.stdout + done.stderr
    return found.group(1)


def record(cluster: LsfCluster, job_id: str) -> dict[str, Any]:
    """``bjobs -o ... -json`` for one job."""
    fields = "jobid stat user exit_code exit_reason pend_reason max_mem slots"
    done = cluster.run("bjobs", "-o", fields, "-json", job_id)
    data = json.loads(done.stdout)
    assert data["COMMAND"] == "bjobs" and data["JOBS"] == 1
    found: dict[str, Any] = data["RECORDS"][0]
    return found


def ended(cluster: LsfCluster, job_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        found = record(cluster, job_id)
        return found if found["STAT"] in ("DONE", "EXIT") else None

    return wait_until(f"job {job_id} to end", finished)


def test_bsub_runs_a_job_with_its_slots_and_bjobs_reports_it(
    lsf_cluster: LsfCluster, tmp_path: Path
) -> None:
    script = 'echo "slots=$LSB_DJOB_NUMPROC id=$LSB_JOBID"; echo oops >&2; exit 3'
    request = ("-n", "2", "-R", "select[mem>100] rusage[mem=100] span[hosts=1]", "-M", "100")
    job_id = submit(
        lsf_cluster,
        tmp_path,
        *request,
        "-W",
        "10",
        "-J",
        "sized",
        "-o",
        "out.%J",
        "-e",
        "err.%J",
        script,
    )
    found = ended(lsf_cluster, job_id)
    assert (found["STAT"], found["EXIT_CODE"], found["EXIT_REASON"]) == ("EXIT", "3", "")
    assert (found["SLOTS"], found["USER"]) == ("2", "root")
    output = (tmp_path / f"out.{job_id}").read_text()
    assert output.startswith(f"slots=2 id={job_id}\n")
    assert "Exited with exit code 3." in output  # LSF's job report, after the output
    assert (tmp_path / f"err.{job_id}").read_text() == "oops\n"
    line = lsf_cluster.run(
        "bjobs", "-noheader", "-o", "jobid stat exit_code delimiter='|'", job_id
    ).stdout
    assert line == f"{job_id}|EXIT|3\n"
    long = lsf_cluster.run("bjobs", "-l", job_id).stdout
    assert f"Job <{job_id}>, Job Name <sized>" in long and "Status <EXIT>" in long
    assert "Exited with exit code 3." in long
    assert re.search(r"MAX MEM: \d+ Mbytes;", long)


def test_a_successful_job_is_done_with_an_empty_exit_code(
    lsf_cluster: LsfCluster, tmp_path: Path
) -> None:
    job_id = submit(lsf_cluster, tmp_path, "-o", "out.txt", "true")
    found = ended(lsf_cluster, job_id)
    assert (found["STAT"], found["EXIT_CODE"]) == ("DONE", "")
    listed = lsf_cluster.run("bjobs", "-a").stdout.splitlines()
    assert listed[0].split() == [
        "JOBID",
        "USER",
        "STAT",
        "QUEUE",
        "FROM_HOST",
        "EXEC_HOST",
        "JOB_NAME",
        "SUBMIT_TIME",
    ]
    assert any(row.split()[:3] == [job_id, "root", "DONE"] for row in listed[1:])
    history = lsf_cluster.run("bhist", "-l", job_id).stdout
    assert "Done successfully." in history


def test_a_job_over_its_memory_limit_is_killed_with_term_memlimit(
    lsf_cluster: LsfCluster, tmp_path: Path
) -> None:
    (tmp_path / "hog.py").write_text(
        "import time\nb = bytearray(300 * 2**20)\nb[::4096] = b'x' * len(b[::4096])\n"
        "time.sleep(60)\n"
    )
    job_id = submit(lsf_cluster, tmp_path, "-M", "100", "-o", "out.txt", "python3 hog.py")
    found = ended(lsf_cluster, job_id)
    assert found["STAT"] == "EXIT"
    assert found["EXIT_REASON"] == "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit"
    assert found["EXIT_CODE"] == "130"  # SIGINT came first; Python exits 130 on it
    assert int(found["MAX_MEM"].split()[0]) > 100


def test_bkill_ends_running_and_pending_jobs(lsf_cluster: LsfCluster, tmp_path: Path) -> None:
    running = submit(lsf_cluster, tmp_path, "sleep", "300")
    too_wide = submit(lsf_cluster, tmp_path, "-n", "64", "true")
    too_big = submit(lsf_cluster, tmp_path, "-R", "rusage[mem=99999999]", "true")
    wait_until("the job to run", lambda: record(lsf_cluster, running)["STAT"] == "RUN")
    assert record(lsf_cluster, too_wide)["PEND_REASON"] == "Not enough job slot(s): 1 host;"
    assert record(lsf_cluster, too_big)["PEND_REASON"].startswith(
        "Job requirements for reserving resource (mem) not satisfied"
    )
    done = lsf_cluster.run("bkill", running, too_wide, too_big)
    assert done.stdout.splitlines() == [
        f"Job <{i}> is being terminated" for i in (running, too_wide, too_big)
    ]
    killed = ended(lsf_cluster, running)
    assert (killed["EXIT_REASON"], killed["EXIT_CODE"]) == (
        "TERM_OWNER: job killed by owner",
        "130",
    )
    assert ended(lsf_cluster, too_wide)["EXIT_CODE"] == ""
    again = lsf_cluster.run("bkill", running, check=False)
    assert again.returncode == 255 and "Job has already finished" in again.stderr


def test_unknown_jobs(lsf_cluster: LsfCluster) -> None:
    listed = lsf_cluster.run("bjobs", "999999", check=False)
    assert (listed.returncode, listed.stderr.strip()) == (255, "Job <999999> is not found")
    killed = lsf_cluster.run("bkill", "999999", check=False)
    assert (killed.returncode, killed.stderr.strip()) == (
        255,
        "Job <999999>: No matching job found",
    )


def test_a_script_on_stdin_with_bsub_directives(lsf_cluster: LsfCluster, tmp_path: Path) -> None:
    script = "#!/bin/sh\n#BSUB -J from_script\n#BSUB -o script.out\necho $LSB_JOBNAME\n"
    job_id = submit(lsf_cluster, tmp_path, stdin=script)
    assert ended(lsf_cluster, job_id)["STAT"] == "DONE"
    assert (tmp_path / "script.out").read_text().startswith("from_script\n")


def test_lsid_says_it_is_a_stand_in_yet_parses_as_a_json_capable_version(
    lsf_cluster: LsfCluster,
) -> None:
    out = lsf_cluster.run("lsid").stdout
    assert "not IBM Spectrum LSF" in out
    # What Toil's lsfHelper reads to decide that bjobs -json exists (>= 10.1.0.2).
    assert re.search("IBM Spectrum LSF Standard (.*),", out).group(1) == "10.1.0.13"  # type: ignore[union-attr]
    assert "LSF_UNIT_FOR_LIMITS = MB" in lsf_cluster.run("lsadmin", "showconf", "lim").stdout


def test_jobs_run_as_their_submitter(lsf_cluster: LsfCluster) -> None:
    user = users.ensure_user().pw_name
    directory = users.user_dir(Path(tempfile.mkdtemp(prefix="moil-lsf-user-", dir="/tmp")), user)
    try:
        done = lsf_cluster.run(
            "runuser", "-u", user, "--", "bsub", "-o", "who.txt", "id -un", cwd=directory
        )
        job_id = SUBMITTED.match(done.stdout.strip()).group(1)  # type: ignore[union-attr]
        found = ended(lsf_cluster, job_id)
        assert (found["STAT"], found["USER"]) == ("DONE", user)
        assert (directory / "who.txt").read_text().startswith(f"{user}\n")
        assert (directory / "who.txt").stat().st_uid == users.ensure_user().pw_uid
    finally:
        shutil.rmtree(directory)


def test_stop_kills_the_jobs_and_the_daemon(lsf_cluster: LsfCluster, tmp_path: Path) -> None:
    """A second stand-in beside the session's."""
    cluster = lsf.start(tmp_path / "lsf", slots=2)
    try:
        job_id = submit(cluster, tmp_path, "sleep", "300")
        wait_until("the job to run", lambda: record(cluster, job_id)["STAT"] == "RUN")
        pid = json.loads((tmp_path / "lsf" / "state" / "jobs" / f"{job_id}.json").read_text())[
            "pid"
        ]
    finally:
        cluster.stop()
    assert not psutil.pid_exists(pid)
    assert "LSF is down" in cluster.run("bsub", "true", check=False).stderr
