"""Fixtures shared by the front ends' tests: their commands as a user runs them, and a job
context over a real file job store for calling executors directly."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backends.jobstore.file import FileJobStore
from runner.config.runconfig import RunConfig
from runner.jobenv.filestore import FileStore
from runner.model.graph import JobNode

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    """How a command ended: its exit code and output."""

    code: int
    stdout: str
    stderr: str

    @property
    def outputs(self) -> Any:
        return json.loads(self.stdout)


RunCommand = Callable[..., Result]


def command_runner(tmp_path: Path, module: str, *prefix: str) -> RunCommand:
    """A function that runs ``python -m MODULE PREFIX ARGS`` in ``tmp_path`` (or ``cwd``),
    a real process, and returns its Result."""

    def run(*args: str, cwd: Path | None = None) -> Result:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.run(
            [sys.executable, "-m", module, *prefix, *args],
            check=False,
            cwd=cwd or tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def run_cwl(tmp_path: Path) -> RunCommand:
    """Run ``toil-cwl-runner ARGS`` in ``tmp_path``."""
    return command_runner(tmp_path, "languages.cwl.cli")


@pytest.fixture
def run_wdl(tmp_path: Path) -> RunCommand:
    """Run ``toil-wdl-runner --logLevel WARNING ARGS`` in ``tmp_path``."""
    return command_runner(tmp_path, "languages.wdl.cli", "--logLevel", "WARNING")


@dataclass
class FakeContext:
    """A job context as the core gives one to an executor; keeps the nodes a job adds."""

    file_store: FileStore
    job_id: str = "0" * 32
    name: str = "test"
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("test.job"))
    config: RunConfig = field(default_factory=RunConfig)
    children: list[JobNode] = field(default_factory=list)

    def add_child(self, node: JobNode) -> JobNode:
        self.children.append(node)
        return node

    def add_followon(self, node: JobNode) -> JobNode:
        self.children.append(node)
        return node


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileJobStore]:
    job_store = FileJobStore(f"file:{tmp_path / 'store'}", str(tmp_path / "store"))
    job_store.create()
    yield job_store
    job_store.destroy()


@pytest.fixture
def ctx(tmp_path: Path, store: FileJobStore) -> FakeContext:
    temp = tmp_path / "job-temp"
    temp.mkdir()
    config = RunConfig(job_store=str(tmp_path / "store"))
    return FakeContext(FileStore(store, str(temp)), config=config)
