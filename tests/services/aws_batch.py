"""moto's AWS Batch in server mode, running each job as a real container on a private dockerd.

moto 5.2.5 (``moto[server,batch]``, in a venv of its own in the services cache: its Batch
model needs the ``docker`` library) serves Batch, IAM, CloudWatch Logs and S3 on one port.
``SubmitJob`` makes moto start the job definition's image with the private daemon of
``tests.services.docker`` (``DOCKER_HOST``), with ``MOTO_DOCKER_NETWORK_MODE=host`` so the
container reaches moto's own S3 on 127.0.0.1; the container's exit code and its logs are
recorded (logs in moto's CloudWatch Logs). ``start`` also makes what a queue needs: an IAM
role, an unmanaged compute environment and a job queue (``QUEUE``).

What moto's Batch does not do, so these tests cannot show it (seen in its
``moto/batch/models.py``): no resource limits on the container (vCPUs, memory and GPUs are
recorded, not enforced), no scheduling (every job starts at once), no job role credentials
inside the container, no exit code in ``DescribeJobs`` (only in ``ListJobs``), no
``statusReason`` when the image cannot be pulled (the job just ends FAILED).

Usage by hand (with a daemon from ``python -m tests.services.docker start DIR``)::

    python -m tests.services.aws_batch with -- COMMAND...   # DOCKER_HOST must be set
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.services import serverproc, toolcache
from tests.services.s3 import S3Server

PACKAGES = ("moto[server,batch]==5.2.5",)
QUEUE = "moil-queue"
_ENVIRONMENT = "moil-compute"


@dataclass
class BatchService:
    """moto with Batch and its queue, the moil worker image in the daemon its jobs run on,
    and that daemon's environment (``DOCKER_HOST``)."""

    server: S3Server
    image: str
    docker_env: dict[str, str]

    def env(self) -> dict[str, str]:
        """The leader's variables (``batch_env``)."""
        return batch_env(self.server, self.image)

    def containers(self) -> list[str]:
        """Names of the containers moto started that still exist on the daemon."""
        done = subprocess.run(
            ["docker", "ps", "-a", "--format", "{{.Names}}"],
            env=self.docker_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return [name for name in done.stdout.split() if name.startswith("moil-")]


def moto_program() -> Path:
    """``moto_server`` of the Batch-capable venv (installed on first use, ~80 s)."""
    return toolcache.python_venv("moto-batch", PACKAGES) / "bin" / "moto_server"


def start(base_dir: str | os.PathLike[str], docker_host: str, timeout: float = 60.0) -> S3Server:
    """Start moto with Batch on 127.0.0.1 (its containers on ``docker_host``) and make the
    queue ``QUEUE``. Raises toolcache.ToolUnavailable or serverproc.ServiceFailed."""
    base = Path(base_dir).resolve()
    (base / "tmp").mkdir(parents=True, exist_ok=True)
    port = serverproc.free_port()
    env = {
        **os.environ,
        "TMPDIR": str(base / "tmp"),
        "DOCKER_HOST": docker_host,
        "MOTO_DOCKER_NETWORK_MODE": "host",
    }
    argv = [str(moto_program()), "-H", "127.0.0.1", "-p", str(port)]
    process = serverproc.launch(
        "moto-batch", argv, base, "127.0.0.1", port, env=env, timeout=timeout
    )
    server = S3Server(process, "moto", "moil-test", "moil-test-secret")
    make_queue(server)
    return server


def client(server: S3Server, service: str) -> Any:
    """A boto3 client of ``service`` (``batch``, ``iam``, ``logs``) on ``server``."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
    )
    return session.client(service, endpoint_url=server.endpoint_url)


def make_queue(server: S3Server) -> None:
    """An IAM role, an unmanaged compute environment and the job queue ``QUEUE``."""
    iam, batch = client(server, "iam"), client(server, "batch")
    role = iam.create_role(RoleName="moil-batch-service", AssumeRolePolicyDocument="{}")
    environment = batch.create_compute_environment(
        computeEnvironmentName=_ENVIRONMENT,
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=role["Role"]["Arn"],
    )
    batch.create_job_queue(
        jobQueueName=QUEUE,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[
            {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}
        ],
    )


def live_jobs(server: S3Server) -> list[str]:
    """IDs of the queue's jobs that have not ended (every status but SUCCEEDED/FAILED)."""
    batch = client(server, "batch")
    found: list[str] = []
    for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"):
        listed = batch.list_jobs(jobQueue=QUEUE, jobStatus=status)["jobSummaryList"]
        found += [job["jobId"] for job in listed]
    return found


def batch_env(server: S3Server, image: str) -> dict[str, str]:
    """The leader's variables for ``--batchSystem aws_batch`` on ``server``: boto3's (for S3
    and Batch alike), the queue and the image."""
    return {**server.env(), "TOIL_AWS_BATCH_QUEUE": QUEUE, "TOIL_APPLIANCE_SELF": image}


def main(argv: list[str]) -> int:
    """``with -- COMMAND...``: start moto with Batch, run COMMAND with its variables."""
    if len(argv) < 3 or argv[:2] != ["with", "--"] or "DOCKER_HOST" not in os.environ:
        print(
            "usage: DOCKER_HOST=... python -m tests.services.aws_batch with -- COMMAND...",
            file=sys.stderr,
        )
        return 2
    import tempfile

    from tests.services.moil_image import load_moil_image

    image = load_moil_image(["docker"], dict(os.environ))
    base = tempfile.mkdtemp(prefix="moil-aws-batch-")
    server = start(base, os.environ["DOCKER_HOST"])
    try:
        env = {**os.environ, **batch_env(server, image)}
        return subprocess.run(argv[2:], env=env, check=False).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
