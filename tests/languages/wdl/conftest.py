"""Fixtures of the WDL front end's tests: the command as a user runs it, and a job context
over a real file job store for calling executors directly."""

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
from runner.filestore import FileStore
from runner.graph import JobNode
from runner.options import default_options

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def outputs(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def run_wdl(tmp_path: Path) -> Callable[..., Result]:
    """Run ``toil-wdl-runner ARGS`` in ``tmp_path`` (a real process); its exit code and
    output."""

    def run(*args: str, cwd: Path | None = None) -> Result:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.run(
            [sys.executable, "-m", "languages.wdl.cli", "--logLevel", "WARNING", *args],
            cwd=cwd or tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@dataclass
class FakeContext:
    """A job context over a real file job store that keeps the nodes a job adds."""

    file_store: FileStore
    job_id: str = "test-job"
    name: str = "test"
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("test.wdl"))
    options: Any = field(default_factory=default_options)
    children: list[JobNode] = field(default_factory=list)

    def add_child(self, node: JobNode) -> JobNode:
        self.children.append(node)
        return node

    def add_followon(self, node: JobNode) -> JobNode:
        self.children.append(node)
        return node


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileJobStore]:
    js = FileJobStore(f"file:{tmp_path / 'store'}", str(tmp_path / "store"))
    js.create()
    yield js
    js.destroy()


@pytest.fixture
def ctx(store: FileJobStore, tmp_path: Path) -> FakeContext:
    temp = tmp_path / "jobtmp"
    temp.mkdir()
    return FakeContext(FileStore(store, str(temp)))
