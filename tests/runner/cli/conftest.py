"""Fixtures for the `toil` utility tests: real workflow runs in subprocesses, and the `toil`
command run the way a user runs it (a new process)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "visible.py"


def toil_command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``toil ARGS...`` in a new process (stdout, stderr captured as text)."""
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.toil_cmd", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def status_json(store: Path) -> dict[str, Any]:
    result = toil_command("status", "--json", str(store))
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def workflow_argv(store: Path, work: Path, mode: str, *extra: str) -> list[str]:
    return [sys.executable, str(SCRIPT), str(store), str(work), mode, "--logLevel", "INFO", *extra]


def run_workflow(
    store: Path, work: Path, mode: str, *extra: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``visible.py`` (see its docstring) to the end."""
    return subprocess.run(
        workflow_argv(store, work, mode, *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_workflow(store: Path, work: Path, mode: str, *extra: str) -> subprocess.Popen[str]:
    """Start ``visible.py`` in the background."""
    return subprocess.Popen(
        workflow_argv(store, work, mode, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def executions(work: Path) -> dict[str, int]:
    """How many times each job ID ran (from the files jobs leave in WORK/runs)."""
    counts: dict[str, int] = {}
    runs = work / "runs"
    for name in (p.name for p in runs.iterdir()) if runs.exists() else ():
        job_id = name.split(".")[0]
        counts[job_id] = counts.get(job_id, 0) + 1
    return counts


def journal(store: Path) -> list[bytes]:
    """Every record of the store's journal, read through the job store API."""
    from backends.jobstore.base import open_job_store

    job_store = open_job_store(f"file:{store}")
    job_store.open()
    return list(job_store.read_records())


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Poll ``predicate`` until it returns something true (returned); fail after
    ``timeout`` seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Helpers:
    """The helpers above, handed to tests by the ``cli`` fixture (test modules cannot
    import conftest under --import-mode=importlib)."""

    toil = staticmethod(toil_command)
    status_json = staticmethod(status_json)
    run = staticmethod(run_workflow)
    start = staticmethod(start_workflow)
    executions = staticmethod(executions)
    journal = staticmethod(journal)
    wait_for = staticmethod(wait_for)


@pytest.fixture(scope="session")
def cli() -> Helpers:
    return Helpers()
