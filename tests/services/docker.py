"""A real, private Docker daemon on this host, for tests and for trying containers by hand.

``dockerd`` runs with its data root, exec root (where it keeps containerd's state), pid file
and socket under one directory, and never touches the host's network: no bridge, no iptables
rules, no forwarding (``--bridge=none --iptables=false --ip-forward=false --ip-masq=false``).
Containers therefore get ``--network none`` or ``--network host`` only. Clients reach it
through ``DOCKER_HOST`` (see ``DockerDaemon.env``).

Usage by hand::

    python -m tests.services.docker start /tmp/mydocker    # prints: export DOCKER_HOST=...
    python -m tests.services.docker images /tmp/mydocker   # load the CWL suite's stand-ins
    python -m tests.services.docker stop /tmp/mydocker
    python -m tests.services.docker podman /tmp/mypodman   # Podman configured + stand-ins
    python -m tests.services.docker podman-stop /tmp/mypodman
    python -m tests.services.docker with -- make conformance-cwl  # start, run, stop

No pytest import here; the fixtures live in ``tests/services/fixtures.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import host as sys_host
from tests.services import podman
from tests.services.images import load_stand_ins

PACKAGES = ("docker.io",)


class DockerUnavailable(RuntimeError):
    """Docker cannot be installed or started on this machine (the message says why)."""


def ensure_installed() -> None:
    """Install ``docker.io`` with apt-get if ``dockerd`` is missing (needs root).

    Raises DockerUnavailable with apt-get's output tail if that fails."""
    if shutil.which("dockerd") and shutil.which("docker"):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise DockerUnavailable("dockerd is missing and apt-get cannot run here (needs root)")
    try:
        sys_host.apt_install(PACKAGES)
    except RuntimeError as exc:
        raise DockerUnavailable(str(exc)) from exc
    if shutil.which("dockerd") is None:
        raise DockerUnavailable("apt-get installed docker.io but dockerd is not on PATH")


@dataclass
class DockerDaemon:
    """A running private dockerd. ``env`` is the environment for ``docker`` commands."""

    base_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.base_dir / "docker.sock"

    @property
    def host(self) -> str:
        """The value for ``DOCKER_HOST`` or ``docker -H``."""
        return f"unix://{self.socket}"

    def docker(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a docker command against this daemon."""
        return subprocess.run(
            ["docker", *argv],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def load_images(self) -> list[str]:
        """Import the CWL suite's stand-in images (see tests.services.images)."""
        return load_stand_ins(["docker", "-H", self.host], self.env)

    def stop(self) -> None:
        """Stop every container, then the daemon; leave no process or mount behind."""
        _stop(self.base_dir, self._process)
        self._process = None


def start(base_dir: str | os.PathLike[str], *, timeout: float = 60.0) -> DockerDaemon:
    """Start dockerd under ``base_dir`` and wait until ``docker info`` answers on its socket.

    Raises DockerUnavailable with the daemon's log tail if it does not come up; nothing is
    left running then."""
    ensure_installed()
    base = Path(base_dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    daemon = DockerDaemon(base)
    daemon.env = {**os.environ, "DOCKER_HOST": daemon.host}
    argv = [
        "dockerd",
        f"--data-root={base / 'data'}",
        f"--exec-root={base / 'exec'}",
        f"--pidfile={base / 'dockerd.pid'}",
        f"--host={daemon.host}",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
    ]
    with open(base / "dockerd.log", "ab") as out:
        # Its own session: a test's Ctrl-C does not reach it before stop() runs.
        daemon._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and daemon._process.poll() is None:
        if daemon.docker("info", check=False).returncode == 0:
            return daemon
        time.sleep(0.05)
    daemon.stop()
    tail = (base / "dockerd.log").read_text(errors="replace")[-1500:]
    raise DockerUnavailable(f"dockerd did not answer within {timeout:.0f}s:\n{tail}")


def _stop(base: Path, process: subprocess.Popen[bytes] | None) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{base / 'docker.sock'}"}
    pid = _read_pid(base / "dockerd.pid") or (process.pid if process else None)
    if pid is not None and (base / "docker.sock").exists():
        ids = subprocess.run(
            ["docker", "ps", "-aq"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout.split()
        if ids:
            subprocess.run(
                ["docker", "rm", "-f", *ids],
                env=env,
                capture_output=True,
                timeout=120,
                check=False,
            )
    if pid is not None:
        sys_host.kill_and_wait([pid], grace=20.0)
    if process is not None:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
    # containerd and its shims are dockerd's children; any straggler names our directory.
    sys_host.kill_and_wait(sys_host.processes_mentioning(base), grace=5.0)
    sys_host.unmount_under(base)
    sys_host.remove_empty_cgroups("docker")
    (base / "dockerd.pid").unlink(missing_ok=True)


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return None
    return pid if comm == "dockerd" else None


def stop_dir(base_dir: str | os.PathLike[str]) -> None:
    """Stop a daemon started earlier in ``base_dir`` (possibly by another process)."""
    _stop(Path(base_dir).resolve(), None)


def _timed(what: str, started: float) -> None:
    print(f"# {what} in {time.monotonic() - started:.2f}s")


def run_with_docker(base_dir: str | None, command: list[str]) -> int:
    """Start dockerd under ``base_dir`` (a fresh temporary directory if None, removed after),
    load the stand-in images, run ``command`` with ``DOCKER_HOST`` set, then stop the daemon
    (also when the command fails or is interrupted). Returns the command's exit code."""
    base = Path(base_dir or tempfile.mkdtemp(prefix="moil-docker-", dir="/tmp")).resolve()
    started = time.monotonic()
    daemon = start(base)
    try:
        _timed("dockerd up", started)
        daemon.load_images()
        _timed("stand-in images ready in docker", started)
        env = {**os.environ, "DOCKER_HOST": daemon.host}
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        daemon.stop()
        if base_dir is None:
            shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.services.docker start|stop|images|podman|podman-stop DIR`` or
    ``python -m tests.services.docker with [DIR] -- COMMAND...``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 2 and args[0] == "with" and "--" in args[1:3]:
        cut = args.index("--")
        return run_with_docker(args[1] if cut == 2 else None, args[cut + 1 :])
    commands = ("start", "stop", "images", "podman", "podman-stop")
    if len(args) != 2 or args[0] not in commands:
        usage = f"{'|'.join(commands)} DIR, or with [DIR] -- COMMAND..."
        print(f"usage: python -m tests.services.docker {usage}", file=sys.stderr)
        return 2
    command, base = args
    started = time.monotonic()
    if command == "stop":
        stop_dir(base)
        print(f"# stopped the Docker daemon in {base}")
    elif command == "podman-stop":
        podman.stop_dir(base)
        print(f"# removed Podman's containers in {base}")
    elif command == "podman":
        setup = podman.configure(base)
        _timed("Podman configured", started)
        loaded = setup.load_images()
        _timed(f"stand-in images loaded ({len(loaded)} imported)", started)
        for name, value in setup.exports().items():
            print(f"export {name}={value}")
    else:
        docker_host = f"unix://{Path(base).resolve() / 'docker.sock'}"
        if command == "start":
            start(base)
            _timed("dockerd up", started)
        else:
            env = {**os.environ, "DOCKER_HOST": docker_host}
            loaded = load_stand_ins(["docker", "-H", docker_host], env)
            _timed(f"stand-in images loaded ({len(loaded)} imported)", started)
        print(f"export DOCKER_HOST={docker_host}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
