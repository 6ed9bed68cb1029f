"""AWS Batch: each job is one AWS Batch job whose container runs moil's worker.

The worker reaches the run through the ``aws:`` job store (S3), so nothing of the leader's
host is shared; a ``file:`` store cannot work here. Settings (Toil's names where Toil has
them):

- the job queue: ``--awsBatchQueue`` or ``TOIL_AWS_BATCH_QUEUE`` (required);
- the role the job's container runs as: ``--awsBatchJobRoleArn`` or
  ``TOIL_AWS_BATCH_JOB_ROLE_ARN`` (its credentials reach the store);
- the image with moil installed: ``--awsBatchImage`` or ``TOIL_APPLIANCE_SELF`` (required);
- the region: ``--awsBatchRegion``, else boto3's own chain (``AWS_DEFAULT_REGION``...).

How moil uses Batch:

- At the first submission it registers ONE job definition for the run (the image, the job
  role, ``--awsBatchMount`` host volumes), and deregisters it on ``shutdown``. Each job is a
  ``SubmitJob`` with container overrides: the worker command, the job's environment, and
  its resources as ``resourceRequirements`` (VCPU: cores rounded up to whole vCPUs; MEMORY in
  MiB, at least 4; GPU: the count of the job's accelerators). Batch has no per-job disk
  request: disk is the compute environment's.
- The worker command is the job's ``argv`` with the leader's interpreter replaced by the
  image's ``python3``, started by ``sh`` (so it is not the container's first process, which
  ignores signals) under the job definition's init process (``initProcessEnabled``). The leader's host-specific variables (``PATH``, ``HOME``, ``TMPDIR``)
  are dropped from the job's environment: the image has its own. The S3 endpoint
  variables (``AWS_ENDPOINT_URL*``, ``TOIL_S3_*``) and the region are passed on; the key
  pair only when no job role is set (it is then visible in the job's description: prefer a
  job role).
- Each poll is ONE ``DescribeJobs`` request per 100 live jobs. An exit code comes from the
  job's ``container.exitCode`` (or its last attempt's); where Batch's description leaves it
  out, one ``ListJobs`` (status FAILED) of the queue fills it in. ``statusReason`` and the
  container's ``reason`` go into the job's message; a job that failed with no exit code never
  ran its container (an image that cannot be pulled, say), and its message says so.
- ``kill_jobs`` and ``shutdown`` call ``TerminateJob`` for each live job (Batch has no call
  for many).
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from backends.batch.base import BatchConfig, BatchJob, Capabilities, ExitReason
from backends.batch.queued import (
    AbstractQueuedBatchSystem,
    ClusterStatus,
    ExitInfo,
    Phase,
    PollingSettings,
)
from backends.errors import BatchSystemError
from backends.settings import Settings, setting

log = logging.getLogger(__name__)

MiB = 1024**2
DESCRIBE_LIMIT = 100
"""Job IDs per DescribeJobs request (the API's own limit)."""
_WAITING = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING")
_HOST_ONLY = ("PATH", "HOME", "TMPDIR")
_FORWARDED = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "TOIL_S3_HOST",
    "TOIL_S3_PORT",
    "TOIL_S3_USE_SSL",
)
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass(frozen=True)
class AwsBatchSettings(PollingSettings):
    """The ``aws_batch`` system's options."""

    kind: ClassVar[str] = "aws_batch"

    queue: str | None = setting(
        None,
        "--awsBatchQueue",
        env="TOIL_AWS_BATCH_QUEUE",
        help="the AWS Batch job queue moil's jobs go to",
    )
    job_role_arn: str | None = setting(
        None,
        "--awsBatchJobRoleArn",
        env="TOIL_AWS_BATCH_JOB_ROLE_ARN",
        help="the IAM role AWS Batch jobs run as (it must reach the aws: job store)",
    )
    image: str | None = setting(
        None,
        "--awsBatchImage",
        env="TOIL_APPLIANCE_SELF",
        help="the container image with moil installed that AWS Batch jobs run",
    )
    region: str | None = setting(
        None,
        "--awsBatchRegion",
        help="the AWS region of the queue (default: boto3's, e.g. AWS_DEFAULT_REGION)",
    )
    mounts: tuple[str, ...] = setting(
        (),
        "--awsBatchMount",
        env="TOIL_AWS_BATCH_MOUNT",
        metavar="HOST_PATH:CONTAINER_PATH[:ro]",
        help="a host path of the compute environment's instances to mount in every job",
    )


def parse_mount(text: str) -> tuple[str, str, bool]:
    """``(host, container, read_only)`` from ``HOST:CONTAINER[:ro]``; raises ValueError."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]) or parts[2:] not in ([], ["ro"]):
        raise ValueError(f"{text!r} is not HOST_PATH:CONTAINER_PATH[:ro]")
    return parts[0], parts[1], len(parts) == 3


def container_command(argv: Sequence[str]) -> list[str]:
    """The job's command in the image: the leader's interpreter becomes ``python3``, run
    under ``sh``: the container's first process ignores signals it has no handler for (a
    worker killed by a signal would otherwise exit 0), so the worker must not be it."""
    command = list(argv)
    if command and (
        command[0] == sys.executable or os.path.basename(command[0]).startswith("python")
    ):
        command = ["python3", *command[1:]]
    return ["/bin/sh", "-c", '"$@"', "moil-worker", *command]


def resource_requirements(job: BatchJob) -> list[dict[str, str]]:
    """The job's resources as Batch ``resourceRequirements``."""
    res = job.resources
    wanted = [
        {"type": "VCPU", "value": str(max(1, math.ceil(res.cores - 1e-9)))},
        {"type": "MEMORY", "value": str(max(4, math.ceil(res.memory / MiB)))},
    ]
    gpus = sum(int(str(a.get("count", 1))) for a in res.accelerators)
    if gpus:
        wanted.append({"type": "GPU", "value": str(gpus)})
    return wanted


def job_name(job: BatchJob) -> str:
    """A Batch job name for ``job`` (letters, digits, ``-`` and ``_``, at most 128)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", job.name or job.job_id)
    return f"moil-{safe}"[:128]


class AwsBatchBatchSystem(AbstractQueuedBatchSystem):
    """Jobs run as AWS Batch jobs (see the module docstring)."""

    name: ClassVar[str] = "aws_batch"
    capabilities: ClassVar[Capabilities] = Capabilities(
        needs_shared_filesystem=False, accelerators=True
    )
    settings_class: ClassVar[type[Settings]] = AwsBatchSettings
    settings: AwsBatchSettings

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self._client: Any = None
        self._definition: str | None = None
        self._logged_credentials = False

    # ----------------------------------------------------------------- the queued hooks
    def start(self) -> None:
        """Check the queue and image are set and make the Batch client.

        Raises BatchSystemError saying which setting is missing."""
        for value, flag, env in (
            (self.settings.queue, "--awsBatchQueue", "TOIL_AWS_BATCH_QUEUE"),
            (self.settings.image, "--awsBatchImage", "TOIL_APPLIANCE_SELF"),
        ):
            if not value:
                raise BatchSystemError(f"aws_batch needs {flag} (or {env}) to be set")
        for mount in self.settings.mounts:
            try:
                parse_mount(mount)
            except ValueError as exc:
                raise BatchSystemError(f"--awsBatchMount: {exc}") from None
        import boto3

        # BatchConfig.environment may say where Batch is (as it says where a scheduler is)
        environ = {**os.environ, **self.config.environment}
        session = boto3.session.Session(
            aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=environ.get("AWS_SESSION_TOKEN"),
            region_name=self.settings.region or environ.get("AWS_DEFAULT_REGION"),
        )
        endpoint = environ.get("AWS_ENDPOINT_URL_BATCH") or environ.get("AWS_ENDPOINT_URL")
        self._client = session.client("batch", endpoint_url=endpoint)
        super().start()

    def submit_job(self, job: BatchJob, batch_id: int) -> str:
        """One ``SubmitJob`` (after registering the run's job definition once)."""
        definition = self._job_definition()
        overrides = {
            "command": container_command(job.argv),
            "environment": [{"name": k, "value": v} for k, v in self._environment(job).items()],
            "resourceRequirements": resource_requirements(job),
        }
        answer = self._call(
            "SubmitJob",
            jobName=job_name(job),
            jobQueue=self.settings.queue,
            jobDefinition=definition,
            containerOverrides=overrides,
            tags={"moil-job": job.job_id[:256]},
        )
        return str(answer["jobId"])

    def query_jobs(self, cluster_ids: Sequence[str]) -> dict[str, ClusterStatus] | None:
        """One ``DescribeJobs`` per 100 IDs (plus one ``ListJobs`` if an exit code is
        missing)."""
        described: list[dict[str, Any]] = []
        try:
            for start in range(0, len(cluster_ids), DESCRIBE_LIMIT):
                chunk = list(cluster_ids[start : start + DESCRIBE_LIMIT])
                described += self._call("DescribeJobs", jobs=chunk)["jobs"]
        except BatchSystemError as exc:
            log.warning("aws_batch: %s", exc)
            return None
        missing_codes = [
            d["jobId"] for d in described if d["status"] == "FAILED" and _exit_code(d) is None
        ]
        listed = self._listed_exit_codes() if missing_codes else {}
        return {d["jobId"]: self._status(d, listed.get(d["jobId"])) for d in described}

    def cancel_jobs(self, cluster_ids: Sequence[str]) -> None:
        """``TerminateJob`` for each (it cancels a job that has not started too)."""
        for cluster_id in cluster_ids:
            try:
                self._call("TerminateJob", jobId=cluster_id, reason="killed by moil's leader")
            except BatchSystemError as exc:
                log.warning("aws_batch: %s", exc)

    def shutdown(self) -> None:
        """Terminate every live job, wait for Batch to show them ended, stop polling and
        deregister the run's job definition."""
        super().shutdown()
        if self._definition is not None:
            try:
                self._call("DeregisterJobDefinition", jobDefinition=self._definition)
            except BatchSystemError as exc:
                log.warning("aws_batch: %s", exc)
            self._definition = None

    # ----------------------------------------------------------------- internals
    def _call(self, operation: str, **kwargs: Any) -> Any:
        """Make one Batch API request, counted under its operation name. Raises
        BatchSystemError with Batch's own message."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.count_request(operation)
        method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        try:
            return getattr(self._client, method)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise BatchSystemError(f"AWS Batch {operation} failed: {exc}") from None

    def _job_definition(self) -> str:
        with self._cond:
            if self._definition is not None:
                return self._definition
        volumes, mount_points = [], []
        for index, mount in enumerate(self.settings.mounts):
            host, container, read_only = parse_mount(mount)
            volumes.append({"name": f"m{index}", "host": {"sourcePath": host}})
            mount_points.append(
                {"sourceVolume": f"m{index}", "containerPath": container, "readOnly": read_only}
            )
        properties: dict[str, Any] = {
            "image": self.settings.image,
            "command": ["python3", "-m", "runner.worker"],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
            "volumes": volumes,
            "mountPoints": mount_points,
            # an init as the first process, which passes Batch's SIGTERM on to the worker
            "linuxParameters": {"initProcessEnabled": True},
        }
        if self.settings.job_role_arn:
            properties["jobRoleArn"] = self.settings.job_role_arn
        answer = self._call(
            "RegisterJobDefinition",
            jobDefinitionName=f"moil-{uuid.uuid4().hex[:16]}",
            type="container",
            containerProperties=properties,
        )
        with self._cond:
            self._definition = str(answer["jobDefinitionArn"])
            return self._definition

    def _environment(self, job: BatchJob) -> dict[str, str]:
        env = {k: v for k, v in job.environment.items() if k not in _HOST_ONLY}
        source = {**os.environ, **self.config.environment}
        passed = _FORWARDED if self.settings.job_role_arn else _FORWARDED + _CREDENTIALS
        for key in passed:
            if key in source and key not in env:
                env[key] = source[key]
        if "AWS_SECRET_ACCESS_KEY" in env and not self._logged_credentials:
            self._logged_credentials = True
            log.warning(
                "aws_batch: no --awsBatchJobRoleArn: the leader's AWS key pair goes to "
                "each job's environment (visible in its description); set a job role"
            )
        return env

    def _listed_exit_codes(self) -> dict[str, int]:
        try:
            answer = self._call("ListJobs", jobQueue=self.settings.queue, jobStatus="FAILED")
        except BatchSystemError as exc:
            log.warning("aws_batch: %s", exc)
            return {}
        codes = {}
        for summary in answer.get("jobSummaryList", []):
            code = summary.get("container", {}).get("exitCode")
            if code is not None:
                codes[summary["jobId"]] = int(code)
        return codes

    def _status(self, described: dict[str, Any], listed_code: int | None) -> ClusterStatus:
        status = described["status"]
        started = described.get("startedAt")
        elapsed = None
        if started:
            end = described.get("stoppedAt") or time.time() * 1000
            elapsed = max(0.0, (end - started) / 1000)
        if status in _WAITING:
            return ClusterStatus(Phase.QUEUED)
        if status == "RUNNING":
            return ClusterStatus(Phase.RUNNING, elapsed)
        if status == "SUCCEEDED":
            return ClusterStatus(
                Phase.ENDED, elapsed, ExitInfo(ExitReason.FINISHED, 0, "", elapsed)
            )
        code = _exit_code(described)
        code = listed_code if code is None else code
        return ClusterStatus(Phase.ENDED, elapsed, self._failure(described, code, elapsed))

    def _failure(self, described: dict[str, Any], code: int | None, wall: float | None) -> ExitInfo:
        job_id = described["jobId"]
        reasons = [described.get("statusReason"), described.get("container", {}).get("reason")]
        for attempt in described.get("attempts", [])[-1:]:
            reasons.append(attempt.get("statusReason"))
            reasons.append(attempt.get("container", {}).get("reason"))
        said = "; ".join(dict.fromkeys(r for r in reasons if r)) or "no reason given"
        if self.was_cancelled(job_id):
            return ExitInfo(ExitReason.KILLED, code or 1, f"terminated on request ({said})", wall)
        if code is None:
            message = (
                f"AWS Batch job {job_id} failed before its container ran (no exit code; "
                f"Batch says: {said}); check that image {self.settings.image!r} exists and "
                "the compute environment can pull it"
            )
            return ExitInfo(ExitReason.ERROR, 1, message, wall)
        if "OutOfMemory" in said:
            return ExitInfo(ExitReason.MEMLIMIT, code, f"killed for memory: {said}", wall)
        return ExitInfo(
            ExitReason.FAILED, code, f"AWS Batch job {job_id} exited {code} ({said})", wall
        )


def _exit_code(described: dict[str, Any]) -> int | None:
    code = described.get("container", {}).get("exitCode")
    for attempt in described.get("attempts", [])[-1:]:
        code = attempt.get("container", {}).get("exitCode", code) if code is None else code
    return None if code is None else int(code)
