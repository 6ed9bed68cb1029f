"""Helpers for tests that compare toil-cwl-runner with cwltool, the reference runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CWLTOOL = Path(sys.executable).parent / "cwltool"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run_cwltool(tmp_path: Path, *args: str) -> dict[str, Any]:
    """The output object cwltool prints for ``cwltool --outdir ... ARGS`` in ``tmp_path``."""
    proc = subprocess.run(
        [str(CWLTOOL), "--outdir", str(tmp_path / "cwltool-out"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def comparable(value: Any, *dropped: str) -> Any:
    """An output object without what depends on the output directory (nor ``dropped``)."""
    drop = ("location", "path", *dropped)
    if isinstance(value, dict):
        return {k: comparable(v, *dropped) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [comparable(v, *dropped) for v in value]
    return value
