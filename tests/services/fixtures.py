"""Pytest fixtures that start real services. Import the fixture into a conftest.py::

from tests.services.fixtures import slurm_cluster  # noqa: F401

Also ``docker_engine`` and ``podman_engine`` (container engines with the CWL suite's
stand-in images; see tests/services/docker.py) and ``host_server`` (a TCP listener on
127.0.0.1).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

from tests.services.docker import DockerDaemon, DockerUnavailable
from tests.services.docker import ensure_installed as ensure_docker_installed
from tests.services.docker import start as start_docker
from tests.services.podman import PACKAGES as PODMAN_PACKAGES
from tests.services.podman import PodmanSetup, PodmanUnavailable
from tests.services.podman import configure as configure_podman
from tests.services.podman import ensure_installed as ensure_podman_installed
from tests.services.podman import stop_dir as stop_podman_dir
from tests.services.slurm import SlurmCluster, SlurmUnavailable, ensure_installed, start

log = logging.getLogger(__name__)

_HOW_TO_ENABLE = (
    "run the tests as root on a Debian-like host where apt-get can install "
    "slurm-wlm slurmctld slurmd slurm-client munge (or install those packages beforehand)"
)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A single-node Slurm for the whole session, reached through ``SLURM_CONF``.

    ``SLURM_CONF`` is set in ``os.environ`` while the session runs (as a user's shell would
    have it) and restored after. Skips only if Slurm cannot be installed; a cluster that is
    installed but does not start is an error, not a skip."""
    try:
        ensure_installed()
    except SlurmUnavailable as exc:
        pytest.skip(f"Slurm is not available: {exc}; to enable, {_HOW_TO_ENABLE}")
    # Not tmp_path_factory: munged needs every parent of its socket searchable by others.
    base = tempfile.mkdtemp(prefix="moil-slurm-", dir="/tmp")
    started = time.monotonic()
    cluster = start(base, cpus=8)
    log.info("Slurm started in %.2fs under %s", time.monotonic() - started, base)
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.env["SLURM_CONF"]
    try:
        yield cluster
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


_HOW_TO_ENABLE_CONTAINERS = (
    "run the tests as root on a Debian-like host where apt-get can install {packages} and "
    "debootstrap can reach a Debian mirror (or install them and build the images beforehand: "
    "python -m tests.services.docker images DIR)"
)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerDaemon]:
    """A private dockerd for the whole session holding the CWL suite's stand-in images,
    reached through ``DOCKER_HOST`` (in ``.env``; ``os.environ`` is left alone: a test sets
    it with monkeypatch where a command must see it). Skips only if Docker cannot be
    installed; a daemon that is installed but does not start, or images that cannot be
    built, are errors."""
    try:
        ensure_docker_installed()
    except DockerUnavailable as exc:
        how = _HOW_TO_ENABLE_CONTAINERS.format(packages="docker.io")
        pytest.skip(f"Docker is not available: {exc}; to enable, {how}")
    base = tempfile.mkdtemp(prefix="moil-docker-", dir="/tmp")
    started = time.monotonic()
    daemon = start_docker(base)
    try:
        log.info("dockerd started in %.2fs under %s", time.monotonic() - started, base)
        started = time.monotonic()
        daemon.load_images()
        log.info("stand-in images ready in docker in %.1fs", time.monotonic() - started)
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def podman_engine() -> Iterator[PodmanSetup]:
    """Podman configured under a private directory with the CWL suite's stand-in images;
    ``.exports()`` gives the variables a command needs (``CONTAINERS_CONF`` and kin;
    ``os.environ`` is left alone). Skips only if Podman cannot be installed."""
    try:
        ensure_podman_installed()
    except PodmanUnavailable as exc:
        how = _HOW_TO_ENABLE_CONTAINERS.format(packages=" ".join(PODMAN_PACKAGES))
        pytest.skip(f"Podman is not available: {exc}; to enable, {how}")
    base = tempfile.mkdtemp(prefix="moil-podman-", dir="/tmp")
    try:
        started = time.monotonic()
        setup = configure_podman(base)
        log.info("Podman configured in %.2fs under %s", time.monotonic() - started, base)
        started = time.monotonic()
        setup.load_images()
        log.info("stand-in images ready in Podman in %.1fs", time.monotonic() - started)
        yield setup
    finally:
        stop_podman_dir(base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def host_server() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on this host's 127.0.0.1 for the test's duration: its port, and the
    first bytes each client sent (for tests of what a container can reach)."""
    received: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                received.append(conn.recv(100))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()
