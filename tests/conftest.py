"""Fixtures shared by every test folder: real services started on this host."""

from tests.services.fixtures import (  # noqa: F401 - fixtures, used by name
    aws_batch_service,
    docker_engine,
    ftp_server,
    gcs_server,
    gridengine_cluster,
    gridengine_root_cluster,
    host_server,
    htcondor_pool,
    lsf_cluster,
    moto_s3,
    other_host,
    podman_engine,
    s3_server,
    s3_server_factory,
    s3rver_s3,
    slurm_cluster,
    torque_cluster,
)
