"""The exit code a failed job's error calls for reaches the run's WorkflowFailed by type,
not by its text (the CWL runner exits 33 on UnsupportedRequirement's code; issue 13).
The engine runs in this process (``memory:`` store, ``inline`` batch system)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from runner import Job, Toil
from runner.errors import UnsupportedRequirement, WorkflowFailed


def needs_what_is_missing(job: Any) -> None:
    raise UnsupportedRequirement("this job needs a GPU this machine does not have")


def says_unsupported(job: Any) -> None:
    raise ValueError("UnsupportedRequirement is only a word in this message")


def run_failing(tmp_path: Path, function: Any) -> WorkflowFailed:
    options = Job.Runner.getDefaultOptions(f"memory:codes-{function.__name__}-{os.getpid()}")
    options.batchSystem, options.workDir, options.clean = "inline", str(tmp_path), "always"
    options.retryCount = 0
    with pytest.raises(WorkflowFailed) as failed, Toil(options) as toil:
        toil.start(Job.wrapJobFn(function, cores=0.1, memory="16M", disk="16M"))
    return failed.value


def test_an_unsupported_requirement_carries_exit_33(tmp_path: Path) -> None:
    failed = run_failing(tmp_path, needs_what_is_missing)
    assert failed.job_exit_codes == frozenset({33})
    assert "needs a GPU" in failed.full()


def test_the_word_in_a_message_is_not_the_error(tmp_path: Path) -> None:
    failed = run_failing(tmp_path, says_unsupported)
    assert failed.job_exit_codes == frozenset({1})
    assert "UnsupportedRequirement is only a word" in failed.full()
