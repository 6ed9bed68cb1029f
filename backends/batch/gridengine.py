"""Grid Engine (Son of Grid Engine, Open Grid Scheduler, Univa/Altair Grid Engine): each job
is one ``qsub`` of a two-line script that runs the worker command.

Submission (``qsub -terse -V -cwd -S /bin/sh -w e``, script on stdin):

- cores rounded up; more than one: ``-pe PE N`` with PE from ``TOIL_GRIDENGINE_PE``
  (default ``shm``, Toil's; most sites call theirs ``smp``): Grid Engine gives a job slots
  of a parallel environment, not cores;
- memory as ``-l RESOURCE=...M`` for each resource named in ``TOIL_GRIDENGINE_MEMORY``
  (comma-separated; default ``h_vmem``; ``none``: no memory request), divided by the slots
  unless the site's complex says the resource is consumed per job (``consumable JOB`` in
  ``qconf -sc``, read once at start): Grid Engine multiplies a per-slot request by the
  slots;
- ``-l h_rt=SECONDS`` from ``BatchJob.time_limit``, else ``--defaultWalltime``;
- no GPUs: Grid Engine has no convention for them (sites name their own resource: put it
  in ``TOIL_GRIDENGINE_ARGS``); a job asking for one is refused with that advice;
- ``-o/-e`` into ``--batchLogsDir`` (``moil-<job>-<Grid Engine id>.out|.err``), else
  ``/dev/null``; ``-N`` the job's name plus a token of this batch system object (qacct finds
  this object's jobs by it);
- ``-V``: the job gets this process's environment plus ``BatchConfig.environment`` and
  ``BatchJob.environment`` (variables whose value holds a newline, which qsub cannot pass,
  are left out); the source tree goes on ``PYTHONPATH`` when moil runs from one;
- ``-w e``: qsub checks the request against the cluster's configuration and refuses one no
  queue, parallel environment or host can ever satisfy ("no suitable queues"), which ends
  the job as ERROR with qsub's message instead of pending forever;
- ``TOIL_GRIDENGINE_ARGS`` (shell-split) last; an option given there (``-pe``, ``-q``,
  ``-w``, ``-l RESOURCE=``...) replaces the one moil would have set.

Status: one ``qstat -xml`` per poll (this user's jobs; Grid Engine has no list-of-IDs form).
Jobs it no longer lists are looked up with one ``qacct -j '*.TOKEN'`` for all of them.
qacct's ``failed`` and ``exit_status`` give the outcome: 0 and 0 -> FINISHED; ``failed 0``
and a non-zero status -> FAILED; ``failed 37`` (qmaster enforced h_rt, h_cpu or h_vmem) ->
TIMELIMIT when the job ran to its ``h_rt``, else MEMLIMIT; ``failed 100`` with a signal ->
KILLED (qdel, or an admin); another ``failed`` code (the job could not be set up on its
host) -> FAILED with qacct's text. A job in error state (``Eqw``: it will never start as it
is) is cancelled and ends as ERROR with the reason ``qstat -j`` gives. A job deleted before
it started has no accounting record: cancelled by moil, it ends KILLED. A job qacct does not
know yet (its accounting is flushed late, ``accounting_flush_time``) stays unknown for up to
a minute before it counts as LOST.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
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
from backends.errors import BatchSystemError
from backends.settings import Settings, setting

log = logging.getLogger(__name__)

ACCOUNTING_GRACE = 60.0
"""Seconds a job may be missing from both qstat and qacct before it counts as lost."""
_FAILED_LIMIT = 37  # "qmaster enforced h_rt, h_cpu, or h_vmem limit"
_FAILED_AFTER_JOB = 100  # "assumedly after job": the job ran and was signalled
# Options that take a value (so that the value is not taken for an option).
_WITH_VALUE = frozenset(
    {"-pe", "-q", "-l", "-N", "-o", "-e", "-w", "-S", "-P", "-A", "-wd", "-hold_jid", "-p", "-j"}
)


@dataclass(frozen=True)
class GridEngineSettings(GridSettings):
    """Grid Engine's own settings: Toil's environment variables (Toil has no options)."""

    kind: ClassVar[str] = "grid_engine"

    qsub_args: str | None = setting(
        None, env="TOIL_GRIDENGINE_ARGS", help="extra qsub arguments (shell-split)"
    )
    parallel_environment: str = setting(
        "shm",
        env="TOIL_GRIDENGINE_PE",
        help="parallel environment for jobs of more than one core (default shm, Toil's)",
    )
    memory_resources: str = setting(
        "h_vmem",
        env="TOIL_GRIDENGINE_MEMORY",
        help="resources that carry a job's memory, comma-separated (default h_vmem; none)",
    )


def parse_accounting(text: str) -> list[dict[str, str]]:
    """``qacct -j`` output as one ``{field: value}`` per record."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("====="):
            if current:
                records.append(current)
            current = {}
            continue
        key, _, value = line.partition(" ")
        if key:
            current[key] = value.strip()
    if current:
        records.append(current)
    return records


def _leading_int(text: str) -> int:
    found = re.match(r"\s*(-?\d+)", text)
    return int(found.group(1)) if found else 0


def _seconds(text: str) -> float | None:
    """qacct's ``ru_wallclock`` (``12s``, ``12.000``) as seconds."""
    found = re.match(r"\s*([\d.]+)", text)
    return float(found.group(1)) if found else None


def _requested(category: str, resource: str) -> str | None:
    """The value of ``-l RESOURCE=`` in qacct's ``category`` (``-l h_rt=60,h_vmem=1G``)."""
    found = re.search(rf"(?:^|[\s,]){re.escape(resource)}=([^\s,]+)", category)
    return found.group(1) if found else None


def _option_name(arg: str) -> str | None:
    """An argument's option for overriding: ``-l h_vmem=1G`` -> ``-l h_vmem``."""
    return arg if arg.startswith("-") else None


class GridEngineBatchSystem(AbstractGridBatchSystem):
    """Runs each job as one Grid Engine job; polls with one qstat for all of them."""

    name: ClassVar[str] = "grid_engine"
    settings_class: ClassVar[type[Settings]] = GridEngineSettings
    settings: GridEngineSettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        in_process=False, needs_shared_filesystem=True, accelerators=False, time_limits=True
    )
    required_commands: ClassVar[tuple[str, ...]] = ("qsub", "qstat", "qdel", "qacct")
    transient_errors: ClassVar[tuple[str, ...]] = (
        "unable to contact qmaster",
        "unable to send message to qmaster",
        "failed receiving gdi request",
        "commlib error: got select error",
        "Resource temporarily unavailable",
    )

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self.token = "m" + uuid.uuid4().hex[:10]
        self._per_job: frozenset[str] = frozenset()
        self._started: set[str] = set()  # jobs qstat showed running (accounted when they end)

    def start(self) -> None:
        super().start()
        self._per_job = self._resources_per_job()

    def _resources_per_job(self) -> frozenset[str]:
        """The memory resources the site's complex consumes per job (``JOB``)."""
        wanted = set(self.memory_resources())
        if not wanted:
            return frozenset()
        done = self.run_command(Command(("qconf", "-sc"), environment=self.command_environment()))
        if done.returncode != 0:
            log.info(
                "qconf -sc failed (%s): memory requests taken as per slot",
                done.stderr.strip()[:200],
            )
            return frozenset()
        per_job = set()
        for line in done.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 7 and fields[0] in wanted and fields[5].upper() == "JOB":
                per_job.add(fields[0])
        return frozenset(per_job)

    def memory_resources(self) -> list[str]:
        names = [n.strip() for n in self.settings.memory_resources.split(",") if n.strip()]
        return [] if names in ([], ["none"]) else names

    def misses_before_lost(self) -> int:
        return max(3, math.ceil(ACCOUNTING_GRACE / self.poll_wait))

    def check_resources(self, job: BatchJob) -> None:
        super().check_resources(job)
        self.refuse_accelerators(
            job, "give your site's resource in TOIL_GRIDENGINE_ARGS (for example '-l gpu=1')"
        )

    # ----------------------------------------------------------------- submission
    def _extra_args(self) -> list[str]:
        return shlex.split(self.settings.qsub_args or "")

    def job_name(self, job: BatchJob) -> str:
        """The job's name for Grid Engine: its own (letters, digits, ``_.-``) and the token."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", job.name or job.job_id)[:60] or "job"
        return f"{'j' if safe[0].isdigit() else ''}{safe}.{self.token}"

    def qsub_options(self, job: BatchJob) -> list[str]:
        """The qsub options for ``job`` (without the script), user overrides applied."""
        slots = max(1, math.ceil(job.resources.cores))
        logs = self.settings.batch_logs_dir
        ours: list[tuple[str, str]] = [
            ("-N", self.job_name(job)),
            ("-o", log_file(logs, job, "out", "$JOB_ID")),
            ("-e", log_file(logs, job, "err", "$JOB_ID")),
            ("-w", "e"),
        ]
        if slots > 1:
            ours.append(("-pe", f"{self.settings.parallel_environment} {slots}"))
        mib = max(1, math.ceil(job.resources.memory / 2**20))
        for resource in self.memory_resources():
            amount = mib if resource in self._per_job else max(1, math.ceil(mib / slots))
            ours.append((f"-l {resource}", f"{amount}M"))
        limit = self.time_limit(job)
        if limit is not None:
            ours.append(("-l h_rt", str(max(1, math.ceil(limit)))))
        extra = self._extra_args()
        names = []
        for index, arg in enumerate(extra):
            if arg == "-l" and index + 1 < len(extra):
                names += [f"-l {r.split('=', 1)[0]}" for r in extra[index + 1].split(",")]
            elif index == 0 or extra[index - 1] not in _WITH_VALUE:
                names.append(arg)
        kept = without_overridden(ours, names, _option_name)
        argv = ["-terse", "-V", "-cwd", "-S", "/bin/sh"]
        for flag, value in kept:
            if flag.startswith("-l "):
                argv += ["-l", f"{flag[3:]}={value}"]
            else:
                argv += [flag, *value.split(" ")]
        return argv + extra

    def job_environment(self, job: BatchJob) -> dict[str, str]:
        """The environment qsub runs with and exports to the job (``-V``)."""
        env = self.command_environment()
        env.update(job.environment)
        return source_tree_environment(
            {k: v for k, v in env.items() if "\n" not in v and not k.startswith("BASH_FUNC_")}
        )

    def submit_command(self, job: BatchJob, batch_id: int) -> Command:
        script = (
            f"#!/bin/sh\n# moil job {job.job_id} (batch ID {batch_id})\n"
            f"exec {shlex.join(job.argv)}\n"
        )
        return Command(
            ("qsub", *self.qsub_options(job)), stdin=script, environment=self.job_environment(job)
        )

    def parse_submit_output(self, stdout: str) -> str:
        cluster_id = stdout.strip().split(".", 1)[0]
        if not cluster_id.isdigit():
            raise BatchSystemError(f"qsub printed no job ID: {stdout.strip()[:200]!r}")
        return cluster_id

    # ----------------------------------------------------------------- status
    def status_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(("qstat", "-xml"), environment=self.command_environment())

    def parse_status(
        self, done: subprocess.CompletedProcess[str]
    ) -> dict[str, ClusterStatus] | None:
        if done.returncode != 0:
            return None
        try:
            root = ET.fromstring(done.stdout)
        except ET.ParseError:
            log.warning("qstat -xml printed no XML: %r", done.stdout[:200])
            return None
        statuses: dict[str, ClusterStatus] = {}
        in_error = []
        now = time.time()
        for entry in root.iter("job_list"):
            cluster_id = entry.findtext("JB_job_number", "")
            if not self.job_for(cluster_id):
                continue
            state = entry.findtext("state", "")
            started = entry.findtext("JAT_start_time")
            elapsed = _elapsed(started, now) if started else None
            if "E" in state:
                in_error.append(cluster_id)
            elif state.endswith("r") or "t" in state or "s" in state or "S" in state:
                self._started.add(cluster_id)
                statuses[cluster_id] = ClusterStatus(Phase.RUNNING, elapsed)
            else:
                statuses[cluster_id] = ClusterStatus(Phase.QUEUED, elapsed)
        statuses.update(self._errored(in_error))
        return statuses

    def _errored(self, cluster_ids: list[str]) -> dict[str, ClusterStatus]:
        """Jobs in error state (``Eqw``), with the reason from one ``qstat -j``: ERROR and
        cancelled (Grid Engine would hold them until an admin clears the error)."""
        if not cluster_ids:
            return {}
        done = self.run_command(
            Command(("qstat", "-j", ",".join(cluster_ids)), environment=self.command_environment())
        )
        reasons: dict[str, str] = {}
        current = ""
        for line in done.stdout.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "job_number":
                current = value.strip()
            elif key.strip().startswith("error reason") and current:
                reasons[current] = value.strip()
        out = {}
        for cluster_id in cluster_ids:
            job = self.job_for(cluster_id)
            what = f"job {job.name!r}" if job else f"job {cluster_id}"
            why = reasons.get(cluster_id, "no reason given by qstat -j")
            message = (
                f"Grid Engine put {what} (Grid Engine job {cluster_id}) in error state and "
                f"will not start it: {why}; it was cancelled"
            )
            out[cluster_id] = ClusterStatus(
                Phase.ENDED, None, ExitInfo(ExitReason.ERROR, 1, message), cancel=True
            )
        return out

    def exit_info(self, cluster_ids: Sequence[str]) -> dict[str, ExitInfo]:
        """One qacct for every job of this object; jobs it does not list, that moil
        cancelled and that qstat never showed running end KILLED (Grid Engine keeps no
        record of a job that never started)."""
        done = self.run_command(
            Command(("qacct", "-j", f"*.{self.token}"), environment=self.command_environment())
        )
        wanted = set(cluster_ids)
        found: dict[str, ExitInfo] = {}
        if done.returncode == 0:
            for record in parse_accounting(done.stdout):
                cluster_id = record.get("jobnumber", "")
                if cluster_id in wanted:
                    found[cluster_id] = self.exit_for(cluster_id, record)
        for cluster_id in wanted - set(found):
            if self.was_cancelled(cluster_id) and cluster_id not in self._started:
                found[cluster_id] = ExitInfo(
                    ExitReason.KILLED, 1, "cancelled on request before it started"
                )
        return found

    def exit_for(self, cluster_id: str, record: dict[str, str]) -> ExitInfo:
        """An ended job's ExitInfo from its qacct record, with a message naming the cause."""
        job = self.job_for(cluster_id)
        failed_text = record.get("failed", "0")
        failed = _leading_int(failed_text)
        status = _leading_int(record.get("exit_status", "0"))
        wall = _seconds(record.get("ru_wallclock", ""))
        category = record.get("category", "")
        why = failed_text.partition(":")[2].strip()
        if failed == 0 and status == 0:
            return ExitInfo(ExitReason.FINISHED, 0, "", wall)
        if failed == _FAILED_LIMIT:
            limit = _requested(category, "h_rt")
            if limit is not None and wall is not None and wall + 1 >= float(limit):
                return ExitInfo(
                    ExitReason.TIMELIMIT,
                    status or 1,
                    f"killed by Grid Engine for exceeding its time limit of {limit}s (h_rt)",
                    wall,
                )
            mem = f" of {math.ceil(job.resources.memory / 2**20)} MiB" if job else ""
            return ExitInfo(
                ExitReason.MEMLIMIT,
                status or 1,
                f"killed by Grid Engine for exceeding its memory limit{mem} "
                f"(maxvmem {record.get('maxvmem', '?')}; Grid Engine: {why})",
                wall,
            )
        if failed == 0 or (failed == _FAILED_AFTER_JOB and status <= 128):
            return ExitInfo(
                ExitReason.FAILED, status, f"the worker exited with code {status}", wall
            )
        if failed == _FAILED_AFTER_JOB:
            return ExitInfo(
                ExitReason.KILLED,
                status,
                f"killed by signal {status - 128} (qdel by a user or an admin, or the "
                "host's limits)",
                wall,
            )
        return ExitInfo(
            ExitReason.FAILED,
            status or 1,
            f"Grid Engine could not run the job on {record.get('hostname', 'its host')}: "
            f"failed {failed_text}",
            wall,
        )

    def cancel_command(self, cluster_ids: Sequence[str]) -> Command:
        return Command(("qdel", *cluster_ids), environment=self.command_environment())


def _elapsed(started: str, now: float) -> float | None:
    """Seconds since qstat's ``JAT_start_time`` (``2026-12-03T13:19:18``, local time)."""
    try:
        return max(0.0, now - time.mktime(time.strptime(started[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None
