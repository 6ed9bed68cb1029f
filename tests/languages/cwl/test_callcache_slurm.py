"""The call cache across runs on a real Slurm (the ``slurm_cluster`` fixture): a second run
with the same cache issues nothing to Slurm."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.languages.conftest import REPO
from tests.languages.cwl.test_callcache import executions, make_workflow
from tests.services.slurm import SlurmCluster

pytestmark = pytest.mark.slurm


def test_second_run_on_slurm_reuses_everything(tmp_path: Path, slurm_cluster: SlurmCluster) -> None:
    make_workflow(tmp_path)
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(REPO))
    argv = [
        sys.executable,
        "-m",
        "languages.cwl.cli",
        "--batchSystem",
        "slurm",
        "--statePollingWait",
        "0.2",
        "--cachedir",
        str(tmp_path / "cache"),
        "--no-container",
    ]
    runs = []
    for outdir in ("o1", "o2"):
        done = subprocess.run(
            [*argv, "--outdir", outdir, "wf.cwl", "job.json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        runs.append(done.stderr)
        assert (tmp_path / outdir / "count.txt").read_text().strip() == "6"
    assert "call cache: 0 job(s) reused, 5 run" in runs[0]
    assert "sbatch" in runs[0]
    assert "call cache: 5 job(s) reused, 0 run" in runs[1]
    assert "sbatch" not in runs[1]  # nothing reached Slurm
    assert executions(tmp_path) == {"first": 1, "second": 1, "each": 3}
    assert slurm_cluster.queued_job_ids() == []
