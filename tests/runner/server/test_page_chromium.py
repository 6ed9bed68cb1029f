"""The web page in a real browser: Debian's Chromium driven by Playwright (npm's
``playwright-core``, installed into the tools cache; it downloads no browser) opens ``/``,
sees a run go from QUEUED to COMPLETE without a reload, opens the run's page and finds its
job timeline. The screenshot is kept as a test artifact (``$MOIL_TEST_ARTIFACTS``, default
``test-artifacts/`` in the checkout).

The run waits QUEUED behind another (the server runs one at a time) until the page has
shown it queued; then the first run is let go.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.runner.cli.test_report_chromium import (
    chromium,  # noqa: F401 (a fixture)
    read_png,
)
from tests.services import toolcache
from tests.services.wes import ROOT, WesServer, submit

pytestmark = pytest.mark.wes

GATED = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, 'while [ ! -e "$0" ]; do sleep 0.1; done']
inputs: {go: {type: string, inputBinding: {position: 1}}}
outputs: []
"""
SCATTER = """\
cwlVersion: v1.2
class: Workflow
requirements: {ScatterFeatureRequirement: {}}
inputs: {words: 'string[]'}
outputs: {echoed: {type: 'File[]', outputSource: say/out}}
steps:
  say:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'sleep 0.3; echo "$0"']
      inputs: {w: {type: string, inputBinding: {position: 1}}}
      stdout: said.txt
      outputs: {out: stdout}
    scatter: w
    in: {w: words}
    out: [out]
"""


def artifacts() -> Path:
    where = Path(os.environ.get("MOIL_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    where.mkdir(parents=True, exist_ok=True)
    return where


def test_the_page_follows_a_run_live_and_shows_its_timeline(tmp_path: Path, chromium: str) -> None:  # noqa: F811
    try:
        playwright = toolcache.npm_prefix("playwright", toolcache.PLAYWRIGHT_PACKAGES)
        node = toolcache.node()
    except toolcache.ToolUnavailable as exc:
        pytest.skip(f"playwright-core cannot be installed here: {exc}")
    server = WesServer(tmp_path / "server", args=["--workers", "1"])
    server.start()
    go = tmp_path / "go"
    shot = artifacts() / "wes-run-page.png"
    shot.unlink(missing_ok=True)
    try:
        fields = {"workflow_type": "CWL", "workflow_type_version": "v1.2"}
        status, _ = submit(
            server,
            {**fields, "workflow_url": "gated.cwl", "workflow_params": {"go": str(go)}},
            [("gated.cwl", GATED.encode())],
        )
        assert status == 200
        status, body = submit(
            server,
            {
                **fields,
                "workflow_url": "scatter.cwl",
                "workflow_params": {"words": ["alpha", "beta", "gamma"]},
            },
            [("scatter.cwl", SCATTER.encode())],
        )
        assert status == 200, body
        run_id = body["run_id"]
        driver = subprocess.Popen(
            [
                node,
                str(Path(__file__).with_name("page_check.mjs")),
                str(playwright / "node_modules" / "playwright-core"),
                chromium,
                server.url,
                run_id,
                str(shot),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert driver.stdout is not None
        first = driver.stdout.readline()
        go.touch()
        out, err = driver.communicate(timeout=300)
        assert first.strip() == "seen QUEUED", (first, out, err)
        assert driver.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
    finally:
        go.touch()
        server.stop()
    seen = result["seen"]
    assert seen[0] == "QUEUED" and seen[-1] == "COMPLETE", seen
    assert "RUNNING" in seen or "INITIALIZING" in seen, seen
    assert result["bars"] >= 3, result  # the three scattered tools at least
    assert result["outputs"] == 3 and run_id in result["heading"], result
    width, height, pixels = read_png(shot)
    assert width == 1400 and height >= 1000
    assert len(set(pixels)) >= 50, "a rendered page, not a blank one"
