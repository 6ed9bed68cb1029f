"""``toil-wdl-runner``: options before, between and after the positional arguments, as
Toil takes them (issue 22 item 1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runner.commands import HELLO_WDL

RunWdl = Callable[..., Any]


@pytest.mark.parametrize(
    "args",
    [
        ["hello.wdl", "inputs.json", "--outputDirectory", "out"],
        ["hello.wdl", "inputs.json", "-o", "out"],
        ["hello.wdl", "-o", "out", "inputs.json"],
        ["-o", "out", "hello.wdl", "inputs.json", "--container", "none"],
        ["hello.wdl", "inputs.json", "-o", "out", "-m", "result.json"],
    ],
    ids=["long-after", "short-after", "between", "before-and-after", "two-after"],
)
def test_options_anywhere(run_wdl: RunWdl, tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "hello.wdl").write_text(HELLO_WDL)
    (tmp_path / "inputs.json").write_text(json.dumps({"hello.name": "you"}))
    result = run_wdl(*args)
    assert result.code == 0, result.stderr
    outputs = json.loads((tmp_path / "result.json").read_text()) if "-m" in args else result.outputs
    path = Path(outputs["hello.out"])
    assert path.parent == tmp_path / "out"
    assert path.read_text() == "hello you\n"
