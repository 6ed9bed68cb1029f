"""Slurm: each job is one ``sbatch`` of a two-line script that runs the worker command.

Submission (``sbatch --parsable``, script on stdin):

- ``--cpus-per-task`` = cores rounded up; ``--mem`` = memory in MiB, rounded up (none with
  ``--slurmAllocateMem false``; ``--mem=0``, a whole node's, for a job that gave no memory
  of its own with ``--slurmDefaultAllMem true``);
- ``--time`` from ``BatchJob.time_limit``, else ``--slurmTime``, else ``--defaultWalltime``,
  else the partition default;
- ``--partition`` from ``--slurmPartition`` (else the cluster default); a job needing more
  than one core goes to ``--slurmPE`` / ``TOIL_SLURM_PE`` instead when that is set, one that
  asks for GPUs to ``--slurmGPUPartition`` when that is set;
- ``--qos`` from ``--slurmQOS`` (``--slurmGPUQOS`` instead for a job that asks for GPUs);
- ``--gres=gpu[:MODEL]:N`` for GPU accelerators;
- ``--output/--error`` into ``--batchLogsDir`` (``moil-<job>-<slurm id>.out|.err``), else
  ``/dev/null``; ``-J`` the job's name; ``--no-requeue`` so that a failed node reports the
  job LOST to the leader (which retries it) instead of Slurm silently running it twice;
- ``--export=ALL`` of this process's environment plus ``BatchConfig.environment`` and
  ``BatchJob.environment``, less the ``SLURM_*`` variables of an enclosing allocation
  (``SLURM_CONF`` kept); the source tree is put on ``PYTHONPATH`` when moil runs from one;
- extra arguments from ``TOIL_SLURM_ARGS`` and ``--slurmArgs`` (shell-split); an option
  given there replaces the one moil would have set.

Status: one ``squeue -t all -j ID,ID,...`` per poll (finished jobs stay visible for Slurm's
``MinJobAge``, 300 s by default, with their state and exit code). Jobs squeue no longer
knows are looked up with one ``sacct`` for all of them; without accounting they end LOST
after a few polls. Slurm states map to exit reasons: COMPLETED -> FINISHED, FAILED -> FAILED,
TIMEOUT/DEADLINE -> TIMELIMIT, OUT_OF_MEMORY -> MEMLIMIT, CANCELLED -> KILLED,
NODE_FAIL/BOOT_FAIL/PREEMPTED -> LOST. A job pending for a reason that means it can never
start as submitted (PartitionTimeLimit, PartitionConfig, BadConstraints, a QOS or association
per-job limit: Slurm accepts such jobs unless ``EnforcePartLimits`` is set) is cancelled and
ends as ERROR with that reason, instead of leaving the run waiting forever.

Where Slurm enforces memory by sampling (``JobAcctGatherParams=OverMemoryKill``, no cgroups)
it records FAILED with signal 9; such a job is reported MEMLIMIT when its ``--batchLogsDir``
stderr holds Slurm's "exceeded memory limit" line.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from backends.batch.base import BatchConfig, BatchJob, Capabilities, ExitReason
from backends.batch.cluster import (
    AbstractGridBatchSystem,
    ClusterStatus,
    Command,
    ExitInfo,
    GridSettings,
    Phase,
    log_file,
    source_tree_environment,
)
from backends.errors import BatchSystemError, InsufficientResourcesError
from backends.settings import Settings, setting

log = logging.getLogger(__name__)

_QUEUED_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESV_DEL_HOLD",
        "SUSPENDED",
        "STOPPED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
    }
)
# COMPLETING: the job's processes are being cleaned up; it still holds its node.
_RUNNING_STATES = frozenset({"RUNNING", "COMPLETING"})
_STATUS_FIELDS = "JobID:|,State:|,Reason:|,exit_code:|,TimeUsed:|,TimeLimit:|"
_ALIASES = {
    "-p": "--partition",
    "-t": "--time",
    "-c": "--cpus-per-task",
    "-J": "--job-name",
    "-o": "--output",
    "-e": "--error",
    "--mem-per-cpu": "--mem",
    "--mem-per-gpu": "--mem",
    "--gpus": "--gres",
    "-G": "--gres",
}


# Pending reasons that say the job, as submitted, exceeds what its partition, QOS or
# association allows per job: no amount of waiting starts it. (PartitionNodeLimit is left
# out: Slurm also gives it when the nodes are only down or drained.)
_NEVER_STARTS_REASONS = {
    "PartitionTimeLimit": "its time limit exceeds the partition's (lower --slurmTime or "
    "--maxJobDuration, or choose another --slurmPartition)",
    "PartitionConfig": "it asks for more than the partition allows (time, cores, memory or "
    "GPUs; lower --slurmTime or the job's requirements, or choose another --slurmPartition)",
    "BadConstraints": "its constraints (--constraint and kin) can never be satisfied",
}
NEVER_STARTS_GRACE = 5.0
"""Seconds a job must pend for such a reason before it is given up: Slurm names a first
reason at submission (often PartitionConfig) and a more precise one at its next scheduling
pass."""
# Reasons a job routinely pends for; anything else is logged once.
_ROUTINE_PENDING = frozenset(
    {"", "None", "(null)", "Priority", "Resources", "BeginTime", "Dependency", "Prolog"}
)


def _never_starts(reason: str) -> str | None:
    """Why a job pending for ``reason`` will never start, or None if it may."""
    if reason in _NEVER_STARTS_REASONS:
        return _NEVER_STARTS_REASONS[reason]
    if reason.startswith(("QOSMax", "AssocMax")) and "PerJob" in reason:
        return "it asks for more than the per-job limit of its QOS or association"
    return None


def format_time(seconds: float) -> str:
    """Seconds as Slurm's ``[D-]H:MM:SS`` (rounded up to a whole second)."""
    total = max(1, math.ceil(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock:0>8}" if days else clock


def parse_time(text: str) -> float | None:
    """Slurm's ``[D-][[H:]M:]S`` as seconds; None for ``UNLIMITED``, ``INVALID`` and such."""
    days, _, clock = text.strip().rpartition("-")
    try:
        parts = [int(p) for p in clock.split(":")]
        seconds = sum(v * m for v, m in zip(reversed(parts), (1, 60, 3600), strict=False))
        return seconds + 86400 * int(days or 0)
    except ValueError:
        return None


def _option_name(arg: str) -> str | None:
    if arg.startswith("--"):
        name = arg.split("=", 1)[0]
    elif arg.startswith("-") and len(arg) >= 2:
        name = arg[:2]
    else:
        return None
    return _ALIASES.get(name, name)


@dataclass(frozen=True)
class SlurmSettings(GridSettings):
    """Slurm's own options (Toil's names)."""

    kind: ClassVar[str] = "slurm"

    partition: str | None = setting(
        None,
        "--slurmPartition",
        env="TOIL_SLURM_PARTITION",
        help="partition for every job (default: the cluster's default)",
    )
    time: str | None = setting(
        None,
        "--slurmTime",
        env="TOIL_SLURM_TIME",
        help="time limit for jobs that set none, in Slurm's format (1:00:00)",
    )
    args: str | None = setting(
        None, "--slurmArgs", help="extra sbatch arguments (TOIL_SLURM_ARGS is read as well)"
    )
    pe: str | None = setting(
        None,
        "--slurmPE",
        env="TOIL_SLURM_PE",
        help="partition for jobs that need more than one core (or TOIL_SLURM_PE)",
    )
    qos: str | None = setting(
        None,
        "--slurmQOS",
        env="TOIL_SLURM_QOS",
        help="Quality of Service for every job (sbatch --qos)",
    )
    gpu_partition: str | None = setting(
        None,
        "--slurmGPUPartition",
        env="TOIL_SLURM_GPU_PARTITION",
        help="partition for jobs that ask for GPUs",
    )
    gpu_qos: str | None = setting(
        None,
        "--slurmGPUQOS",
        env="TOIL_SLURM_GPU_QOS",
        help="Quality of Service for jobs that ask for GPUs",
    )
    allocate_mem: bool = setting(
        True,
        "--slurmAllocateMem",
        env="TOIL_SLURM_ALLOCATE_MEM",
        bare=True,
        metavar="BOOL",
        consts={"--allocate_mem": True, "--dont_allocate_mem": False},
        help="ask for each job's memory (sbatch --mem; false: never, for clusters that "
        "refuse memory requests)",
    )
    default_all_mem: bool = setting(
        False,
        "--slurmDefaultAllMem",
        env="TOIL_SLURM_DEFAULT_ALL_MEM",
        bare=True,
        metavar="BOOL",
        help="give jobs that do not say how much memory they need a whole node's (--mem=0)",
    )


class SlurmBatchSystem(AbstractGridBatchSystem):
    """Runs each job as one Slurm batch job; polls with one squeue for all of them."""

    name: ClassVar[str] = "slurm"
    settings_class: ClassVar[type[Settings]] = SlurmSettings
    settings: SlurmSettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        in_process=False, needs_shared_filesystem=True, accelerators=True, time_limits=True
    )
    required_commands: ClassVar[tuple[str, ...]] = ("sbatch", "squeue", "scancel")
    transient_errors: ClassVar[tuple[str, ...]] = (
        "Socket timed out",
        "Resource temporarily unavailable",
        "temporarily unable",
        "Unable to contact slurm controller",
        "Transport endpoint is not connected",
    )

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self._sacct_usable = True
        self._reported_reasons: set[str] = set()
        self._hopeless_since: dict[str, float] = {}  # cluster ID -> first seen never-starting

    def check_resources(self, job: BatchJob) -> None:
        super().check_resources(job)
        for accelerator in job.resources.accelerators:
            kind = str(accelerator.get("kind", "gpu")).lower()
            if kind != "gpu":
                raise InsufficientResourcesError(
                    f"job {job.name!r} asks for a {kind!r} accelerator; the Slurm backend "
                    "can only request GPUs (--gres=gpu)"
                )

    # ----------------------------------------------------------------- submission
    def _extra_args(self) -> list[str]:
        extra = shlex.split(os.environ.get("TOIL_SLURM_ARGS", ""))
        return extra + shlex.split(self.settings.args or "")

    def _log_path(self, job: BatchJob, suffix: str) -> str:
        return log_file(self.settings.batch_logs_dir, job, suffix, "%j")

    def sbatch_options(self, job: BatchJob) -> list[str]:
        """The sbatch options for ``job`` (without the script), user overrides applied."""
        resources = job.resources
        cores = max(1, math.ceil(resources.cores))
        ours: list[tuple[str, str]] = [
            ("--job-name", re.sub(r"\s+", "_", job.name or job.job_id)[:128]),
            ("--cpus-per-task", str(cores)),
            ("--output", self._log_path(job, "out")),
            ("--error", self._log_path(job, "err")),
        ]
        if self.settings.allocate_mem:
            whole_node = self.settings.default_all_mem and resources.default_memory
            mem = "0" if whole_node else f"{max(1, math.ceil(resources.memory / 2**20))}M"
            ours.append(("--mem", mem))
        default = self.settings.default_walltime
        time_limit = (
            format_time(job.time_limit)
            if job.time_limit is not None
            else self.settings.time or (format_time(default) if default else None)
        )
        if time_limit:
            ours.append(("--time", time_limit))
        gpus = [a for a in resources.accelerators if str(a.get("kind", "gpu")).lower() == "gpu"]
        multi = self.settings.pe or None
        partition = multi if cores > 1 and multi else self.settings.partition
        if gpus and self.settings.gpu_partition:
            partition = self.settings.gpu_partition
        if partition:
            ours.append(("--partition", partition))
        qos = (self.settings.gpu_qos if gpus else None) or self.settings.qos
        if qos:
            ours.append(("--qos", qos))
        if gpus:
            count = sum(int(str(a.get("count", 1))) for a in gpus)
            model = gpus[0].get("model")
            ours.append(("--gres", f"gpu:{model}:{count}" if model else f"gpu:{count}"))
        extra = self._extra_args()
        overridden = {_option_name(a) for a in extra}
        argv = ["--parsable", "--export=ALL", "--no-requeue"]
        argv += [f"{flag}={value}" for flag, value in ours if flag not in overridden]
        return argv + extra

    def command_environment(self) -> dict[str, str]:
        """The environment of every Slurm command: this process's plus
        ``BatchConfig.environment`` (which may name ``SLURM_CONF``), less the ``SLURM_*``
        variables of an allocation this process may be running in."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("SLURM_") or k == "SLURM_CONF"
        }
        env.update(self.config.environment)
        return env

    def job_environment(self, job: BatchJob) -> dict[str, str]:
        """The environment sbatch runs with and exports to the job."""
        env = self.command_environment()
        env.update(job.environment)
        return source_tree_environment(env)

    def submit_command(self, job: BatchJob, batch_id: int) -> Command:
        script = (
            f"#!/bin/sh\n# moil job {job.job_id} (batch ID {batch_id})\n"
            f"exec {shlex.join(job.argv)}\n"
        )
        return Command(
            ("sbatch", *self.sbatch_options(job)),
            stdin=script,
            environment=self.job_environment(job),
        )

    def parse_submit_output(self, stdout: str) -> str:
        cluster_id = stdout.strip().split(";", 1)[0]
        if not re.fullmatch(r"\d+(_\d+)?", cluster_id):
            raise BatchSystemError(f"sbatch printed no job ID: {stdout.strip()[:200]!r}")
        return cluster_id

    # ----------------------------------------------------------------- status
    def status_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(
            (
                "squeue",
                "--noheader",
                "--states=all",
                f"--jobs={','.join(cluster_ids)}",
                f"--Format={_STATUS_FIELDS}",
            ),
            environment=self.command_environment(),
        )

    def parse_status(
        self, done: subprocess.CompletedProcess[str]
    ) -> dict[str, ClusterStatus] | None:
        if done.returncode != 0:
            # squeue fails this way only when none of the IDs is known any more.
            return {} if "Invalid job id" in done.stderr else None
        statuses: dict[str, ClusterStatus] = {}
        for line in done.stdout.splitlines():
            fields = line.split("|")
            if len(fields) < 6:
                continue
            cluster_id, state, reason, raw_exit, used, limit = (f.strip() for f in fields[:6])
            elapsed = parse_time(used)
            if state == "PENDING":
                statuses[cluster_id] = self.pending_status(cluster_id, reason, elapsed)
            elif state in _QUEUED_STATES:
                statuses[cluster_id] = ClusterStatus(Phase.QUEUED, elapsed)
            elif state in _RUNNING_STATES:
                statuses[cluster_id] = ClusterStatus(Phase.RUNNING, elapsed)
            else:
                raw = int(raw_exit) if raw_exit.isdigit() else 0
                info = self.exit_for(
                    cluster_id, state, (raw >> 8) & 0xFF, raw & 0x7F, elapsed, reason, limit
                )
                statuses[cluster_id] = ClusterStatus(Phase.ENDED, elapsed, info)
        return statuses

    def pending_status(self, cluster_id: str, reason: str, elapsed: float | None) -> ClusterStatus:
        """A pending job's status. Slurm accepts a job its partition can never run (with
        ``EnforcePartLimits=NO``, its default) and keeps it pending forever: such a job, once
        it has pended so for NEVER_STARTS_GRACE seconds, ends as ERROR (not retried) and is
        cancelled. Other unusual reasons are logged once."""
        cause = _never_starts(reason)
        if cause is None:
            self._hopeless_since.pop(cluster_id, None)
        else:
            since = self._hopeless_since.setdefault(cluster_id, time.monotonic())
            if time.monotonic() - since < NEVER_STARTS_GRACE:
                return ClusterStatus(Phase.QUEUED, elapsed)
            del self._hopeless_since[cluster_id]
            job = self.job_for(cluster_id)
            what = f"job {job.name!r}" if job else f"job {cluster_id}"
            message = (
                f"Slurm will never start {what} (Slurm job {cluster_id}) as submitted: "
                f"it pends with reason {reason}, {cause}; it was cancelled"
            )
            info = ExitInfo(ExitReason.ERROR, 1, message, elapsed)
            return ClusterStatus(Phase.ENDED, elapsed, info, cancel=True)
        if reason not in _ROUTINE_PENDING and reason not in self._reported_reasons:
            self._reported_reasons.add(reason)
            log.warning(
                "Slurm keeps job %s pending with reason %r; moil waits (later jobs pending "
                "for the same reason are not reported)",
                cluster_id,
                reason,
            )
        return ClusterStatus(Phase.QUEUED, elapsed)

    def exit_info(self, cluster_ids: Sequence[str]) -> dict[str, ExitInfo]:
        """One sacct for all jobs squeue forgot (only if Slurm keeps accounting)."""
        if not self._sacct_usable:
            return {}
        done = self.run_command(
            Command(
                (
                    "sacct",
                    "--noheader",
                    "--parsable2",
                    "--allocations",
                    f"--jobs={','.join(cluster_ids)}",
                    "--format=JobIDRaw,State,ExitCode,ElapsedRaw,Timelimit,Reason",
                ),
                environment=self.command_environment(),
            )
        )
        if done.returncode != 0 or "disabled" in done.stderr:
            log.info(
                "sacct unusable (%s); jobs that leave squeue unseen will count as lost",
                done.stderr.strip()[:200],
            )
            self._sacct_usable = False
            return {}
        found: dict[str, ExitInfo] = {}
        for line in done.stdout.splitlines():
            fields = line.split("|")
            if len(fields) < 6 or fields[0] not in cluster_ids:
                continue
            state = fields[1].split()[0] if fields[1] else ""
            if state in _QUEUED_STATES or state in _RUNNING_STATES:
                continue
            code, _, sig = fields[2].partition(":")
            elapsed = float(fields[3]) if fields[3].isdigit() else None
            found[fields[0]] = self.exit_for(
                fields[0], state, int(code or 0), int(sig or 0), elapsed, fields[5], fields[4]
            )
        return found

    def exit_for(
        self,
        cluster_id: str,
        state: str,
        code: int,
        signal: int,
        elapsed: float | None,
        reason: str,
        limit: str,
    ) -> ExitInfo:
        """An ended job's ExitInfo, with a message that names the cause."""
        job = self.job_for(cluster_id)
        status = code or (128 + signal if signal else 0)
        why = f" (Slurm reason: {reason})" if reason and reason not in ("None", "") else ""
        if state == "COMPLETED":
            return ExitInfo(ExitReason.FINISHED, 0, "", elapsed)
        if state in ("TIMEOUT", "DEADLINE"):
            what = (
                "its deadline"
                if state == "DEADLINE"
                else "its time limit of "
                + (format_time(job.time_limit) if job and job.time_limit else limit)
            )
            return ExitInfo(
                ExitReason.TIMELIMIT, status or 1, f"killed by Slurm for exceeding {what}", elapsed
            )
        if state == "OUT_OF_MEMORY" or self._memory_killed(cluster_id, job, signal):
            mem = f" of {math.ceil(job.resources.memory / 2**20)} MiB" if job else ""
            return ExitInfo(
                ExitReason.MEMLIMIT,
                status or 1,
                f"killed by Slurm for exceeding its memory limit{mem}",
                elapsed,
            )
        if state == "CANCELLED":
            return ExitInfo(
                ExitReason.KILLED,
                status or 1,
                f"cancelled outside this workflow (by a user or an admin){why}",
                elapsed,
            )
        if state in ("NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "REVOKED"):
            return ExitInfo(
                ExitReason.LOST, status or 1, f"lost: Slurm ended it as {state}{why}", elapsed
            )
        how = (
            f"the worker was killed by signal {signal}"
            if signal and not code
            else f"the worker exited with code {code}"
        )
        return ExitInfo(ExitReason.FAILED, status or 1, f"{how}; Slurm state {state}{why}", elapsed)

    def _memory_killed(self, cluster_id: str, job: BatchJob | None, signal: int) -> bool:
        """Sampling enforcement (no cgroups) leaves FAILED + signal 9 and a line in stderr."""
        if signal != 9 or job is None:
            return False
        path = self._log_path(job, "err").replace("%j", cluster_id)
        try:
            with open(path, "rb") as err:
                err.seek(max(0, os.fstat(err.fileno()).st_size - 8192))
                tail = err.read().decode(errors="replace")
        except OSError:
            return False
        low = tail.lower()
        return "exceeded memory limit" in low or "exceeded job memory limit" in low

    def cancel_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(("scancel", "--quiet", *cluster_ids), environment=self.command_environment())
