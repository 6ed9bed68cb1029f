"""Fixtures shared by every test folder: real services started on this host."""

from tests.services.fixtures import slurm_cluster  # noqa: F401 - a fixture, used by name
