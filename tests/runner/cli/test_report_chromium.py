"""The HTML report of a CWL scatter run opens in headless Chromium and shows the timeline.

Needs Debian's ``chromium``; the fixture installs it with apt-get when it is missing (we are
root) and skips, saying why, only if that fails.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

WORKFLOW = """\
cwlVersion: v1.2
class: Workflow
requirements:
  ScatterFeatureRequirement: {}
inputs:
  words: string[]
outputs:
  counts: {type: 'File[]', outputSource: count/out}
steps:
  make:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ["sleep 0.`printf %s $0 | wc -c`; echo $0"]
      inputs: {w: {type: string, inputBinding: {position: 1}}}
      stdout: word.txt
      outputs: {out: stdout}
    scatter: w
    in: {w: words}
    out: [out]
  count:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ["sleep 0.3; wc -c < $0"]
      inputs: {f: {type: File, inputBinding: {position: 1}}}
      stdout: count.txt
      outputs: {out: stdout}
    scatter: f
    in: {f: make/out}
    out: [out]
"""
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and there is no apt-get to install it")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]
    subprocess.run([*apt, "update"], capture_output=True, text=True, timeout=900, env=env,
                   check=False)
    result = subprocess.run([*apt, "install", "-y", "--no-install-recommends", "chromium"],
                            capture_output=True, text=True, timeout=900, env=env, check=False)
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"chromium could not be installed with apt-get: {result.stderr[-500:]}")
    return found


def read_png(path: Path) -> tuple[int, int, list[tuple[int, ...]]]:
    """Width, height and pixels (RGB tuples) of an 8-bit RGB/RGBA non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind = data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    channels = 4 if color == 6 else 3
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                best = min((abs(guess - left), 0, left), (abs(guess - up), 1, up),
                           (abs(guess - corner), 2, corner))[2]
                line[i] = (line[i] + best) & 0xFF
        rows.append(line)
        previous = line
    pixels = [tuple(row[x * channels:x * channels + 3]) for row in rows for x in range(width)]
    return width, height, pixels


def test_html_report_of_a_cwl_scatter_shows_the_timeline_in_chromium(
        tmp_path: Path, chromium: str, cli: Any) -> None:
    (tmp_path / "wf.cwl").write_text(WORKFLOW)
    (tmp_path / "job.yml").write_text(f"words: [{', '.join(WORDS)}]\n")
    store = tmp_path / "store"
    runner = Path(sys.executable).parent / "toil-cwl-runner"
    run = subprocess.run(
        [str(runner), "--jobStore", str(store), "--stats", "--outdir", str(tmp_path / "out"),
         str(tmp_path / "wf.cwl"), str(tmp_path / "job.yml")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )
    assert run.returncode == 0, run.stderr
    page = tmp_path / "report.html"
    made = cli.toil("report", str(store), "-o", str(page))
    assert made.returncode == 0, made.stderr
    html = page.read_text()
    assert html.count("<rect class='bar'") == 2 * len(WORDS) + 3  # tools + 3 leader jobs
    assert "wf.cwl/make (6)" in html and "wf.cwl/count (6)" in html

    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,900",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert shot.exists(), result.stderr[-2000:]
    width, height, pixels = read_png(shot)
    assert (width, height) == (1400, 900)
    colours = Counter(pixels)
    assert len(colours) >= 50, "a rendered page, not a blank one"
    saturated = {c: n for c, n in colours.items() if max(c) - min(c) > 80}
    big = [c for c, n in saturated.items() if n >= 400]
    assert len(big) >= 2, f"the bars of make and count: {sorted(saturated.items())[:20]}"
    assert sum(saturated.values()) >= 5000, "the timeline's bars cover a real area"
