"""Fixtures shared by every test folder: real services started on this host."""

from tests.services.fixtures import (  # noqa: F401 - fixtures, used by name
    docker_engine,
    host_server,
    podman_engine,
    slurm_cluster,
)
