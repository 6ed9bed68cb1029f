"""IBM Spectrum LSF: each job is one ``bsub`` of a two-line script (on stdin) that runs the
worker command.

Tested against moil's stand-in for LSF's commands (tests/services/lsf.py), never against a
real LSF: no open implementation exists. The formats used are LSF 10.1's documented ones.

Submission (``bsub``, the job gets the submitter's environment, as LSF does by default):

- ``-n N`` (cores rounded up) with ``-R "span[hosts=1]"``: all of a job's slots on one host;
- memory as ``-R "rusage[mem=M MB]"`` (reserved; divided by N when ``bparams -a`` says
  ``RESOURCE_RESERVE_PER_TASK = Y``, read once at start) and ``-M M MB`` (the limit LSF
  kills the job at); units are given explicitly, so ``LSF_UNIT_FOR_LIMITS`` does not matter;
- ``-W`` minutes (rounded up) from ``BatchJob.time_limit``, else ``--defaultWalltime``;
- ``-J`` the job's name; ``-o/-e`` into ``--batchLogsDir`` (``moil-<job>-<LSF id>``), else
  ``/dev/null``; no GPUs (sites differ: ``-gpu`` or a resource; give it in
  ``TOIL_LSF_ARGS``);
- ``TOIL_LSF_ARGS`` (shell-split) last; an option given there replaces moil's.

At start, one ``bhosts`` gives the largest ``MAX`` (job slots) of any host: a job needing more
cores than that is refused when issued (LSF would keep it pending forever).

Status: one ``bjobs -a -json -o "jobid stat exit_code exit_reason pend_reason" ID...`` per
poll. PEND/PSUSP/WAIT -> queued; RUN/USUSP/SSUSP/PROV -> running; DONE -> FINISHED; EXIT by
its ``EXIT_REASON``: ``TERM_MEMLIMIT`` -> MEMLIMIT, ``TERM_RUNLIMIT`` -> TIMELIMIT,
``TERM_OWNER``/``TERM_ADMIN``/``TERM_FORCE_*`` -> KILLED, else FAILED with the exit code;
UNKWN/ZOMBI -> LOST.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shlex
import subprocess
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
    without_overridden,
)
from backends.errors import BatchSystemError, InsufficientResourcesError
from backends.settings import Settings, setting

log = logging.getLogger(__name__)

_FIELDS = "jobid stat exit_code exit_reason pend_reason"
_QUEUED = frozenset({"PEND", "PSUSP", "WAIT"})
_RUNNING = frozenset({"RUN", "USUSP", "SSUSP", "PROV"})
_LOST = frozenset({"UNKWN", "ZOMBI"})
_KILLED_BY = ("TERM_OWNER", "TERM_ADMIN", "TERM_FORCE_OWNER", "TERM_FORCE_ADMIN", "TERM_REQUEUE")


@dataclass(frozen=True)
class LsfSettings(GridSettings):
    """LSF's own settings: Toil's environment variable."""

    kind: ClassVar[str] = "lsf"

    bsub_args: str | None = setting(
        None, env="TOIL_LSF_ARGS", help="extra bsub arguments (shell-split)"
    )


class LsfBatchSystem(AbstractGridBatchSystem):
    """Runs each job as one LSF job; polls with one ``bjobs`` for all of them."""

    name: ClassVar[str] = "lsf"
    settings_class: ClassVar[type[Settings]] = LsfSettings
    settings: LsfSettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        in_process=False, needs_shared_filesystem=True, accelerators=False, time_limits=True
    )
    required_commands: ClassVar[tuple[str, ...]] = ("bsub", "bjobs", "bkill")
    transient_errors: ClassVar[tuple[str, ...]] = (
        "LSF is down",
        "Failed in an LSF library call",
        "batch system daemon not responding",
        "Cannot connect to LSF",
    )
    max_ids_per_command: ClassVar[int] = 500

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self._per_task = False
        self._max_slots: int | None = None

    def start(self) -> None:
        super().start()
        params = self.run_command(
            Command(("bparams", "-a"), environment=self.command_environment())
        )
        self._per_task = bool(re.search(r"RESOURCE_RESERVE_PER_TASK\s*=\s*[Yy]", params.stdout))
        hosts = self.run_command(Command(("bhosts",), environment=self.command_environment()))
        slots = [
            int(row.split()[3])
            for row in hosts.stdout.splitlines()[1:]
            if len(row.split()) > 3 and row.split()[3].isdigit()
        ]
        self._max_slots = max(slots) if hosts.returncode == 0 and slots else None

    def check_resources(self, job: BatchJob) -> None:
        super().check_resources(job)
        self.refuse_accelerators(job, "give your site's request (-gpu ...) in TOIL_LSF_ARGS")
        cores = max(1, math.ceil(job.resources.cores))
        if self._max_slots is not None and cores > self._max_slots:
            raise InsufficientResourcesError(
                f"job {job.name!r} needs {cores} cores, but the largest host LSF knows "
                f"(bhosts) has {self._max_slots} job slots: it could never start"
            )

    # ----------------------------------------------------------------- submission
    def bsub_options(self, job: BatchJob) -> list[str]:
        """The bsub options for ``job``, user overrides applied."""
        cores = max(1, math.ceil(job.resources.cores))
        mib = max(1, math.ceil(job.resources.memory / 2**20))
        reserve = max(1, math.ceil(mib / cores)) if self._per_task else mib
        logs = self.settings.batch_logs_dir
        ours = [
            ("-J", re.sub(r"\s+", "_", job.name or job.job_id)[:128]),
            ("-n", str(cores)),
            ("-R", f"span[hosts=1] rusage[mem={reserve}MB]"),
            ("-M", f"{mib}MB"),
            ("-o", log_file(logs, job, "out", "%J")),
            ("-e", log_file(logs, job, "err", "%J")),
        ]
        limit = self.time_limit(job)
        if limit is not None:
            ours.append(("-W", str(max(1, math.ceil(limit / 60)))))
        extra = shlex.split(self.settings.bsub_args or "")
        kept = without_overridden(ours, extra, lambda a: a if a.startswith("-") else None)
        return [part for pair in kept for part in pair] + extra

    def submit_command(self, job: BatchJob, batch_id: int) -> Command:
        script = (
            f"#!/bin/sh\n# moil job {job.job_id} (batch ID {batch_id})\n"
            f"exec {shlex.join(job.argv)}\n"
        )
        env = self.command_environment()
        env.update(job.environment)
        return Command(
            ("bsub", *self.bsub_options(job)),
            stdin=script,
            environment=source_tree_environment(env),
        )

    def parse_submit_output(self, stdout: str) -> str:
        found = re.search(r"Job <(\d+)> is submitted", stdout)
        if not found:
            raise BatchSystemError(f"bsub printed no job ID: {stdout.strip()[:200]!r}")
        return found.group(1)

    # ----------------------------------------------------------------- status
    def status_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(
            ("bjobs", "-a", "-json", "-o", _FIELDS, *cluster_ids),
            environment=self.command_environment(),
        )

    def parse_status(
        self, done: subprocess.CompletedProcess[str]
    ) -> dict[str, ClusterStatus] | None:
        try:
            records = json.loads(done.stdout).get("RECORDS", []) if done.stdout.strip() else []
        except (ValueError, AttributeError):
            log.warning("bjobs -json printed no JSON: %r", done.stdout[:200])
            return None
        if done.returncode != 0 and not records:
            return {} if "is not found" in done.stderr else None
        statuses: dict[str, ClusterStatus] = {}
        for record in records:
            cluster_id, stat = str(record.get("JOBID", "")), str(record.get("STAT", ""))
            if stat in _QUEUED:
                statuses[cluster_id] = ClusterStatus(Phase.QUEUED)
            elif stat in _RUNNING:
                statuses[cluster_id] = ClusterStatus(Phase.RUNNING)
            elif stat in ("DONE", "EXIT") or stat in _LOST:
                info = self.exit_for(stat, record)
                statuses[cluster_id] = ClusterStatus(Phase.ENDED, None, info)
        return statuses

    def exit_for(self, stat: str, record: dict[str, object]) -> ExitInfo:
        """An ended job's ExitInfo from its bjobs record."""
        code_text = str(record.get("EXIT_CODE") or "")
        code = int(code_text) if code_text.isdigit() else 0
        reason = str(record.get("EXIT_REASON") or "")
        term = reason.split(":", 1)[0]
        if stat == "DONE":
            return ExitInfo(ExitReason.FINISHED, 0)
        if stat in _LOST:
            return ExitInfo(ExitReason.LOST, 1, f"lost: LSF shows the job as {stat}")
        if term == "TERM_MEMLIMIT":
            return ExitInfo(ExitReason.MEMLIMIT, code or 1, f"killed by LSF: {reason}")
        if term == "TERM_RUNLIMIT":
            return ExitInfo(ExitReason.TIMELIMIT, code or 1, f"killed by LSF: {reason}")
        if term in _KILLED_BY:
            return ExitInfo(ExitReason.KILLED, code or 1, f"killed: {reason}")
        why = f" ({reason})" if reason else ""
        return ExitInfo(ExitReason.FAILED, code or 1, f"the worker exited with code {code}{why}")

    def cancel_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(("bkill", *cluster_ids), environment=self.command_environment())
