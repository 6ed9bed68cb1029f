"""Fixtures of the hostile-document tests: the runners as a user runs them, and sentinel
files outside the run's directories that no run may read into its outputs or change."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.languages.conftest import RunCommand, command_runner


@pytest.fixture
def run_cwl(tmp_path: Path) -> RunCommand:
    """Run ``toil-cwl-runner ARGS`` in ``tmp_path/run``."""
    work = tmp_path / "run"
    work.mkdir()
    return command_runner(work, "languages.cwl.cli")


@dataclass
class Sentinels:
    """A directory outside the run (``tmp_path/victim``) with files in it, and their state
    when the test began."""

    root: Path
    before: dict[str, str]

    def state(self) -> dict[str, str]:
        """Every entry below ``root``: relative path -> sha1 of its bytes ('dir' for a
        directory, 'link:TARGET' for a symlink)."""
        found: dict[str, str] = {}
        for top, dirs, files in os.walk(self.root):
            for name in dirs + files:
                path = Path(top, name)
                rel = str(path.relative_to(self.root))
                if path.is_symlink():
                    found[rel] = "link:" + os.readlink(path)
                elif path.is_dir():
                    found[rel] = "dir"
                else:
                    found[rel] = hashlib.sha1(path.read_bytes()).hexdigest()
        return found

    def assert_untouched(self) -> None:
        assert self.state() == self.before, "a file outside the run was created or changed"


SECRET_TEXT = "sentinel-3f1c9a: this text lives outside the run\n"


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[Sentinels]:
    """``tmp_path/victim`` with a file and a directory; checked unchanged after the test."""
    root = tmp_path / "victim"
    (root / "dir").mkdir(parents=True)
    (root / "keep.txt").write_text(SECRET_TEXT)
    (root / "dir" / "inner.txt").write_text(SECRET_TEXT)
    watched = Sentinels(root, {})
    watched.before = watched.state()
    yield watched
    watched.assert_untouched()
