"""runner.jobenv.containers against real Docker and Podman holding the CWL suite's stand-in images.

Each engine test runs once per engine (``docker`` / ``podman`` markers); the fixtures start a
private dockerd or configure a private Podman (tests/services/docker.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from runner.jobenv.containers import (
    ContainerEngine,
    ContainerEngineUnavailable,
    ImageUnavailable,
    Mount,
    detect_engine,
    kill_running,
    running_containers,
)

ROOT = Path(__file__).resolve().parents[2]
ENGINES = [
    pytest.param("docker", marks=pytest.mark.docker),
    pytest.param("podman", marks=pytest.mark.podman),
]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> ContainerEngine:
    """A ContainerEngine bound to the session's private daemon or Podman set-up."""
    service = request.getfixturevalue(f"{request.param}_engine")
    # The test daemons have no bridge network: "allowed" means the host's.
    return ContainerEngine(request.param, env=service.env, network_mode="host")


def _writable_dir(path: Path) -> Path:
    path.mkdir()
    path.chmod(0o777)  # the explicit-uid test writes as a user other than the caller
    return path


# What each stand-in must run for the CWL suite, and what it then writes to /out/result.
STAND_IN_COMMANDS = {
    "docker.io/debian:stable-slim": (["sh", "-c", "echo abc | rev > /out/result"], "cba"),
    "docker.io/alpine:latest": (
        ["sh", "-c", "echo a > /out/x && ln -s x /out/l && cat /out/l > /out/result"],
        "a",
    ),
    # No command name: the image's entrypoint hands an option to bash (docker-run-cmd.cwl).
    "docker.io/bash:4.4": (["-c", "echo moo > /out/result"], "moo"),
    "docker.io/python:3-slim": (
        ["python", "-c", "import json; open('/out/result', 'w').write(json.dumps([1, 2]))"],
        "[1, 2]",
    ),
}


@pytest.mark.parametrize("image", sorted(STAND_IN_COMMANDS))
def test_stand_in_runs_and_output_belongs_to_caller(
    engine: ContainerEngine, image: str, tmp_path: Path
) -> None:
    out = _writable_dir(tmp_path / "out")
    command, expected = STAND_IN_COMMANDS[image]
    engine.ensure_image(image)
    result = engine.run(image, command, mounts=[Mount(str(out), "/out", writable=True)])
    assert result.exit_code == 0 and not result.timed_out
    assert (out / "result").read_text().strip() == expected
    assert (out / "result").stat().st_uid == os.geteuid()
    assert (out / "result").stat().st_gid == os.getegid()


def test_short_and_older_suite_names_resolve(engine: ContainerEngine, tmp_path: Path) -> None:
    names = ["debian:stable-slim", "alpine", "bash:4.4.12", "debian:stretch-slim"]
    names += ["python:3", "python:2-slim", "python:2.7.15-alpine3.7"]
    assert [name for name in names if not engine.has_image(name)] == []
    out = tmp_path / "out"
    assert engine.run("python:2-slim", ["python", "--version"], stdout=out).exit_code == 0
    assert out.read_text().startswith("Python 3.")


def test_explicit_user_owns_outputs(engine: ContainerEngine, tmp_path: Path) -> None:
    out = _writable_dir(tmp_path / "out")
    result = engine.run(
        "docker.io/debian:stable-slim",
        ["sh", "-c", "id -u > /out/id"],
        mounts=[Mount(str(out), "/out", writable=True)],
        user=(4321, 4322),
    )
    assert result.exit_code == 0
    assert (out / "id").read_text().strip() == "4321"
    assert ((out / "id").stat().st_uid, (out / "id").stat().st_gid) == (4321, 4322)


def test_read_only_mount_cannot_be_written(engine: ContainerEngine, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "data.txt").write_text("keep\n")
    stderr = tmp_path / "stderr"
    result = engine.run(
        "docker.io/debian:stable-slim",
        ["sh", "-c", "cat /in/data.txt && echo changed > /in/data.txt"],
        mounts=[Mount(str(inputs), "/in")],
        stdout=tmp_path / "stdout",
        stderr=stderr,
    )
    assert result.exit_code != 0
    assert (tmp_path / "stdout").read_text() == "keep\n"
    assert "Read-only file system" in stderr.read_text()
    assert (inputs / "data.txt").read_text() == "keep\n"


def test_stdin_env_and_workdir(engine: ContainerEngine, tmp_path: Path) -> None:
    work = _writable_dir(tmp_path / "work")
    (tmp_path / "in.txt").write_text("b\na\n")
    result = engine.run(
        "docker.io/debian:stable-slim",
        ["sh", "-c", 'sort; echo "$HOME $GREETING"; pwd'],
        mounts=[Mount(str(work), "/work", writable=True)],
        workdir="/work",
        env={"HOME": "/work", "GREETING": "hello world"},
        stdin=tmp_path / "in.txt",
        stdout=tmp_path / "out.txt",
    )
    assert result.exit_code == 0
    assert (tmp_path / "out.txt").read_text() == "a\nb\n/work hello world\n/work\n"


def test_network_is_off_unless_allowed(
    engine: ContainerEngine, host_server: tuple[int, list[bytes]], tmp_path: Path
) -> None:
    port, received = host_server
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), 5).send(b'hello')"
    probe = ["python", "-c", connect]
    image = "docker.io/python:3-slim"
    denied = engine.run(image, probe, stderr=tmp_path / "denied.err")
    assert denied.exit_code == 1, (tmp_path / "denied.err").read_text()
    assert "ConnectionRefusedError" in (tmp_path / "denied.err").read_text()
    assert received == []
    allowed = engine.run(image, probe, network=True, stderr=tmp_path / "allowed.err")
    assert allowed.exit_code == 0, (tmp_path / "allowed.err").read_text()
    for _ in range(50):  # the server thread may not have stored it yet
        if received:
            break
        time.sleep(0.1)
    assert received == [b"hello"]


def test_memory_limit_is_enforced(engine: ContainerEngine) -> None:
    grab = ["python", "-c", "x = bytearray(300 * 1024 * 1024); print(len(x))"]
    image = "docker.io/python:3-slim"
    assert engine.run(image, grab, memory=64 * 1024 * 1024, cores=1).exit_code != 0
    assert engine.run(image, grab, memory=1024 * 1024 * 1024, cores=1.5).exit_code == 0


def _gone(engine: ContainerEngine, name: str) -> bool:
    listed = subprocess.run(
        [engine.binary, "ps", "--all", "--format", "{{.Names}}"],
        env=engine.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return name not in listed.stdout.split()


def test_timeout_kills_and_removes_the_container(engine: ContainerEngine) -> None:
    name = f"moil-test-{uuid.uuid4().hex[:8]}"
    result = engine.run("docker.io/debian:stable-slim", ["sleep", "300"], timeout=1, name=name)
    assert result.timed_out and result.exit_code != 0
    assert _gone(engine, name)


def test_kill_running_stops_containers_of_this_process(engine: ContainerEngine) -> None:
    name = f"moil-test-{uuid.uuid4().hex[:8]}"
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            engine.run("docker.io/debian:stable-slim", ["sleep", "300"], name=name)
        )
    )
    thread.start()
    for _ in range(200):  # until the container runs
        if not _gone(engine, name):
            break
        time.sleep(0.1)
    kill_running()
    thread.join(timeout=60)
    assert results and results[0].exit_code != 0 and not results[0].timed_out


def test_kill_running_stops_a_container_that_is_only_starting(engine: ContainerEngine) -> None:
    """A kill that comes while the engine is still creating the container (a worker's SIGTERM
    right after a tool started) is not lost: the container does not go on running."""
    name = f"moil-test-{uuid.uuid4().hex[:8]}"
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            engine.run("docker.io/debian:stable-slim", ["sleep", "300"], name=name)
        )
    )
    thread.start()
    for _ in range(2000):  # until run() has started the client, not the container
        if name in running_containers():
            break
        time.sleep(0.001)
    kill_running()
    thread.join(timeout=60)
    assert results and results[0].exit_code != 0 and not results[0].timed_out
    assert _gone(engine, name)


def _tiny_rootfs(tmp_path: Path) -> Path:
    tarball = tmp_path / "rootfs.tar"
    (tmp_path / "hello.txt").write_text("hello\n")
    with tarfile.open(tarball, "w") as tar:
        tar.add(tmp_path / "hello.txt", arcname="hello.txt")
    return tarball


def _counting_shim(engine: ContainerEngine, tmp_path: Path) -> tuple[Path, Path]:
    """A wrapper around the engine binary that logs each invocation's arguments."""
    real = shutil.which(engine.binary)
    assert real is not None
    calls = tmp_path / "calls.log"
    shim = tmp_path / f"counting-{engine.kind}"
    shim.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {real} "$@"\n')
    shim.chmod(0o755)
    return shim, calls


_ENSURE = """
import sys, time
from pathlib import Path
from runner.jobenv.containers import ContainerEngine
kind, shim, locks, image, tarball, go = sys.argv[1:]
engine = ContainerEngine(kind, binary=shim, lock_dir=locks)
while not Path(go).exists():
    time.sleep(0.005)
for _ in range(3):
    engine.ensure_image(image, import_from=tarball)
"""


def test_concurrent_ensure_image_obtains_once(engine: ContainerEngine, tmp_path: Path) -> None:
    shim, calls = _counting_shim(engine, tmp_path)
    image = f"localhost/moil-test-once:{uuid.uuid4().hex[:8]}"
    tarball, go = _tiny_rootfs(tmp_path), tmp_path / "go"
    argv = [engine.kind, str(shim), str(tmp_path / "locks"), image, str(tarball), str(go)]
    env = {**engine.env, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", _ENSURE, *argv], env=env) for _ in range(4)]
    try:
        time.sleep(0.5)  # let them all reach the starting line
        go.touch()
        assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
        lines = calls.read_text().splitlines()
        assert sum(line.startswith("import ") for line in lines) == 1
        # Once per process (the first also checks its import), not once per call.
        inspects = sum(line.startswith("image inspect") for line in lines)
        assert 4 <= inspects <= 5
        assert engine.has_image(image)
    finally:
        subprocess.run([engine.binary, "rmi", "-f", image], env=engine.env, check=False)


def test_load_and_build_images(engine: ContainerEngine, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    saved, built = f"localhost/moil-test-load:{tag}", f"localhost/moil-test-build:{tag}"
    engine.ensure_image(saved, import_from=_tiny_rootfs(tmp_path))
    archive = tmp_path / "saved.tar"
    run = [engine.binary, "save", "--output", str(archive), saved]
    subprocess.run(run, env=engine.env, check=True, capture_output=True)
    subprocess.run([engine.binary, "rmi", saved], env=engine.env, check=True)
    engine.forget(saved)
    try:
        real = shutil.which(engine.binary)
        fresh = ContainerEngine(engine.kind, env=engine.env, binary=real, network_mode="host")
        fresh.ensure_image(saved, load_from=archive)
        assert fresh.has_image(saved)
        dockerfile = "FROM docker.io/debian:stable-slim\nRUN echo built > /built.txt\n"
        fresh.ensure_image(built, dockerfile=dockerfile)
        out = tmp_path / "out"
        result = fresh.run(built, ["cat", "/built.txt"], stdout=out)
        assert result.exit_code == 0 and out.read_text() == "built\n"
    finally:
        subprocess.run([engine.binary, "rmi", "-f", saved, built], env=engine.env, check=False)


def test_missing_image_names_engine_and_image(engine: ContainerEngine) -> None:
    image = f"localhost/moil-test-absent:{uuid.uuid4().hex[:8]}"
    with pytest.raises(ImageUnavailable) as raised:
        engine.ensure_image(image, timeout=120)
    assert engine.kind in str(raised.value) and image in str(raised.value)
    assert "load" in str(raised.value)


# Without an engine: no markers, no daemon needed.


def test_unreachable_docker_daemon_is_a_clear_error(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed")
    bogus = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    with pytest.raises(ContainerEngineUnavailable) as raised:
        ContainerEngine("docker", env=bogus).check()
    assert raised.value.exit_code == 33
    assert f"{tmp_path}/no.sock" in str(raised.value) and "docker" in str(raised.value)


def test_missing_engine_binary_and_auto_detection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ContainerEngineUnavailable, match="podman is not usable.*not installed"):
        ContainerEngine("podman", binary=str(tmp_path / "podman")).check()
    monkeypatch.setenv("PATH", str(tmp_path))  # neither docker nor podman on PATH
    assert detect_engine("auto") is None
    assert detect_engine("none") is None
    with pytest.raises(ContainerEngineUnavailable):
        detect_engine("docker")
    with pytest.raises(ValueError, match="singularity"):
        detect_engine("singularity")


def test_run_argv() -> None:
    engine = ContainerEngine("docker", binary="/usr/bin/docker")
    argv = engine.run_argv(
        "img:1",
        ["echo", "a b"],
        mounts=[Mount("/data/in,1", "/in"), Mount("/out", "/out", writable=True)],
        workdir="/out",
        env={"HOME": "/out"},
        user=(5, 6),
        memory=2**30,
        cores=0.5,
        name="n1",
    )
    assert argv == [
        "/usr/bin/docker", "run", "--pull=never", "--rm", "--name", "n1",
        "--network", "none", "--user", "5:6", "--workdir", "/out", "--env", "HOME=/out",
        "--mount", '"type=bind","source=/data/in,1","target=/in",readonly',
        "--mount", "type=bind,source=/out,target=/out",
        "--memory", "1073741824", "--cpus", "0.5", "img:1", "echo", "a b",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="podman cannot bind"):
        ContainerEngine("podman").run_argv("img", ["true"], mounts=[Mount("/a,b", "/in")])


_KILLED = """
import subprocess, sys
from runner.jobenv.containers import ContainerEngine
kind, how, name, cidfile = sys.argv[1:]
engine = ContainerEngine(kind)
if how == "name":
    engine.run("docker.io/debian:stable-slim", ["sleep", "300"], name=name)
else:  # as cwltool runs it: its own run command, the container known by its cidfile
    with engine.guard(cidfile, cidfile=True):
        argv = [engine.binary, "run", "--rm", "--name", name, "--cidfile", cidfile]
        subprocess.run([*argv, "docker.io/debian:stable-slim", "sleep", "300"], check=False)
"""


@pytest.mark.parametrize("how", ["name", "cidfile"])
def test_container_goes_when_its_process_is_killed(
    engine: ContainerEngine, how: str, tmp_path: Path
) -> None:
    name = f"moil-test-{uuid.uuid4().hex[:8]}"
    argv = [engine.kind, how, name, str(tmp_path / "cid")]
    env = {**engine.env, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", _KILLED, *argv], env=env)
    try:
        for _ in range(300):  # until the container runs
            if not _gone(engine, name):
                break
            time.sleep(0.1)
        assert not _gone(engine, name)
        process.kill()  # SIGKILL: no handler runs, the client dies, the container would stay
        process.wait()
        for _ in range(300):
            if _gone(engine, name):
                break
            time.sleep(0.1)
        assert _gone(engine, name)
    finally:
        process.kill()
        process.wait()
        subprocess.run([engine.binary, "rm", "--force", name], env=engine.env, check=False)


def test_force_pull_pulls_an_image_that_is_present(engine: ContainerEngine, tmp_path: Path) -> None:
    """--force-docker-pull: an image only a pull gives is pulled though the engine has it
    (this one exists only here, so the pull fails and says so)."""
    image = f"localhost/moil-test-force:{uuid.uuid4().hex[:8]}"
    engine.ensure_image(image, import_from=_tiny_rootfs(tmp_path))
    try:
        fresh = ContainerEngine(engine.kind, env=engine.env, network_mode="host")
        fresh.ensure_image(image, timeout=120)  # present: kept, no pull
        again = ContainerEngine(engine.kind, env=engine.env, network_mode="host")
        again.forget(image)
        with pytest.raises(ImageUnavailable) as raised:
            again.ensure_image(image, timeout=120, force_pull=True)
        assert "pull" in str(raised.value)
    finally:
        subprocess.run([engine.binary, "rmi", "-f", image], env=engine.env, check=False)
