"""The core on a real Slurm: the same 200-job graph as on single_machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "scripts" / "graph200.py"


@pytest.mark.slurm
def test_python_api_graph_runs_on_slurm(tmp_path: Path, slurm_cluster: object) -> None:
    store, runs = tmp_path / "store", tmp_path / "runs"
    runs.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(store),
            str(runs),
            "--batchSystem",
            "slurm",
            "--statePollingWait",
            "0.5",
            "--logLevel",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "TOTAL 180" in result.stdout
    assert len(list(runs.iterdir())) == 200


@pytest.mark.slurm
def test_a_job_over_its_memory_is_retried_then_fails_naming_the_cause(
    tmp_path: Path, slurm_cluster: object
) -> None:
    store, runs = tmp_path / "store", tmp_path / "runs"
    runs.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "scripts" / "memhog.py"),
            str(store),
            str(runs),
            "--batchSystem",
            "slurm",
            "--statePollingWait",
            "0.5",
            "--retryCount",
            "2",
            "--logLevel",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode != 0
    assert "exceeding its memory limit of 64 MiB" in result.stderr, result.stderr[-3000:]
    assert len(list(runs.iterdir())) == 3, "the first run and --retryCount 2 retries"
