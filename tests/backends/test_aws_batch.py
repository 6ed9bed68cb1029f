"""The ``aws_batch`` system: what it asks Batch for, and how it reads what Batch says.

The first tests need no service (how a job becomes a Batch request). The others run against
moto's AWS Batch in server mode (``aws_batch_service``: each job a real container of the moil
worker image on a private dockerd); the contract every system keeps is in
test_batch_contract.py."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.batch.aws_batch import (
    AwsBatchBatchSystem,
    AwsBatchSettings,
    container_command,
    job_name,
    parse_mount,
    resource_requirements,
)
from backends.batch.base import BatchConfig, BatchJob, ExitReason, Resources, UpdatedJob
from tests.services import aws_batch
from tests.services.aws_batch import BatchService

MiB = 1024**2
REPO = Path(__file__).resolve().parents[2]
WAIT = 120.0


def a_job(job_id: str, argv: tuple[str, ...], **resources: object) -> BatchJob:
    return BatchJob(
        job_id=job_id,
        name=f"test {job_id}",
        resources=Resources(**resources),  # type: ignore[arg-type]
        locator="aws:us-east-1:nowhere",
        entry="unused:unused",
        argv=argv,
        environment={"PATH": "/leader/only/bin", "TMPDIR": "/leader/tmp", "MOIL_X": "1"},
    )


def test_resources_become_vcpus_memory_and_gpus() -> None:
    job = a_job("r", ("true",), cores=1.5, memory=300 * MiB, accelerators=({"count": 2},))
    assert resource_requirements(job) == [
        {"type": "VCPU", "value": "2"},
        {"type": "MEMORY", "value": "300"},
        {"type": "GPU", "value": "2"},
    ]
    small = a_job("s", ("true",), cores=0.1, memory=1024)
    assert resource_requirements(small) == [
        {"type": "VCPU", "value": "1"},
        {"type": "MEMORY", "value": "4"},
    ]


def test_the_worker_command_uses_the_image_python_under_sh() -> None:
    argv = (sys.executable, "-m", "runner.worker", "aws:us-east-1:b", "j1")
    assert container_command(argv) == [
        "/bin/sh",
        "-c",
        '"$@"',
        "moil-worker",
        "python3",
        "-m",
        "runner.worker",
        "aws:us-east-1:b",
        "j1",
    ]
    assert job_name(a_job("x", ("true",))) == "moil-test-x"
    assert len(job_name(BatchJob("j", "n" * 300, Resources(), "l", "e", ("a",)))) == 128


def test_mounts_are_checked() -> None:
    assert parse_mount("/a:/b") == ("/a", "/b", False)
    assert parse_mount("/a:/b:ro") == ("/a", "/b", True)
    for bad in ("/a", "/a:/b:rw", ":/b", "/a:/b:ro:x"):
        with pytest.raises(ValueError, match="HOST_PATH:CONTAINER_PATH"):
            parse_mount(bad)


def test_a_missing_queue_is_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "languages.cwl.cli",
            "--outdir",
            str(tmp_path / "out"),
            "--batchSystem",
            "aws_batch",
            str(REPO / "examples/workflow/greet.cwl"),
            str(REPO / "examples/workflow/greet-job.yaml"),
        ],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "aws_batch needs --awsBatchQueue (or TOIL_AWS_BATCH_QUEUE)" in done.stderr
    assert "Traceback" not in done.stderr


# -- against moto's AWS Batch -----------------------------------------------------------------
def make_system(service: BatchService, work: Path, **options: object) -> AwsBatchBatchSystem:
    given: dict[str, object] = {"queue": aws_batch.QUEUE, "image": service.image}
    settings = AwsBatchSettings(**{**given, "state_polling_wait": 0.3, **options})  # type: ignore[arg-type]
    config = BatchConfig(
        math.inf,
        math.inf,
        math.inf,
        str(work),
        settings=settings,
        environment=service.server.env(),
    )
    system = AwsBatchBatchSystem(config)
    system.start()
    return system


@pytest.fixture
def batch(aws_batch_service: BatchService, tmp_path: Path) -> Iterator[AwsBatchBatchSystem]:
    system = make_system(aws_batch_service, tmp_path)
    yield system
    system.shutdown()


def one_update(system: AwsBatchBatchSystem) -> UpdatedJob:
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        update = system.get_updated_job(1.0)
        if update is not None:
            return update
    raise AssertionError("no update within the wait")


@pytest.mark.aws_batch
@pytest.mark.docker
def test_an_image_that_does_not_exist_fails_the_job_with_the_reason(
    aws_batch_service: BatchService, tmp_path: Path
) -> None:
    system = make_system(aws_batch_service, tmp_path, image="moil-no-such-image:1")
    try:
        system.issue_job(a_job("img", ("true",)))
        update = one_update(system)
    finally:
        system.shutdown()
    assert update.exit_reason is ExitReason.ERROR
    assert "failed before its container ran" in update.message
    assert "'moil-no-such-image:1'" in update.message
    assert "can pull it" in update.message


@pytest.mark.aws_batch
@pytest.mark.docker
def test_exit_code_environment_and_job_role_reach_batch(
    aws_batch_service: BatchService, tmp_path: Path
) -> None:
    role = "arn:aws:iam::123456789012:role/moil-job"
    system = make_system(aws_batch_service, tmp_path, job_role_arn=role)
    try:
        system.issue_job(a_job("code", ("/bin/sh", "-c", "exit 7")))
        update = one_update(system)
        counts = system.command_counts
    finally:
        system.shutdown()
    assert (update.exit_reason, update.exit_status) == (ExitReason.FAILED, 7)
    assert counts["SubmitJob"] == 1 and counts["RegisterJobDefinition"] == 1
    batch_client = aws_batch.client(aws_batch_service.server, "batch")
    listed = batch_client.list_jobs(jobQueue=aws_batch.QUEUE, jobStatus="FAILED")
    [described] = [j for j in listed["jobSummaryList"] if j["jobName"] == "moil-test-code"]
    details = batch_client.describe_jobs(jobs=[described["jobId"]])["jobs"][0]
    definition = batch_client.describe_job_definitions(jobDefinitions=[details["jobDefinition"]])
    properties = definition["jobDefinitions"][0]["containerProperties"]
    assert properties["jobRoleArn"] == role
    assert properties["image"] == aws_batch_service.image
    env = {e["name"]: e["value"] for e in details["container"]["environment"]}
    assert env["MOIL_X"] == "1" and env["AWS_ENDPOINT_URL"] == aws_batch_service.server.endpoint_url
    assert "PATH" not in env and "TMPDIR" not in env, "the leader's host paths stay home"
    assert "AWS_SECRET_ACCESS_KEY" not in env, "with a job role, no key pair is passed on"
