"""The ``inline`` batch system with the ``memory:`` store: the whole engine in one process.

The batch-system contract suite runs over ``inline`` too (tests/backends/test_batch_contract.py,
with the hooks ``capabilities.isolated=False`` states); here the engine itself: Toil's hello
example as a user runs it, and a workflow run from the test's own process whose jobs say
which process ran them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psutil
import pytest

from runner import Job, Toil
from runner.errors import WorkflowFailed
from tests.runner.test_doc_examples import run_example


def test_helloworld_runs_with_the_memory_store_and_inline(tmp_path: Path) -> None:
    result = run_example("tutorial_helloworld", tmp_path, "--batchSystem", "inline", "memory:x")
    assert result.stdout == "Hello, world!, here's a message: You did it!\n"
    assert "without writing a result" not in result.stderr


def whose_process(job: Any, depth: int) -> Any:
    """This process's ID, and (``depth`` times) a child's, as promises are resolved."""
    if depth == 0:
        return [os.getpid()]
    child = job.addChildJobFn(whose_process, depth - 1, cores=0.1, memory="16M", disk="16M")
    return job.addFollowOnJobFn(prepend, os.getpid(), child.rv()).rv()


def prepend(job: Any, pid: int, pids: list[int]) -> list[int]:
    return [pid, *pids]


def failing(job: Any) -> None:
    raise ValueError("this job fails on purpose")


def options(tmp_path: Path, name: str) -> Any:
    made = Job.Runner.getDefaultOptions(f"memory:{name}-{os.getpid()}")
    made.batchSystem = "inline"
    made.workDir = str(tmp_path)
    made.clean = "always"
    return made


def test_every_job_runs_in_the_leaders_process(tmp_path: Path) -> None:
    children_before = psutil.Process().children(recursive=True)
    with Toil(options(tmp_path, "pids")) as toil:
        pids = toil.start(Job.wrapJobFn(whose_process, 3, cores=0.1, memory="16M", disk="16M"))
    # 4 jobs down, then 3 follow-ons: each reports this process, and none forked a worker
    assert pids == [os.getpid()] * 4
    assert psutil.Process().children(recursive=True) == children_before


def test_a_failing_job_fails_the_run_with_its_own_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    made = options(tmp_path, "fails")
    made.retryCount = 0
    with pytest.raises(WorkflowFailed) as failed, Toil(made) as toil:
        toil.start(Job.wrapJobFn(failing, cores=0.1, memory="16M", disk="16M"))
    assert "failing" in str(failed.value)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("ValueError: this job fails on purpose" in line for line in errors), errors
