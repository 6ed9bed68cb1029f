"""Torque / PBS: each job is one ``qsub`` of a small script that runs the worker command and
records its exit status.

Submission (``qsub -V``, a script file in this batch system's directory under
``BatchConfig.work_dir``, which the shared filesystem lets the job's host see; qsub reads
no script from stdin under every PBS):

- ``-l nodes=1:ppn=N`` (cores rounded up), ``mem=NNNmb`` (memory for the whole job, MiB
  rounded up), ``walltime=HH:MM:SS`` from ``BatchJob.time_limit``, else
  ``--defaultWalltime``; ``TOIL_TORQUE_REQS`` (comma-separated ``-l`` requests, Toil's) is
  added to that list and replaces a request of the same name (``walltime=``, ``mem=``...);
- ``-N`` the job's name (PBS allows 15 characters on older servers: cut to 15); ``-o/-e``
  into ``--batchLogsDir`` (``moil-<job>-<batch id>.out|.err``), else ``/dev/null``;
- ``-V``: the job gets this process's environment plus ``BatchConfig.environment`` and
  ``BatchJob.environment``; the source tree goes on ``PYTHONPATH`` when moil runs from one;
- ``TOIL_TORQUE_ARGS`` (shell-split) last; an option given there replaces moil's.

At start, one ``pbsnodes -a`` gives the largest ``np`` of any node: a job needing more cores
than that is refused when issued (PBS would queue it forever). If pbsnodes fails, no check.

Status: one ``qstat -f ID ID...`` per poll. ``job_state`` Q/H/W/T/S -> queued, R/E ->
running, C/F -> ended. The exit status comes from ``exit_status`` (Torque) or
``Exit_status`` (PBS Pro) when qstat gives it, else from the file the job script wrote
(``<work dir>/<batch id>.exit``). Torque's ``exit_status`` above 256 means killed by signal
(status - 256); Torque 6.1's ``exit_status`` -10, -11, -12 (the MOM killed the job over its
memory, walltime, CPU time) are MEMLIMIT and TIMELIMIT; a job that ended with neither
(killed by a signal from the scheduler, or ``qdel``) is KILLED when moil cancelled it, else
FAILED with a message saying so (retried). Older Torque and PBS Pro do not say in ``qstat``
which limit a job went over (PBS Pro reports the signal, 256 + 15), and Slurm's PBS wrappers
give no ``exit_status`` at all, so there a limit kill is FAILED or KILLED. Jobs qstat no longer lists end by their exit file, or
LOST after a few polls.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
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
    without_overridden,
)
from backends.errors import BatchSystemError, InsufficientResourcesError
from backends.settings import Settings, setting

log = logging.getLogger(__name__)

_QUEUED = frozenset("QHWTS")
_RUNNING = frozenset("RE")
_ENDED = frozenset("CFX")
# Torque's own exit_status of a job its MOM killed over a limit (Torque 6.1 and later:
# JOB_EXEC_OVERLIMIT_MEM, _WT, _CPUT).
_OVER_LIMIT = {
    -10: (ExitReason.MEMLIMIT, "memory"),
    -11: (ExitReason.TIMELIMIT, "walltime"),
    -12: (ExitReason.TIMELIMIT, "CPU time"),
}


@dataclass(frozen=True)
class TorqueSettings(GridSettings):
    """Torque's own settings: Toil's environment variables."""

    kind: ClassVar[str] = "torque"

    qsub_args: str | None = setting(
        None, env="TOIL_TORQUE_ARGS", help="extra qsub arguments (shell-split)"
    )
    requests: str | None = setting(
        None, env="TOIL_TORQUE_REQS", help="extra -l requests, comma-separated (walltime=...)"
    )


def format_walltime(seconds: float) -> str:
    """Seconds as PBS's ``HH:MM:SS`` (hours may pass 24; rounded up to a second)."""
    total = max(1, math.ceil(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def parse_full_status(text: str) -> dict[str, dict[str, str]]:
    """``qstat -f`` output as ``{job id: {attribute: value}}`` (the id without ``.server``)."""
    jobs: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("Job Id:"):
            current = jobs.setdefault(line.split(":", 1)[1].strip().split(".", 1)[0], {})
        elif current is not None and " = " in line:
            key, _, value = line.strip().partition(" = ")
            current[key.strip()] = value.strip()
    return jobs


class TorqueBatchSystem(AbstractGridBatchSystem):
    """Runs each job as one PBS job; polls with one ``qstat -f`` for all of them."""

    name: ClassVar[str] = "torque"
    settings_class: ClassVar[type[Settings]] = TorqueSettings
    settings: TorqueSettings
    # PBS enforces walltime, but qstat does not say a job was killed for it: moil cannot
    # report TIMELIMIT, so it does not claim to enforce time limits.
    capabilities: ClassVar[Capabilities] = Capabilities(
        in_process=False, needs_shared_filesystem=True, accelerators=False, time_limits=False
    )
    required_commands: ClassVar[tuple[str, ...]] = ("qsub", "qstat", "qdel")
    transient_errors: ClassVar[tuple[str, ...]] = (
        "Pbs Server is currently too busy",
        "cannot connect to server",
        "Premature end of message",
        "Socket timed out",
        "Unable to contact slurm controller",
    )

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self._max_ppn: int | None = None

    def start(self) -> None:
        super().start()
        self._max_ppn = self._largest_node()

    def _largest_node(self) -> int | None:
        done = self.run_command(Command(("pbsnodes", "-a"), environment=self.command_environment()))
        counts = [int(n) for n in re.findall(r"^\s*np = (\d+)", done.stdout, re.MULTILINE)]
        if done.returncode != 0 or not counts:
            log.info(
                "pbsnodes -a gave no node sizes (%s): jobs are not checked against them",
                done.stderr.strip()[:200],
            )
            return None
        return max(counts)

    def check_resources(self, job: BatchJob) -> None:
        super().check_resources(job)
        self.refuse_accelerators(job, "give your site's request in TOIL_TORQUE_REQS (gpus=1)")
        cores = max(1, math.ceil(job.resources.cores))
        if self._max_ppn is not None and cores > self._max_ppn:
            raise InsufficientResourcesError(
                f"job {job.name!r} needs {cores} cores, but the largest node PBS knows "
                f"(pbsnodes -a) has {self._max_ppn}: it could never start"
            )

    # ----------------------------------------------------------------- submission
    def exit_file(self, batch_id: int) -> Path:
        return self.script_dir() / f"{batch_id}.exit"

    def resource_list(self, job: BatchJob) -> str:
        """The ``-l`` list for ``job``: moil's requests, replaced or extended by
        ``TOIL_TORQUE_REQS``."""
        cores = max(1, math.ceil(job.resources.cores))
        ours = [
            ("nodes", f"1:ppn={cores}"),
            ("mem", f"{max(1, math.ceil(job.resources.memory / 2**20))}mb"),
        ]
        limit = self.time_limit(job)
        if limit is not None:
            ours.append(("walltime", format_walltime(limit)))
        extra = [r.strip() for r in (self.settings.requests or "").split(",") if r.strip()]
        kept = without_overridden(ours, extra, lambda r: r.split("=", 1)[0])
        return ",".join([f"{k}={v}" for k, v in kept] + extra)

    def qsub_options(self, job: BatchJob, batch_id: int) -> list[str]:
        """The qsub options for ``job`` (without the script), user overrides applied."""
        logs = self.settings.batch_logs_dir
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", job.name or job.job_id)[:15] or "job"
        ours = [
            ("-N", name if name[0].isalpha() else f"j{name}"[:15]),
            ("-o", log_file(logs, job, "out", str(batch_id))),
            ("-e", log_file(logs, job, "err", str(batch_id))),
            ("-l", self.resource_list(job)),
        ]
        extra = shlex.split(self.settings.qsub_args or "")
        kept = without_overridden(ours, extra, lambda a: a if a.startswith("-") else None)
        argv = ["-V"]
        for flag, value in kept:
            argv += [flag, value]
        return argv + extra

    def submit_command(self, job: BatchJob, batch_id: int) -> Command:
        exit_file = self.exit_file(batch_id)
        script = self.script_dir() / f"{batch_id}.sh"
        script.write_text(
            f"#!/bin/sh\n# moil job {job.job_id} (batch ID {batch_id})\n"
            f"{shlex.join(job.argv)}\nstatus=$?\n"
            f"echo $status > {shlex.quote(str(exit_file))}.tmp && "
            f"mv {shlex.quote(str(exit_file))}.tmp {shlex.quote(str(exit_file))}\n"
            "exit $status\n"
        )
        script.chmod(0o700)
        env = self.command_environment()
        env.update(job.environment)
        return Command(
            ("qsub", *self.qsub_options(job, batch_id), str(script)),
            environment=source_tree_environment(env),
        )

    def parse_submit_output(self, stdout: str) -> str:
        cluster_id = stdout.strip().split(".", 1)[0]
        if not cluster_id.isdigit():
            raise BatchSystemError(f"qsub printed no job ID: {stdout.strip()[:200]!r}")
        return cluster_id

    # ----------------------------------------------------------------- status
    def status_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(("qstat", "-f", *cluster_ids), environment=self.command_environment())

    def parse_status(
        self, done: subprocess.CompletedProcess[str]
    ) -> dict[str, ClusterStatus] | None:
        jobs = parse_full_status(done.stdout)
        if done.returncode != 0 and not jobs:
            # Torque: "Unknown Job Id"; Slurm's wrappers: exit 153 and nothing printed.
            unknown = done.returncode == 153 or "Unknown Job Id" in done.stderr
            return {} if unknown else None
        statuses: dict[str, ClusterStatus] = {}
        for cluster_id, attributes in jobs.items():
            state = attributes.get("job_state", "")[:1]
            if state in _QUEUED:
                statuses[cluster_id] = ClusterStatus(Phase.QUEUED)
            elif state in _RUNNING:
                statuses[cluster_id] = ClusterStatus(Phase.RUNNING)
            elif state in _ENDED:
                raw = attributes.get("exit_status", attributes.get("Exit_status"))
                info = self.exit_for(cluster_id, raw)
                if info is not None:
                    statuses[cluster_id] = ClusterStatus(Phase.ENDED, None, info)
        return statuses

    def exit_info(self, cluster_ids: Sequence[str]) -> dict[str, ExitInfo]:
        """Jobs qstat forgot: by the exit file their script wrote."""
        found = {}
        for cluster_id in cluster_ids:
            info = self.exit_for(cluster_id, None, final=False)
            if info is not None:
                found[cluster_id] = info
        return found

    def exit_for(self, cluster_id: str, raw: str | None, *, final: bool = True) -> ExitInfo | None:
        """How a job ended: from qstat's exit status ``raw``, else the job's exit file.
        Without either, a ``final`` answer (the scheduler says it ended) or None."""
        status: int | None = int(raw) if raw and re.fullmatch(r"-?\d+", raw) else None
        if status is None:
            status = self._recorded_status(cluster_id)
        if status is None:
            if not final:
                return None
            if self.was_cancelled(cluster_id):
                return ExitInfo(ExitReason.KILLED, 1, "cancelled on request (qdel)")
            return ExitInfo(
                ExitReason.FAILED,
                1,
                "the job ended without recording an exit status: PBS killed it (over its "
                "walltime or memory, or qdel by a user or an admin) or its host failed",
            )
        if status == 0:
            return ExitInfo(ExitReason.FINISHED, 0)
        if status > 256:
            reason = ExitReason.KILLED
            return ExitInfo(reason, status - 256 + 128, f"killed by signal {status - 256}")
        if status in _OVER_LIMIT:
            reason, what = _OVER_LIMIT[status]
            return ExitInfo(
                reason,
                1,
                f"Torque killed the job: it exceeded its {what} limit (exit_status {status})",
            )
        if status < 0:
            return ExitInfo(
                ExitReason.FAILED, 1, f"PBS could not run the job (exit_status {status})"
            )
        return ExitInfo(ExitReason.FAILED, status, f"the worker exited with code {status}")

    def _recorded_status(self, cluster_id: str) -> int | None:
        batch_id = self.batch_id_for(cluster_id)
        if batch_id is None:
            return None
        try:
            return int(self.exit_file(batch_id).read_text().strip())
        except (OSError, ValueError):
            return None

    def cancel_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(("qdel", *cluster_ids), environment=self.command_environment())
