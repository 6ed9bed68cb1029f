"""toil-cwl-runner with DockerRequirement in real Docker and Podman (the session's private
engines holding the stand-in images: tests/services/docker.py), and without an engine."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.languages.conftest import REPO, RunCommand
from tests.services.docker import DockerDaemon
from tests.services.podman import PodmanSetup

OTHER_UID = 4321  # not root, and no user of this machine: files it owns are the tool's


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


OWNED = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement: {dockerPull: docker.io/debian:stable-slim}
  InitialWorkDirRequirement:
    listing:
      - {entryname: note.txt, entry: "from the document", writable: true}
inputs:
  data: File
baseCommand: [sh, -c]
arguments:
  - 'id -u > uid.txt && rev $(inputs.data.path) > reversed.txt && echo more >> note.txt
     && (echo x > $(inputs.data.path) 2>/dev/null && echo wrote-input || echo input-read-only)'
stdout: said.txt
outputs:
  uid: {type: File, outputBinding: {glob: uid.txt}}
  reversed: {type: File, outputBinding: {glob: reversed.txt}}
  note: {type: File, outputBinding: {glob: note.txt}}
  said: stdout
"""


@pytest.fixture
def as_other_user(docker_engine: DockerDaemon) -> Iterator[Path]:
    """A directory owned by OTHER_UID, with the session's dockerd reachable by that user
    (its socket is opened to all local users while the test runs: a private test daemon)."""
    base = docker_engine.base_dir
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in (base, docker_engine.socket)}
    work = Path(tempfile.mkdtemp(prefix="moil-other-user-", dir="/tmp"))
    os.chown(work, OTHER_UID, OTHER_UID)
    base.chmod(0o755)
    docker_engine.socket.chmod(0o666)
    try:
        yield work
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.docker
def test_outputs_belong_to_the_user_who_ran_the_workflow(
    docker_engine: DockerDaemon, as_other_user: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the workflow as another user; run the tests as root")
    work = as_other_user
    write(work / "owned.cwl", OWNED)
    write(work / "data.txt", "abc\n")
    write(work / "job.yml", "data: {class: File, path: data.txt}\n")
    for path in work.iterdir():
        os.chown(path, OTHER_UID, OTHER_UID)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work),
        "PYTHONPATH": str(REPO),
        "DOCKER_HOST": docker_engine.host,
    }
    who = [f"--reuid={OTHER_UID}", f"--regid={OTHER_UID}", "--clear-groups"]
    command = [sys.executable, "-m", "languages.cwl.cli", "--outdir", "out", "owned.cwl"]
    done = subprocess.run(
        ["setpriv", *who, *command, "job.yml"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = work / "out"
    assert (out / "reversed.txt").read_text() == "cba\n"
    assert (out / "note.txt").read_text() == "from the documentmore\n"
    assert (out / "said.txt").read_text() == "input-read-only\n"
    assert (work / "data.txt").read_text() == "abc\n"
    assert (out / "uid.txt").read_text() == f"{OTHER_UID}\n"
    for name in ("uid.txt", "reversed.txt", "note.txt", "said.txt"):
        info = (out / name).stat()
        assert (info.st_uid, info.st_gid) == (OTHER_UID, OTHER_UID), name


NETWORK = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement: {{dockerPull: docker.io/python:3-slim}}
{network}
inputs: []
baseCommand: [python, -c]
arguments:
  - "import socket; socket.create_connection(('127.0.0.1', {port}), 5).send(b'{word}')"
outputs: []
"""


@pytest.mark.docker
def test_network_is_off_unless_the_document_allows_it(
    docker_engine: DockerDaemon,
    host_server: tuple[int, list[bytes]],
    run_cwl: RunCommand,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, received = host_server
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    allow = "  NetworkAccess: {networkAccess: true}"
    write(tmp_path / "closed.cwl", NETWORK.format(network="", port=port, word="closed"))
    write(tmp_path / "open.cwl", NETWORK.format(network=allow, port=port, word="open"))
    # The test daemon has no bridge network: "allowed" is the host's network here.
    closed = run_cwl("--custom-net", "host", "--outdir", "out", "closed.cwl")
    assert closed.code == 1, closed.stderr
    assert "ConnectionRefusedError" in closed.stderr or "Network is unreachable" in closed.stderr
    opened = run_cwl("--custom-net", "host", "--outdir", "out", "open.cwl")
    assert opened.code == 0, opened.stderr
    for _ in range(50):  # the server thread may not have stored it yet
        if received:
            break
        time.sleep(0.1)
    assert received == [b"open"]


BUILT = """\
cwlVersion: v1.2
class: Workflow
requirements: {{ScatterFeatureRequirement: {{}}}}
inputs:
  words: string[]
steps:
  say:
    scatter: word
    in: {{word: words}}
    out: [said]
    run:
      class: CommandLineTool
      requirements:
        DockerRequirement:
          dockerImageId: moil-test-built:{tag}
          dockerFile: |
            FROM docker.io/debian:stable-slim
            RUN echo built > /built.txt
      inputs:
        word: {{type: string, inputBinding: {{position: 1}}}}
      baseCommand: [sh, -c, 'cat /built.txt; echo "$0"']
      stdout: said.txt
      outputs:
        said: stdout
outputs:
  said: {{type: "File[]", outputSource: say/said}}
"""


def _counting_docker(tmp_path: Path) -> tuple[Path, Path]:
    """A directory holding a ``docker`` that logs its arguments, then runs the real one."""
    real = shutil.which("docker")
    assert real is not None
    shims, calls = tmp_path / "shims", tmp_path / "calls.log"
    shims.mkdir()
    shim = shims / "docker"
    shim.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {real} "$@"\n')
    shim.chmod(0o755)
    return shims, calls


@pytest.mark.docker
def test_image_is_built_once_per_run_not_per_job(
    docker_engine: DockerDaemon,
    run_cwl: RunCommand,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = os.urandom(4).hex()
    shims, calls = _counting_docker(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    write(tmp_path / "built.cwl", BUILT.format(tag=tag))
    write(tmp_path / "job.yml", "words: [a, b, c, d]\n")
    try:
        result = run_cwl("--maxCores", "2", "--outdir", "out", "built.cwl", "job.yml")
        assert result.code == 0, result.stderr
        said = [Path(f["path"]).read_text() for f in result.outputs["said"]]
        assert said == [f"built\n{w}\n" for w in "abcd"]
        lines = calls.read_text().splitlines()
        assert sum(line.startswith("build ") for line in lines) == 1
        assert sum(line.startswith("run ") for line in lines) == 4
    finally:
        docker_engine.docker("rmi", "-f", f"moil-test-built:{tag}", check=False)


@pytest.mark.podman
def test_podman_runs_the_tool(
    podman_engine: PodmanSetup,
    run_cwl: RunCommand,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in podman_engine.exports().items():
        monkeypatch.setenv(name, value)
    write(tmp_path / "owned.cwl", OWNED)
    write(tmp_path / "data.txt", "abc\n")
    write(tmp_path / "job.yml", "data: {class: File, path: data.txt}\n")
    result = run_cwl("--podman", "--outdir", "out", "owned.cwl", "job.yml")
    assert result.code == 0, result.stderr
    assert (tmp_path / "out" / "reversed.txt").read_text() == "cba\n"
    assert (tmp_path / "out" / "said.txt").read_text() == "input-read-only\n"
    assert (tmp_path / "out" / "uid.txt").read_text() == f"{os.geteuid()}\n"


REQUIRED = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement: {dockerPull: docker.io/debian:stable-slim}
inputs: []
baseCommand: [echo, hi]
outputs: []
"""


def test_required_container_without_a_usable_engine_exits_33(
    run_cwl: RunCommand, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "required.cwl", REQUIRED)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    result = run_cwl("--outdir", "out", "required.cwl")
    assert result.code == 33, result.stderr
    assert "requires a container" in result.stderr and "docker is not usable" in result.stderr
    refused = run_cwl("--no-container", "--outdir", "out", "required.cwl")
    assert refused.code == 33, refused.stderr
    assert "--no-container was given" in refused.stderr


def test_hinted_container_without_a_usable_engine_runs_on_the_host(
    run_cwl: RunCommand, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "hinted.cwl", REQUIRED.replace("requirements:", "hints:"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    result = run_cwl("--outdir", "out", "hinted.cwl")
    assert result.code == 0, result.stderr
    assert "run on this host without their images" in result.stderr


def test_singularity_is_refused_with_exit_33(run_cwl: RunCommand, tmp_path: Path) -> None:
    write(tmp_path / "required.cwl", REQUIRED)
    result = run_cwl("--singularity", "--outdir", "out", "required.cwl")
    assert result.code == 33, result.stderr
    assert "Singularity is not supported" in result.stderr


# The project's directory is seen on this host and not in a container (nothing binds it).
PLAIN = f"""\
cwlVersion: v1.2
class: CommandLineTool
inputs: []
baseCommand: [sh, -c, 'if test -d {REPO}/runner; then echo host; else echo container; fi']
stdout: where.txt
outputs:
  where: stdout
"""


@pytest.mark.docker
def test_default_container_runs_tools_without_docker_requirement(
    docker_engine: DockerDaemon,
    run_cwl: RunCommand,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    write(tmp_path / "plain.cwl", PLAIN)
    shims, calls = _counting_docker(tmp_path)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    result = run_cwl(
        "--default-container", "docker.io/debian:stable-slim", "--outdir", "out", "plain.cwl"
    )
    assert result.code == 0, result.stderr
    assert (tmp_path / "out" / "where.txt").read_text() == "container\n"
    runs = [line for line in calls.read_text().splitlines() if line.startswith("run ")]
    assert len(runs) == 1 and "docker.io/debian:stable-slim" in runs[0]
    # --no-container wins: the same tool runs on this host, docker is not called again
    host = run_cwl(
        "--default-container",
        "docker.io/debian:stable-slim",
        "--no-container",
        "--outdir",
        "host",
        "plain.cwl",
    )
    assert host.code == 0, host.stderr
    assert (tmp_path / "host" / "where.txt").read_text() == "host\n"
    assert len([ln for ln in calls.read_text().splitlines() if ln.startswith("run ")]) == 1


def test_default_container_without_a_usable_engine_exits_33(
    run_cwl: RunCommand, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "plain.cwl", PLAIN)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    result = run_cwl(
        "--default-container", "docker.io/debian:stable-slim", "--outdir", "out", "plain.cwl"
    )
    assert result.code == 33, result.stderr
    assert "runs in --default-container docker.io/debian:stable-slim" in result.stderr
    assert "docker is not usable" in result.stderr
