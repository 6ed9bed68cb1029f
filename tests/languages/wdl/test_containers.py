"""toil-wdl-runner with ``runtime.docker`` in real Docker and Podman (the session's private
engines holding the stand-in images) and on the host (``--container none``)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.languages.conftest import RunCommand

TASK = """\
version 1.1
task words {
  input {
    File text
    Int times = 2
  }
  command <<<
    set -e
    mkdir -p parts
    for i in $(seq ~{times}); do rev ~{text} > parts/part$i.txt; done
    sort ~{text} | uniq -c | awk '{print $2 "=" $1}'
    cat /proc/sys/kernel/hostname > where
  >>>
  output {
    Array[File] parts = glob("parts/*.txt")
    Array[String] counts = read_lines(stdout())
    String host = read_string("where")
  }
  runtime {
    docker: "docker.io/debian:stable-slim"
    cpu: 1
  }
}
"""


def _run(run_wdl: RunCommand, tmp_path: Path, container: str) -> tuple[dict[str, Any], bool]:
    """The task's outputs (files as their contents) and whether it ran in a container (a
    container has a host name of its own)."""
    out = tmp_path / f"out-{container}"
    result = run_wdl("--container", container, "-o", str(out), "words.wdl", "inputs.json")
    assert result.code == 0, result.stderr
    outputs = json.loads(result.stdout)
    where = outputs.pop("words.host") != socket.gethostname()
    parts = outputs.pop("words.parts")
    assert all(Path(p).is_relative_to(out) for p in parts)
    outputs["parts"] = [Path(p).read_text() for p in parts]
    return outputs, where


@pytest.fixture
def words(tmp_path: Path) -> Path:
    (tmp_path / "words.wdl").write_text(TASK)
    (tmp_path / "text.txt").write_text("ab\nc\nab\n")
    (tmp_path / "inputs.json").write_text(json.dumps({"words.text": "text.txt"}))
    return tmp_path


@pytest.mark.docker
@pytest.mark.podman
def test_task_gives_the_same_outputs_in_docker_podman_and_on_the_host(
    words: Path,
    run_wdl: RunCommand,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docker = request.getfixturevalue("docker_engine")
    podman = request.getfixturevalue("podman_engine")
    monkeypatch.setenv("DOCKER_HOST", docker.host)
    for name, value in podman.exports().items():
        monkeypatch.setenv(name, value)
    expected = {"words.counts": ["ab=2", "c=1"], "parts": ["ba\nc\nba\n"] * 2}
    results = {engine: _run(run_wdl, words, engine) for engine in ("docker", "podman", "none")}
    assert {engine: where for engine, (_, where) in results.items()} == {
        "docker": True,
        "podman": True,
        "none": False,
    }
    for engine, (outputs, _) in results.items():
        assert outputs == expected, engine


def test_explicit_engine_that_does_not_work_stops_the_run(
    words: Path, run_wdl: RunCommand, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{words}/no-daemon.sock")
    result = run_wdl("--container", "docker", "-o", "out", "words.wdl", "inputs.json")
    assert result.code == 33, result.stderr
    assert "docker is not usable" in result.stderr and "no-daemon.sock" in result.stderr
