"""Pytest fixtures that start real services. Import the fixture into a conftest.py::

from tests.services.fixtures import slurm_cluster  # noqa: F401

Also ``docker_engine`` and ``podman_engine`` (container engines with the CWL suite's
stand-in images; see tests/services/docker.py), ``host_server`` (a TCP listener on
127.0.0.1); S3 servers (``s3_server`` over moto and s3rver, ``moto_s3``, ``s3rver_s3``,
``s3_server_factory`` for servers a test stops and restarts), ``ftp_server``, ``gcs_server``,
and ``other_host`` (a network and mount namespace: see tests/services/netns.py).
Cloud: ``aws_batch_service`` (moto's AWS Batch running each job in a real container of the
moil worker image, tests/services/aws_batch.py).
Schedulers: ``gridengine_cluster`` (a real Grid Engine cell, tests/services/gridengine.py),
``torque_cluster`` (Slurm's PBS commands over ``slurm_cluster``, tests/services/torque.py),
``htcondor_pool`` (a real HTCondor in a Debian 13 chroot, tests/services/htcondor.py),
``lsf_cluster`` (a stand-in for LSF, not LSF, tests/services/lsf.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.services import aws_batch, ftp, gcs, netns
from tests.services.docker import DockerDaemon, DockerUnavailable
from tests.services.docker import ensure_installed as ensure_docker_installed
from tests.services.docker import start as start_docker
from tests.services.gridengine import GridEngineCluster, GridEngineUnavailable
from tests.services.gridengine import ensure_installed as ensure_gridengine_installed
from tests.services.gridengine import start as start_gridengine
from tests.services.host import Service
from tests.services.htcondor import HTCondorPool
from tests.services.htcondor import start as start_htcondor
from tests.services.lsf import LsfCluster
from tests.services.lsf import start as start_lsf
from tests.services.moil_image import load_moil_image
from tests.services.podman import PACKAGES as PODMAN_PACKAGES
from tests.services.podman import PodmanSetup, PodmanUnavailable
from tests.services.podman import configure as configure_podman
from tests.services.podman import ensure_installed as ensure_podman_installed
from tests.services.podman import stop_dir as stop_podman_dir
from tests.services.s3 import KINDS as S3_KINDS
from tests.services.s3 import S3Server
from tests.services.s3 import ensure_installed as ensure_s3_installed
from tests.services.s3 import start as start_s3
from tests.services.slurm import SlurmCluster, SlurmUnavailable, ensure_installed, start
from tests.services.toolcache import ToolUnavailable, cache_root
from tests.services.torque import TorqueCluster, TorqueUnavailable
from tests.services.torque import ensure_installed as ensure_torque_installed
from tests.services.torque import over as torque_over

log = logging.getLogger(__name__)


S = TypeVar("S", bound=Service)


def _running(prefix: str, what: str, start: Callable[[str], S]) -> Iterator[S]:
    """Start a service in a fresh directory under /tmp (its daemons may run as other users,
    who cannot enter pytest's temporary directories), yield it, stop it and remove it."""
    base = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    started = time.monotonic()
    service = start(base)
    log.info("%s started in %.2fs under %s", what, time.monotonic() - started, base)
    try:
        yield service
    finally:
        service.stop()
        shutil.rmtree(base, ignore_errors=True)


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


@pytest.fixture(scope="session")
def gridengine_cluster() -> Iterator[GridEngineCluster]:
    """A private Grid Engine cell for the whole session (8 slots, root may not submit:
    jobs go in as ``cluster.user`` with ``cluster.run_as_user``). ``os.environ`` is left
    alone: ``cluster.env`` reaches the cell (a test sets it with monkeypatch where a
    command must see it). Skips only if Grid Engine cannot be installed; a cell that is
    installed but does not start is an error."""
    try:
        ensure_gridengine_installed()
    except GridEngineUnavailable as exc:
        pytest.skip(
            f"Grid Engine is not available: {exc}; to enable, run the tests as root on a "
            "Debian-like host where apt-get can install gridengine-master gridengine-exec "
            "gridengine-client"
        )
    yield from _running("moil-sge-", "Grid Engine", lambda base: start_gridengine(base, slots=8))


@pytest.fixture(scope="session")
def gridengine_root_cluster() -> Iterator[GridEngineCluster]:
    """A second private cell where root may submit (8 slots; jobs run as root), for tests
    that drive a batch system object inside the test process, which runs as root: a site
    would not allow that, so tests of what a user runs use ``gridengine_cluster``. Reached
    through ``tests.services.gridengine.exports(cluster)``; ``os.environ`` is left alone.
    Skips as ``gridengine_cluster`` does."""
    try:
        ensure_gridengine_installed()
    except GridEngineUnavailable as exc:
        pytest.skip(f"Grid Engine is not available: {exc}")
    yield from _running(
        "moil-sge-root-",
        "Grid Engine (root may submit)",
        lambda base: start_gridengine(base, slots=8, root_may_submit=True),
    )


@pytest.fixture(scope="session")
def htcondor_pool() -> Iterator[HTCondorPool]:
    """A one-machine HTCondor pool in a Debian 13 chroot for the whole session (8 CPUs;
    jobs go in as ``pool.user`` from ``pool.work_dir``; ``pool.env`` has host wrappers of
    ``condor_submit``, ``condor_q``... first on ``PATH``; ``os.environ`` is left alone).
    The first use builds the chroot (~2 min, cached). Skips only without root; a chroot
    that cannot be built or a pool that does not start is an error."""
    if os.geteuid() != 0:
        pytest.skip(
            "HTCondor runs here only in a debootstrapped Debian 13 chroot, which needs root; "
            "to enable, run the tests as root on a host that reaches a Debian mirror"
        )
    yield from _running("moil-condor-", "HTCondor", lambda base: start_htcondor(base, cpus=8))


@pytest.fixture(scope="session")
def lsf_cluster() -> Iterator[LsfCluster]:
    """moil's LSF stand-in (NOT IBM Spectrum LSF: see tests/services/lsf.py) for the whole
    session, 8 slots; ``.env`` has ``LSF_ENVDIR`` and its ``bsub``, ``bjobs``... first on
    ``PATH`` (``os.environ`` is left alone). Needs nothing installed: never skipped."""
    yield from _running("moil-lsf-", "the LSF stand-in", lambda base: start_lsf(base, slots=8))


@pytest.fixture(scope="session")
def torque_cluster(slurm_cluster: SlurmCluster) -> TorqueCluster:
    """Slurm's PBS wrappers (``qsub``, ``qstat``, ``qdel``...) over the session's Slurm:
    ``.env`` has them first on ``PATH`` (``os.environ`` is left alone). Skips only if the
    wrappers cannot be downloaded or their Perl modules installed."""
    try:
        ensure_torque_installed()
    except TorqueUnavailable as exc:
        pytest.skip(
            f"the PBS wrappers are not available: {exc}; to enable, run the tests as root "
            "on a Debian-like host where apt-get can download slurm-wlm-torque and install "
            "libslurm-perl libslurmdb-perl libswitch-perl"
        )
    return torque_over(slurm_cluster)


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


def _how_to_enable_tools(what: str) -> str:
    return (
        f"to enable, let the tests reach PyPI and the npm registry (they install {what} into "
        f"{cache_root()}, or $MOIL_SERVICES_CACHE), or fill that cache beforehand on a "
        "machine that can: python -m tests.services.s3 with -- true"
    )


def _start_s3_or_skip(kind: str, base: Path, host: str = "127.0.0.1") -> S3Server:
    try:
        ensure_s3_installed(kind)
    except ToolUnavailable as exc:
        pytest.skip(
            f"the {kind} S3 server cannot be installed: {exc}; {_how_to_enable_tools(kind)}"
        )
    started = time.monotonic()
    server = start_s3(kind, base, host)
    log.info("%s started in %.2fs on %s", kind, time.monotonic() - started, server.endpoint_url)
    return server


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto in server mode on 127.0.0.1 for the whole session (tests take their own bucket:
    ``new_bucket()``; a test that stops a server uses ``s3_server_factory``). Skips only if
    moto cannot be installed; one that is installed but does not start is an error."""
    server = _start_s3_or_skip("moto", tmp_path_factory.mktemp("s3-moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3rver_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """s3rver on 127.0.0.1 for the whole session; as ``moto_s3``."""
    server = _start_s3_or_skip("s3rver", tmp_path_factory.mktemp("s3-s3rver"))
    yield server
    server.stop()


@pytest.fixture(scope="session", params=S3_KINDS)
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """Each S3 server in turn (``moto``, ``s3rver``): a contract suite that takes this
    fixture runs once per server. ``.capabilities`` says where the two differ."""
    return request.getfixturevalue(f"{request.param}_s3")  # type: ignore[no-any-return]


@pytest.fixture
def s3_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., S3Server]]:
    """``make(kind, host="127.0.0.1")`` starts a server of the test's own (to stop, restart,
    pause, or bind to an ``other_host`` address); every one is stopped after the test."""
    started: list[S3Server] = []

    def make(kind: str, host: str = "127.0.0.1") -> S3Server:
        server = _start_s3_or_skip(kind, tmp_path_factory.mktemp(f"s3-{kind}"), host)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def ftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ftp.FtpServer]:
    """pyftpdlib on 127.0.0.1 for the session, serving ``.root`` (anonymous read; the user
    ``.user``/``.password`` may write). Skips only if pyftpdlib cannot be installed."""
    try:
        ftp.ensure_installed()
    except ToolUnavailable as exc:
        pytest.skip(f"pyftpdlib cannot be installed: {exc}; {_how_to_enable_tools('pyftpdlib')}")
    server = ftp.start(tmp_path_factory.mktemp("ftp"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[gcs.GcsServer]:
    """The GCS emulator on 127.0.0.1 for the session (``.env()`` for clients). Skips only if
    it cannot be installed."""
    try:
        gcs.ensure_installed()
    except ToolUnavailable as exc:
        how = _how_to_enable_tools("gcp-storage-emulator")
        pytest.skip(f"the GCS emulator cannot be installed: {exc}; {how}")
    server = gcs.start(tmp_path_factory.mktemp("gcs"))
    yield server
    server.stop()


@pytest.fixture
def other_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[netns.Host]:
    """Another host for the test (tests/services/netns.py): its own network namespace
    joined by a veth pair (``.address`` is this side's end: bind servers there), and
    ``/tmp``, ``/var/tmp``, ``$TMPDIR`` and pytest's temporary directories hidden. Skips
    only where namespaces cannot be made (not root, no iproute2)."""
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"no other host: {reason}; to enable, run the tests as root with iproute2")
    hidden = [*netns.default_hidden(), tmp_path_factory.getbasetemp()]
    with netns.other_host(hidden) as host:
        yield host


@pytest.fixture(scope="session")
def aws_batch_service(
    docker_engine: DockerDaemon, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[aws_batch.BatchService]:
    """moto's AWS Batch (its jobs real containers on ``docker_engine``) with a queue, and the
    moil worker image built into that daemon (tests/services/moil_image.py). Skips only if
    moto cannot be installed; a server that does not start or an image that cannot be built
    are errors."""
    try:
        aws_batch.moto_program()
    except ToolUnavailable as exc:
        pytest.skip(f"moto with Batch cannot be installed: {exc}; {_how_to_enable_tools('moto')}")
    started = time.monotonic()
    image = load_moil_image(["docker", "-H", docker_engine.host], docker_engine.env)
    log.info("moil worker image %s ready in %.1fs", image, time.monotonic() - started)
    server = aws_batch.start(tmp_path_factory.mktemp("aws-batch"), docker_engine.host)
    yield aws_batch.BatchService(server, image, docker_engine.env)
    server.stop()
