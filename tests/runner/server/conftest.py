"""A real ``toil server`` for the tests of this folder (see tests/services/wes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.wes import WesServer


@pytest.fixture(scope="module")
def wes_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WesServer]:
    """One server for a test module: 2 runs at once, inputs readable from its ``inputs``
    directory (``server.work / "inputs"``)."""
    work = tmp_path_factory.mktemp("wes")
    (work / "inputs").mkdir()
    server = WesServer(work, args=["--workers", "2", "--local_inputs", str(work / "inputs")])
    server.start()
    yield server
    server.stop()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
