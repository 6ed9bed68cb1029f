"""HTCondor: each job is one ``condor_submit`` of a submit description (on stdin) whose
executable is a small script, written beside the work directory, that runs the worker.

Submission (``condor_submit -terse``, vanilla universe, no file transfer: the job store is
on a filesystem the execute machines share):

- ``request_cpus`` (cores rounded up), ``request_memory`` (MiB), ``request_disk`` (KiB);
- ``allowed_execute_duration`` from ``BatchJob.time_limit``, else ``--defaultWalltime``,
  and a ``periodic_hold`` of the same bound (HTCondor 23.9 does not hold a job for
  ``allowed_execute_duration`` alone; the schedd evaluates ``periodic_hold`` every
  ``PERIODIC_EXPR_INTERVAL``, 60 s by default, so a job may run that much longer);
- ``environment``: this process's environment plus ``BatchConfig.environment`` and
  ``BatchJob.environment`` (variables holding a newline or a quote HTCondor cannot carry
  are left out), the source tree on ``PYTHONPATH`` when moil runs from one;
- ``output``/``error`` into ``--batchLogsDir`` (``moil-<job>-<batch id>.out|.err``), else
  ``/dev/null``; ``+MoilToken`` marks this object's jobs;
- ``TOIL_HTCONDOR_PARAMS``: extra ``key = value`` lines, separated by ``;`` or newlines
  (Toil's variable), added last: a key given there replaces moil's.

At start, one ``condor_status`` gives the largest machine (``TotalCpus``, ``TotalMemory``): a
job asking for more is refused when issued (it would stay idle forever).

Status: one ``condor_q -json ID...`` per poll. Idle -> queued; running, transferring,
suspended -> running; held: ``HoldReasonCode`` 21 or a reason naming memory -> MEMLIMIT, a
reason naming the execute duration -> TIMELIMIT, any other hold -> ERROR with HTCondor's
reason; a held job is removed (``condor_rm``) before its end is handed out. Jobs condor_q no
longer lists are read from one ``condor_history -json -constraint 'MoilToken == ...'``:
``ExitCode`` 0 -> FINISHED, non-zero -> FAILED, ``ExitBySignal`` -> KILLED (signal), removed
by moil -> KILLED, removed by someone else -> KILLED with the ``RemoveReason``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shlex
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

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

_IDLE, _RUNNING, _REMOVED, _COMPLETED, _HELD, _TRANSFERRING, _SUSPENDED = 1, 2, 3, 4, 5, 6, 7
_HOLD_MEMORY = 21
_ATTRIBUTES = "ClusterId,JobStatus,HoldReasonCode,HoldReason"
_HISTORY = "ClusterId,JobStatus,ExitCode,ExitBySignal,ExitSignal,RemoveReason,RemoteWallClockTime"


@dataclass(frozen=True)
class HTCondorSettings(GridSettings):
    """HTCondor's own settings: Toil's environment variable."""

    kind: ClassVar[str] = "htcondor"

    params: str | None = setting(
        None,
        env="TOIL_HTCONDOR_PARAMS",
        help="extra submit description lines 'key = value', separated by ';'",
    )


def quote_environment(env: dict[str, str]) -> str:
    """``env`` in the submit description's quoted ``environment`` syntax."""
    parts = []
    for key, value in sorted(env.items()):
        if "\n" in value or '"' in value or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        parts.append(f"{key}='{value.replace(chr(39), chr(39) * 2)}'")
    return '"' + " ".join(parts) + '"'


class HTCondorBatchSystem(AbstractGridBatchSystem):
    """Runs each job as one HTCondor job; polls with one ``condor_q`` for all of them."""

    name: ClassVar[str] = "htcondor"
    settings_class: ClassVar[type[Settings]] = HTCondorSettings
    settings: HTCondorSettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        in_process=False, needs_shared_filesystem=True, accelerators=False, time_limits=True
    )
    required_commands: ClassVar[tuple[str, ...]] = ("condor_submit", "condor_q", "condor_rm")
    transient_errors: ClassVar[tuple[str, ...]] = (
        "Failed to connect to",
        "Can't find address of",
        "SECMAN:",
        "Connection timed out",
    )
    max_ids_per_command: ClassVar[int] = 500

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self.token = uuid.uuid4().hex[:12]
        self._largest: tuple[int, int] | None = None  # cores, MiB
        self._held: dict[str, ExitInfo] = {}

    def start(self) -> None:
        super().start()
        done = self.run_command(
            Command(
                ("condor_status", "-json", "-attributes", "TotalCpus,TotalMemory"),
                environment=self.command_environment(),
            )
        )
        try:
            machines = json.loads(done.stdout) if done.returncode == 0 else []
            self._largest = (
                max(int(m["TotalCpus"]) for m in machines),
                max(int(m["TotalMemory"]) for m in machines),
            )
        except (ValueError, KeyError, TypeError):
            log.info("condor_status gave no machine sizes: jobs are not checked against them")

    def check_resources(self, job: BatchJob) -> None:
        super().check_resources(job)
        self.refuse_accelerators(
            job, "give your site's request (request_gpus = 1) in TOIL_HTCONDOR_PARAMS"
        )
        if self._largest is None:
            return
        cores = max(1, math.ceil(job.resources.cores))
        mib = math.ceil(job.resources.memory / 2**20)
        if cores > self._largest[0] or mib > self._largest[1]:
            raise InsufficientResourcesError(
                f"job {job.name!r} needs {cores} cores and {mib} MiB, but the largest machine "
                f"of the pool (condor_status) has {self._largest[0]} cores and "
                f"{self._largest[1]} MiB: it would never match"
            )

    # ----------------------------------------------------------------- submission
    def description(self, job: BatchJob, batch_id: int, executable: str) -> str:
        """The submit description of ``job``, ``TOIL_HTCONDOR_PARAMS`` applied."""
        logs = self.settings.batch_logs_dir
        env = self.command_environment()
        env.update(job.environment)
        ours = {
            "universe": "vanilla",
            "executable": executable,
            "request_cpus": str(max(1, math.ceil(job.resources.cores))),
            "request_memory": str(max(1, math.ceil(job.resources.memory / 2**20))),
            "request_disk": str(max(1, math.ceil(job.resources.disk / 2**10))),
            "should_transfer_files": "NO",
            "output": log_file(logs, job, "out", str(batch_id)),
            "error": log_file(logs, job, "err", str(batch_id)),
            "environment": quote_environment(source_tree_environment(env)),
            "+MoilToken": f'"{self.token}"',
            "+MoilJob": json.dumps(job.name or job.job_id),
        }
        limit = self.time_limit(job)
        if limit is not None:
            seconds = max(1, math.ceil(limit))
            ours["allowed_execute_duration"] = str(seconds)
            # Not every HTCondor holds a job for allowed_execute_duration (Debian 13's 23.9
            # does not): the schedd's periodic check holds it too, with a reason saying so.
            ours["periodic_hold"] = (
                f"JobStatus == {_RUNNING} && time() - JobCurrentStartExecutingDate > {seconds}"
            )
            ours["periodic_hold_reason"] = f'"over its allowed execute duration of {seconds} s"'
        for line in re.split(r"[;\n]", self.settings.params or ""):
            key, sep, value = line.partition("=")
            if sep and key.strip():
                ours[key.strip()] = value.strip()
        return "".join(f"{key} = {value}\n" for key, value in ours.items()) + "queue\n"

    def submit_command(self, job: BatchJob, batch_id: int) -> Command:
        script = self.script_dir() / f"{batch_id}.sh"
        script.write_text(
            f"#!/bin/sh\n# moil job {job.job_id} (batch ID {batch_id})\n"
            f"cd {shlex.quote(str(Path.cwd()))} 2>/dev/null\nexec {shlex.join(job.argv)}\n"
        )
        script.chmod(0o755)
        return Command(
            ("condor_submit", "-terse"),
            stdin=self.description(job, batch_id, str(script)),
            environment=self.command_environment(),
        )

    def parse_submit_output(self, stdout: str) -> str:
        found = re.search(r"^(\d+)\.0", stdout.strip(), re.MULTILINE)
        if not found:
            raise BatchSystemError(f"condor_submit printed no job ID: {stdout.strip()[:200]!r}")
        return found.group(1)

    # ----------------------------------------------------------------- status
    def status_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(
            ("condor_q", "-json", "-attributes", _ATTRIBUTES, *cluster_ids),
            environment=self.command_environment(),
        )

    def parse_status(
        self, done: subprocess.CompletedProcess[str]
    ) -> dict[str, ClusterStatus] | None:
        if done.returncode != 0:
            return None
        try:
            ads: list[dict[str, Any]] = json.loads(done.stdout) if done.stdout.strip() else []
        except ValueError:
            log.warning("condor_q -json printed no JSON: %r", done.stdout[:200])
            return None
        statuses: dict[str, ClusterStatus] = {}
        for ad in ads:
            cluster_id, status = str(ad.get("ClusterId", "")), int(ad.get("JobStatus", 0))
            if status == _IDLE:
                statuses[cluster_id] = ClusterStatus(Phase.QUEUED)
            elif status in (_RUNNING, _TRANSFERRING, _SUSPENDED):
                statuses[cluster_id] = ClusterStatus(Phase.RUNNING)
            elif status == _HELD:
                info = self.held_exit(ad)
                self._held[cluster_id] = info
                statuses[cluster_id] = ClusterStatus(Phase.ENDED, None, info, cancel=True)
            elif status == _REMOVED and cluster_id in self._held:
                statuses[cluster_id] = ClusterStatus(Phase.ENDED, None, self._held[cluster_id])
        return statuses

    def held_exit(self, ad: dict[str, Any]) -> ExitInfo:
        """How a held job ends: HTCondor holds a job over its memory or duration."""
        reason = str(ad.get("HoldReason", ""))
        low = reason.lower()
        if int(ad.get("HoldReasonCode", 0) or 0) == _HOLD_MEMORY or "memory" in low:
            return ExitInfo(ExitReason.MEMLIMIT, 1, f"held by HTCondor: {reason}")
        if "execute duration" in low:
            return ExitInfo(ExitReason.TIMELIMIT, 1, f"held by HTCondor: {reason}")
        return ExitInfo(
            ExitReason.ERROR, 1, f"held by HTCondor (it would not run the job): {reason}"
        )

    def exit_info(self, cluster_ids: Sequence[str]) -> dict[str, ExitInfo]:
        """One condor_history of this object's jobs."""
        done = self.run_command(
            Command(
                (
                    "condor_history",
                    "-json",
                    "-attributes",
                    _HISTORY,
                    "-constraint",
                    f'MoilToken == "{self.token}"',
                ),
                environment=self.command_environment(),
            )
        )
        try:
            ads = json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else []
        except ValueError:
            return {}
        wanted, found = set(cluster_ids), {}
        for ad in ads:
            cluster_id = str(ad.get("ClusterId", ""))
            if cluster_id in wanted:
                found[cluster_id] = self._history_exit(cluster_id, ad)
        return found

    def _history_exit(self, cluster_id: str, ad: dict[str, Any]) -> ExitInfo:
        wall = ad.get("RemoteWallClockTime")
        wall_time = float(wall) if isinstance(wall, int | float) else None
        if cluster_id in self._held:
            return self._held[cluster_id]
        if int(ad.get("JobStatus", 0)) == _REMOVED:
            if self.was_cancelled(cluster_id):
                return ExitInfo(ExitReason.KILLED, 1, "removed on request (condor_rm)", wall_time)
            why = ad.get("RemoveReason", "no reason given")
            return ExitInfo(
                ExitReason.KILLED, 1, f"removed outside this workflow: {why}", wall_time
            )
        if ad.get("ExitBySignal"):
            signal = int(ad.get("ExitSignal", 0) or 0)
            return ExitInfo(
                ExitReason.KILLED, 128 + signal, f"killed by signal {signal}", wall_time
            )
        code = int(ad.get("ExitCode", 1) or 0)
        if code == 0:
            return ExitInfo(ExitReason.FINISHED, 0, "", wall_time)
        return ExitInfo(ExitReason.FAILED, code, f"the worker exited with code {code}", wall_time)

    def cancel_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(("condor_rm", *cluster_ids), environment=self.command_environment())
