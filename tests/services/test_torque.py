"""Slurm's PBS wrappers (tests/services/torque.py) over the real Slurm: what a ``torque``
backend can rely on here, and the gaps its module docstring lists."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.services.gridengine import GridEngineCluster
from tests.services.polling import wait_until
from tests.services.torque import TorqueCluster

pytestmark = [pytest.mark.slurm, pytest.mark.torque]

REQUEST = "nodes=1:ppn=2,mem=100mb,walltime=00:10:00"


def state(pbs: TorqueCluster, job_id: str) -> str | None:
    """``job_state`` from ``qstat -f`` (None once Slurm forgot the job)."""
    done = pbs.run("qstat", "-f", job_id, check=False)
    found = re.search(r"^\s*job_state = (\w)", done.stdout, re.MULTILINE)
    return found.group(1) if found else None


def submit(pbs: TorqueCluster, directory: Path, body: str, *options: str) -> str:
    script = directory / "job.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    done = pbs.run("qsub", *options, str(script), cwd=directory)
    assert re.fullmatch(r"\d+\n", done.stdout), done.stdout + done.stderr  # a bare Slurm id
    return done.stdout.strip()


def test_qsub_maps_nodes_ppn_mem_walltime_onto_sbatch(torque_cluster: TorqueCluster) -> None:
    done = torque_cluster.run("qsub", "-sbatchline", "-l", REQUEST, "job.sh")
    assert " -N1 -n2 -t10 --mem=100M job.sh" in done.stdout


def test_a_job_runs_with_its_resources_and_qstat_f_describes_it(
    torque_cluster: TorqueCluster, tmp_path: Path
) -> None:
    body = 'echo "cpus=$SLURM_CPUS_ON_NODE mem=$SLURM_MEM_PER_NODE pbs=${PBS_JOBID:-none}"\n'
    job_id = submit(torque_cluster, tmp_path, body + "exit 3\n", "-l", REQUEST, "-N", "sized")
    wait_until("the job to finish", lambda: state(torque_cluster, job_id) == "C")
    output = (tmp_path / f"sized.o{job_id}").read_text()
    assert output == "cpus=2 mem=100 pbs=none\n"
    detail = torque_cluster.run("qstat", "-f", job_id).stdout
    assert re.search(rf"^Job Id:\s+{job_id}$", detail, re.MULTILINE)
    assert "Job_Name = sized" in detail
    assert "Resource_List.walltime = 00:10:00" in detail
    assert "Resource_List.ncpus = 2" in detail
    # The documented gap: a failed job (exit 3) is "C" with no exit status at all.
    assert "exit_status" not in detail.lower()
    listed = torque_cluster.run("qstat", job_id).stdout
    assert re.search(rf"^{job_id}\s+sized\s+root\s+\S+\s+C\s+debug", listed, re.MULTILINE)


def test_qstat_shows_a_running_job_and_qdel_ends_it(
    torque_cluster: TorqueCluster, tmp_path: Path
) -> None:
    job_id = submit(torque_cluster, tmp_path, "sleep 300\n", "-l", REQUEST)
    wait_until("the job to run", lambda: state(torque_cluster, job_id) == "R")
    assert torque_cluster.run("qdel", job_id).returncode == 0
    wait_until("the job to end", lambda: state(torque_cluster, job_id) == "C")
    # squeue may show it completing (CG) a moment longer.
    wait_until("Slurm to let go", lambda: job_id not in torque_cluster.slurm.queued_job_ids())


def test_what_the_wrappers_refuse(torque_cluster: TorqueCluster) -> None:
    history = torque_cluster.run("qstat", "-x", "1", check=False)
    assert history.returncode == 2
    assert "Unknown option: x" in history.stderr
    version = torque_cluster.run("pbsnodes", "--version", check=False)
    assert version.returncode != 0
    unknown = torque_cluster.run("qstat", "-f", "999999", check=False)
    assert (unknown.returncode, unknown.stdout) == (153, "")


def test_torque_and_grid_engine_commands_coexist(
    torque_cluster: TorqueCluster, gridengine_cluster: GridEngineCluster
) -> None:
    pbs_qsub = shutil.which("qsub", path=torque_cluster.env["PATH"])
    sge_qsub = shutil.which("qsub", path=gridengine_cluster.env["PATH"])
    assert pbs_qsub == str(torque_cluster.bin_dir / "qsub")
    assert sge_qsub == str(gridengine_cluster.bin_dir / "qsub")
    assert "resource_list" in torque_cluster.run("qsub", "--help", check=False).stdout
    sge_help = gridengine_cluster.run("qsub", "-help", check=False)
    assert sge_help.stdout.startswith("SGE 8.1.9")
