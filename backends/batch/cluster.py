"""Shared machinery for batch systems driven by a scheduler's command-line tools.

Slurm is the first (``backends.batch.slurm``); LSF, Grid Engine, Torque and HTCondor are
small subclasses too. The queue, the submit/poll thread and the one-update-per-job rule are
``backends.batch.queued``'s; ``AbstractGridBatchSystem`` adds what is the same for every
command-line scheduler, and a subclass only builds commands and parses their output:

- ``submit_command``: the command that submits one job (argv, stdin, environment);
- ``parse_submit_output``: the scheduler's job ID from that command's output;
- ``status_command``: ONE command reporting the state of many jobs at once;
- ``parse_status``: its output as ``{cluster_id: ClusterStatus}`` (None: retry later);
- ``exit_info``: how jobs that left the queue ended, for many jobs in one go;
- ``cancel_command``: ONE command cancelling many jobs;
- ``check_resources`` (optional): refuse jobs the scheduler can never run.

Guarantees on top of ``backends.batch.queued``'s:

- A submission that fails is retried (with back-off) while its stderr is one the subclass
  calls transient; then the job ends with ``ExitReason.ERROR`` and the command's stderr.
- Each poll runs ONE status command for all live jobs (split only past
  ``max_ids_per_command`` IDs); jobs missing from its output are looked up with
  ``exit_info`` (batched).
- ``command_counts`` counts the scheduler commands run, by program name.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from backends.batch.base import BatchConfig, BatchJob
from backends.batch.queued import (
    DEFAULT_POLL_WAIT,
    KILL_TIMEOUT,
    MISSES_BEFORE_LOST,
    AbstractQueuedBatchSystem,
    ClusterStatus,
    ExitInfo,
    Phase,
    PollingSettings,
    parse_duration,
)
from backends.errors import BatchSystemError
from backends.settings import Settings, setting

__all__ = [
    "DEFAULT_POLL_WAIT",
    "KILL_TIMEOUT",
    "MISSES_BEFORE_LOST",
    "AbstractGridBatchSystem",
    "ClusterStatus",
    "Command",
    "ExitInfo",
    "GridSettings",
    "Phase",
    "log_file",
    "parse_duration",
    "source_tree_environment",
    "without_overridden",
]

log = logging.getLogger(__name__)

_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def source_tree_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this source tree first on ``PYTHONPATH`` when moil runs from one (not
    installed): the worker on a node must import the same packages as the leader."""
    if (_SOURCE_ROOT / "pyproject.toml").exists():
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if str(_SOURCE_ROOT) not in paths:
            env["PYTHONPATH"] = os.pathsep.join([str(_SOURCE_ROOT), *paths])
    return env


def log_file(logs_dir: str | None, job: BatchJob, suffix: str, job_id_token: str) -> str:
    """Where the scheduler writes ``job``'s stdout or stderr (``suffix`` "out"/"err"):
    ``moil-<job>-<token>.<suffix>`` in ``--batchLogsDir`` (``token`` the scheduler's
    placeholder for its job ID: ``%j``, ``$JOB_ID``), else ``/dev/null``."""
    if not logs_dir:
        return "/dev/null"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", job.job_id)[:80]
    return str(Path(logs_dir).resolve() / f"moil-{safe}-{job_id_token}.{suffix}")


def without_overridden(
    ours: Sequence[tuple[str, str]], extra: Sequence[str], name_of: Callable[[str], str | None]
) -> list[tuple[str, str]]:
    """Our ``(option, value)`` pairs less those an option in the user's ``extra`` arguments
    replaces (``name_of`` gives an argument's canonical option name, None for a value)."""
    overridden = {name_of(arg) for arg in extra}
    return [(flag, value) for flag, value in ours if flag not in overridden]


@dataclass(frozen=True)
class GridSettings(PollingSettings):
    """Options every scheduler driven by command-line tools takes (Toil's names)."""

    kind: ClassVar[str] = "grid"

    batch_logs_dir: str | None = setting(
        None,
        "--batchLogsDir",
        env="TOIL_BATCH_LOGS_DIR",
        check="output_dir",
        leader_only=True,
        help="where a cluster scheduler writes its own stdout/stderr files",
    )
    jobs_per_allocation: int = setting(
        1,
        "--jobsPerAllocation",
        minimum=1,
        help="pack up to N ready jobs of the same resources into one scheduler job "
        "(default 1: one scheduler job per job)",
    )
    workers_per_allocation: int = setting(
        1,
        "--workersPerAllocation",
        minimum=1,
        help="jobs a --jobsPerAllocation bundle runs at once; it asks for that many times "
        "one job's resources (default 1)",
    )


@dataclass(frozen=True)
class Command:
    """A scheduler command: its argv and what to feed it on stdin."""

    argv: tuple[str, ...]
    stdin: str | None = None
    environment: Mapping[str, str] | None = None
    """The whole environment for the command; None means this process's environment."""


class AbstractGridBatchSystem(AbstractQueuedBatchSystem):
    """A batch system that talks to a scheduler through its command-line tools."""

    settings_class: ClassVar[type[Settings]] = GridSettings
    settings: GridSettings
    required_commands: ClassVar[tuple[str, ...]] = ()
    """Programs that must be on PATH; ``start`` names the missing ones."""
    max_ids_per_command: ClassVar[int] = 1000
    """Job IDs per status or cancel command (keeps argv well under the system's limit)."""
    transient_errors: ClassVar[tuple[str, ...]] = ()
    """Substrings of a failed command's stderr that mean "try again" (a busy controller)."""
    submit_attempts: ClassVar[int] = 4

    def bundle_size(self) -> int:
        """``--jobsPerAllocation`` (see ``backends.batch.bundling``)."""
        return self.settings.jobs_per_allocation

    def bundle_workers(self) -> int:
        """``--workersPerAllocation``."""
        return self.settings.workers_per_allocation

    def __init__(self, config: BatchConfig) -> None:
        super().__init__(config)
        self._scripts: Path | None = None

    # ----------------------------------------------------------------- subclass hooks
    @abstractmethod
    def submit_command(self, job: BatchJob, batch_id: int) -> Command:
        """The command that submits ``job``."""

    @abstractmethod
    def parse_submit_output(self, stdout: str) -> str:
        """The scheduler's ID of the job just submitted. Raises BatchSystemError if absent."""

    @abstractmethod
    def status_command(self, cluster_ids: Sequence[str]) -> Command:
        """One command that reports the state of all ``cluster_ids``."""

    @abstractmethod
    def parse_status(
        self, done: subprocess.CompletedProcess[str]
    ) -> dict[str, ClusterStatus] | None:
        """The status command's result as ``{cluster_id: status}``; jobs it does not list are
        looked up with ``exit_info``. Returns None if the command failed (poll again later)."""

    def exit_info(self, cluster_ids: Sequence[str]) -> dict[str, ExitInfo]:
        """How these jobs, absent from the status output, ended; batched. Jobs left out stay
        unknown this poll. The default knows nothing."""
        return {}

    @abstractmethod
    def cancel_command(self, cluster_ids: Sequence[str]) -> Command:
        """One command that cancels all ``cluster_ids``."""

    # ----------------------------------------------------------------- the queued hooks
    def submit_job(self, job: BatchJob, batch_id: int) -> str:
        """Run ``submit_command``, retrying transient failures; the scheduler's job ID."""
        command = self.submit_command(job, batch_id)
        delay = 0.5
        for attempt in range(1, self.submit_attempts + 1):
            done = self.run_command(command)
            if done.returncode == 0:
                return self.parse_submit_output(done.stdout)
            if attempt == self.submit_attempts or not self.is_transient(done.stderr):
                break
            log.warning(
                "%s busy (%s); retrying in %.1fs",
                command.argv[0],
                done.stderr.strip()[-200:],
                delay,
            )
            time.sleep(delay)
            delay *= 2
        raise BatchSystemError(
            f"{os.path.basename(command.argv[0])} failed with exit code "
            f"{done.returncode} for job {job.name!r}: "
            f"{done.stderr.strip()[-2000:]}"
        )

    def cancel_jobs(self, cluster_ids: Sequence[str]) -> None:
        """One ``cancel_command`` per ``max_ids_per_command`` IDs."""
        for start in range(0, len(cluster_ids), self.max_ids_per_command):
            command = self.cancel_command(cluster_ids[start : start + self.max_ids_per_command])
            done = self.run_command(command)
            if done.returncode != 0:
                log.warning(
                    "%s exited %d: %s", command.argv[0], done.returncode, done.stderr.strip()[-500:]
                )

    def query_jobs(self, cluster_ids: Sequence[str]) -> dict[str, ClusterStatus] | None:
        """One ``status_command`` per ``max_ids_per_command`` IDs, then ``exit_info`` for
        the jobs it did not list."""
        statuses: dict[str, ClusterStatus] = {}
        for start in range(0, len(cluster_ids), self.max_ids_per_command):
            chunk = cluster_ids[start : start + self.max_ids_per_command]
            got = self.parse_status(self.run_command(self.status_command(chunk)))
            if got is None:
                return None
            statuses.update(got)
        missing = [c for c in cluster_ids if c not in statuses]
        if missing:
            for cluster_id, info in self.exit_info(missing).items():
                statuses[cluster_id] = ClusterStatus(Phase.ENDED, info.wall_time, info)
        return statuses

    # ----------------------------------------------------------------- helpers for subclasses

    def command_environment(self) -> dict[str, str]:
        """The environment of every scheduler command: this process's plus
        ``BatchConfig.environment`` (which may say where the scheduler is)."""
        env = dict(os.environ)
        env.update(self.config.environment)
        return env

    def script_dir(self) -> Path:
        """A directory of this object's own under ``BatchConfig.work_dir`` for job scripts
        and the files they leave (mode 0755: the job may run as another user, who must read
        its script), made on first use and removed by ``shutdown``. The work directory must
        be on the filesystem the nodes share."""
        with self._cond:
            if self._scripts is None:
                Path(self.config.work_dir).mkdir(parents=True, exist_ok=True)
                made = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=self.config.work_dir))
                made.chmod(0o755)
                self._scripts = made
            return self._scripts

    def run_command(self, command: Command) -> subprocess.CompletedProcess[str]:
        """Run a scheduler command and count it. Raises BatchSystemError if it cannot run."""
        name = os.path.basename(command.argv[0])
        self._counter.add(name)
        log.debug("running %s", " ".join(command.argv[:12]))
        try:
            return subprocess.run(
                command.argv,
                input=command.stdin,
                capture_output=True,
                text=True,
                env=None if command.environment is None else dict(command.environment),
                timeout=self.command_timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise BatchSystemError(
                f"{name} not found on PATH; is the scheduler's client installed on this host?"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise BatchSystemError(
                f"{name} did not answer within {self.command_timeout:.0f}s"
            ) from exc

    def is_transient(self, stderr: str) -> bool:
        """Whether a failed command's stderr says the scheduler is only busy."""
        return any(marker in stderr for marker in self.transient_errors)

    # ----------------------------------------------------------------- BatchSystem contract

    def start(self) -> None:
        """Check the scheduler's commands exist, make ``--batchLogsDir`` if it is missing
        and start the submit/poll thread.

        Raises BatchSystemError naming missing commands."""
        path = self.command_environment().get("PATH")
        missing = [c for c in self.required_commands if shutil.which(c, path=path) is None]
        if missing:
            raise BatchSystemError(
                f"{self.name}: command(s) not found on PATH: {', '.join(missing)}; run the "
                "leader on a host where the scheduler's client commands work"
            )
        if self.settings.batch_logs_dir:
            Path(self.settings.batch_logs_dir).mkdir(parents=True, exist_ok=True)
        super().start()

    def shutdown(self) -> None:
        """Cancel every job still live (one cancel command), wait for them to leave the
        queue, stop the background thread and remove ``script_dir``."""
        super().shutdown()
        if self._scripts is not None:
            shutil.rmtree(self._scripts, ignore_errors=True)
            self._scripts = None
