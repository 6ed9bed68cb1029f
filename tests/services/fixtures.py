"""Pytest fixtures that start real services. Import the fixture into a conftest.py::

from tests.services.fixtures import slurm_cluster  # noqa: F401
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest

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
