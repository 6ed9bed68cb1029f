"""The typed configuration of a run: ``RunConfig``, the core's settings (Toil's options,
snake_case in Python), with the chosen batch system's settings (``batch``) and the front
end's (``frontend``) inside.

Built once, before anything is created, by ``runner.config.build`` (from the command line
or the Python API's options object); frozen from then on. Stored in the job store as JSON
(``encode``/``decode``, versioned: ``VERSION``) without the settings only the leader's host
has (``Option.leader_only``), so a worker on any host reads it; a settings class is named
there by ``module:class`` and its values by their Toil names.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from backends.settings import NoSettings, Settings, declared, from_values, setting
from runner.config.units import parse_accelerators, parse_size
from runner.errors import UsageError

VERSION = 1
CLEAN_CHOICES = ("always", "onError", "never", "onSuccess")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "TRACE", "OFF")
LOG_ALIASES = ("WARN", "CRIT", "NOTSET")


def size(text: str) -> int:
    """A size option's value (``2G``, ``512M``, bytes); ValueError if it is not one."""
    return parse_size(text)


def fraction(text: str) -> float:
    """A number between 0 and 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{text} is not between 0 and 1")
    return value


def _accelerators(text: str) -> str:
    """An accelerator list (checked; kept as text: ``parse_accelerators`` reads it)."""
    parse_accelerators(text)
    return text


def _here() -> str:
    return os.getcwd()


@dataclass(frozen=True)
class RunConfig(Settings):
    """Every option of the core. ``batch`` holds the settings of ``batch_system``'s class,
    ``frontend`` those of the front end (None for the Python API); ``user_main`` is the
    Python API's main script, which workers load to find the classes it defines."""

    kind: ClassVar[str] = "core"

    job_store: str | None = setting(
        None,
        "--jobStore",
        "--jobstore",
        metavar="LOCATOR",
        help="job store locator: file:PATH or a path (default: a new temporary file: store)",
    )
    batch_system: str = setting(
        "single_machine",
        "--batchSystem",
        "--batch-system",
        env="TOIL_BATCH_SYSTEM",
        help="where jobs run: single_machine (default), slurm, ...",
    )
    max_cores: float | None = setting(
        None,
        "--maxCores",
        minimum=0,
        minimum_allowed=False,
        help="most cores used at once (default: all of this machine's)",
    )
    max_memory: int | None = setting(
        None,
        "--maxMemory",
        parse=size,
        minimum=0,
        minimum_allowed=False,
        help="most memory used at once (default: all of this machine's)",
    )
    max_disk: int | None = setting(
        None,
        "--maxDisk",
        parse=size,
        minimum=0,
        minimum_allowed=False,
        help="most disk used at once (default: the work dir's free space)",
    )
    default_cores: float = setting(
        1.0, "--defaultCores", minimum=0, help="cores of a job that does not say"
    )
    default_memory: int = setting(
        parse_size("2G"),
        "--defaultMemory",
        parse=size,
        minimum=0,
        help="memory of a job that does not say",
    )
    default_disk: int = setting(
        parse_size("2G"),
        "--defaultDisk",
        parse=size,
        minimum=0,
        help="disk of a job that does not say",
    )
    default_accelerators: str | None = setting(
        None,
        "--defaultAccelerators",
        metavar="ACCELERATOR[,ACCELERATOR...]",
        parse=_accelerators,
        help="accelerators of a job that does not say (gpu, gpu:2, cuda:1, nvidia-tesla-k80)",
    )
    default_preemptible: bool = setting(
        False,
        "--defaultPreemptible",
        "--defaultPreemptable",
        bare=True,
        metavar="BOOL",
        effect="jobs are marked preemptible; no moil batch system treats them differently",
        help="jobs that do not say may run on preemptible (spot) nodes",
    )
    retry_count: int = setting(
        1, "--retryCount", minimum=0, help="times a failed job is retried (default 1)"
    )
    retry_backoff_seconds: float = setting(
        0.0,
        "--retryBackoffSeconds",
        minimum=0,
        help="seconds before a failed job's first retry (default 0: at once; Toil's is 2)",
    )
    retry_backoff_factor: float = setting(
        3.0,
        "--retryBackoffFactor",
        minimum=1,
        help="each further retry waits this many times longer (default 3)",
    )
    real_time_logging: bool = setting(
        False,
        "--realTimeLogging",
        bare=True,
        metavar="BOOL",
        help="RealtimeLogger's lines of jobs reach the leader at --logLevel (else at INFO)",
    )
    stop_on_first_failure: bool = setting(
        False,
        "--stopOnFirstFailure",
        bare=True,
        metavar="BOOL",
        help="stop the run when a job has failed for the last time",
    )
    double_mem: bool = setting(
        False,
        "--doubleMem",
        bare=True,
        metavar="BOOL",
        help="retry a job killed for exceeding its memory with twice the memory (on the "
        "single machine, where nothing else enforces memory, a job's tools are then killed "
        "when they use more than it asked for)",
    )
    max_jobs: int = setting(
        0, "--maxJobs", minimum=0, help="most jobs issued to the batch system at once (0: no limit)"
    )
    max_local_jobs: int = setting(
        0,
        "--maxLocalJobs",
        minimum=0,
        effect="the leader runs its own jobs one at a time: any limit is met",
        help="most of the leader's own jobs at once (0: no limit)",
    )
    set_env: tuple[str, ...] = setting(
        (),
        "--setEnv",
        "-e",
        metavar="NAME=VALUE or NAME",
        help="set this variable in every job (NAME alone: its value in this environment)",
    )
    max_job_duration: float | None = setting(
        None,
        "--maxJobDuration",
        minimum=0,
        minimum_allowed=False,
        help="kill a job that runs longer than this many seconds",
    )
    restart: bool = setting(False, "--restart", help="resume the run kept in the job store")
    symlink_imports: bool = setting(
        True,
        "--symlinkImports",
        bare=True,
        metavar="BOOL",
        negate=("--noLinkImports",),
        consts={"--linkImports": True},
        effect="not yet: inputs are imported as they always are",
        help="import local inputs by link where the job store allows it (default true)",
    )
    move_outputs: bool = setting(
        False,
        "--moveOutputs",
        bare=True,
        metavar="BOOL",
        consts={"--moveExports": True, "--noMoveExports": False},
        effect="not yet: outputs are exported as they always are",
        help="move final outputs out of the job store instead of copying them",
    )
    caching: bool | None = setting(
        None,
        "--caching",
        bare=True,
        metavar="BOOL",
        negate=("--disableCaching",),
        effect="moil has no worker file cache: no effect",
        help="Toil's worker file cache (moil has none; not CWL/WDL call caching)",
    )
    disable_chaining: bool = setting(
        False,
        "--disableChaining",
        bare=True,
        metavar="BOOL",
        effect="moil never runs a successor in its predecessor's allocation: no effect",
        help="never run a job's successor in its allocation",
    )
    debug_worker: bool = setting(
        False,
        "--debugWorker",
        help="run every job in the leader's process, one at a time (for a debugger)",
    )
    call_cache: str | None = setting(
        None,
        "--callCache",
        "--cachedir",
        metavar="DIR",
        help="reuse results of earlier runs kept in DIR, and keep this run's there (off by "
        "default; --cachedir is cwltool's name)",
    )
    clean: str | None = setting(
        None,
        "--clean",
        choices=CLEAN_CHOICES,
        help="when to delete the job store (default: never with --stats, else onSuccess)",
    )
    clean_work_dir: str = setting(
        "always",
        "--cleanWorkDir",
        choices=CLEAN_CHOICES,
        help="when to delete a job's temporary directory",
    )
    work_dir: str | None = setting(
        None,
        "--workDir",
        check="existing_dir",
        env="TOIL_WORKDIR",
        help="where jobs get their temporary directories",
    )
    stats: bool = setting(
        False, "--stats", help="record time and memory per job (keeps the job store)"
    )
    report: str | None = setting(
        None,
        "--report",
        check="output_file",
        leader_only=True,
        help="write the HTML run report to this file when the run ends (records stats)",
    )
    trace: str | None = setting(
        None,
        "--trace",
        check="output_file",
        leader_only=True,
        help="write a trace of the job attempts (TSV, Nextflow's fields) to this file when "
        "the run ends (records stats)",
    )
    provenance: str | None = setting(
        None,
        "--provenance",
        check="output_dir",
        leader_only=True,
        help="write the run as a Workflow Run RO-Crate (Provenance Run Crate) into this "
        "directory when the run ends (records stats)",
    )
    orcid: str | None = setting(
        None, "--orcid", leader_only=True, help="--provenance: the ORCID of the person running it"
    )
    full_name: str | None = setting(
        None,
        "--full-name",
        leader_only=True,
        help="--provenance: the name of the person running it",
    )
    user_provenance: bool = setting(
        False,
        "--enable-user-provenance",
        negate=("--disable-user-provenance",),
        leader_only=True,
        help="--provenance: name the login user (if no --full-name)",
    )
    host_provenance: bool = setting(
        False,
        "--enable-host-provenance",
        negate=("--disable-host-provenance",),
        leader_only=True,
        help="--provenance: name the host and its system",
    )
    log_level: str = setting(
        "INFO",
        "--logLevel",
        parse=str.upper,
        choices=LOG_LEVELS + LOG_ALIASES,
        consts={
            "--logOff": "OFF",
            "--logCritical": "CRITICAL",
            "--logError": "ERROR",
            "--logWarning": "WARNING",
            "--logInfo": "INFO",
            "--logDebug": "DEBUG",
            "--logTrace": "TRACE",
        },
        help="how much the leader logs (TRACE: as DEBUG)",
    )
    log_colors: bool = setting(
        True,
        "--logColors",
        bare=True,
        metavar="BOOL",
        effect="not yet: log lines are never colored",
        help="color the log's level names on a terminal (default true)",
    )
    log_file: str | None = setting(
        None,
        "--logFile",
        check="output_file",
        leader_only=True,
        help="also write the log to this file",
    )
    rotating_logging: bool = setting(
        False, "--rotatingLogging", help="roll --logFile over past 10 MiB"
    )
    max_log_file_size: int = setting(
        parse_size("100K"),
        "--maxLogFileSize",
        parse=size,
        minimum=0,
        help="most bytes of a job's log written by --writeLogs (0: all)",
    )
    write_logs: str | None = setting(
        None,
        "--writeLogs",
        bare=_here,
        check="output_dir",
        leader_only=True,
        help="write each job's log into this directory",
    )
    write_logs_gzip: str | None = setting(
        None,
        "--writeLogsGzip",
        bare=_here,
        check="output_dir",
        leader_only=True,
        help="write each job's log, gzipped, into this directory",
    )
    write_logs_from_all_jobs: bool = setting(
        False,
        "--writeLogsFromAllJobs",
        bare=True,
        metavar="BOOL",
        help="--writeLogs: the logs of every job, not only of failed ones",
    )
    disable_progress: bool = setting(
        False, "--disableProgress", help="no progress bar on the terminal"
    )
    bad_worker: float = setting(
        0.0,
        "--badWorker",
        parse=fraction,
        help="fraction of job attempts whose worker is killed with SIGKILL after the job ran "
        "(fault injection; a job's last allowed attempt is spared)",
    )
    bad_worker_fail_interval: float = setting(
        0.01, "--badWorkerFailInterval", minimum=0, hidden=True
    )

    batch: Settings = field(default_factory=NoSettings)
    frontend: Settings | None = None
    user_main: str | None = None


def encode(config: RunConfig) -> bytes:
    """The stored form of ``config`` (JSON, versioned), without leader-only settings."""
    data = {
        "version": VERSION,
        "core": _values(config),
        "batch": _part(config.batch),
        "frontend": None if config.frontend is None else _part(config.frontend),
        "user_main": config.user_main,
    }
    return json.dumps(data, separators=(",", ":")).encode()


def decode(data: bytes) -> RunConfig:
    """The configuration ``encode`` stored. Raises UsageError for a store written by a moil
    whose configuration this one cannot read (another version, or not JSON)."""
    try:
        stored = json.loads(data)
    except ValueError:
        stored = None
    if not isinstance(stored, dict) or stored.get("version") != VERSION:
        found = stored.get("version") if isinstance(stored, dict) else "an older moil's"
        raise UsageError(
            f"the job store's configuration is of format {found}, which this moil does not "
            f"read (it reads {VERSION}); finish the run with the moil that started it"
        )
    frontend = stored.get("frontend")
    return from_values(
        RunConfig,
        stored["core"],
        batch=_settings_of(stored["batch"]),
        frontend=None if frontend is None else _settings_of(frontend),
        user_main=stored.get("user_main"),
    )


def _values(settings: Settings) -> dict[str, Any]:
    return {
        item.key: getattr(settings, item.name)
        for item in declared(type(settings))
        if not item.option.leader_only
    }


def _part(settings: Settings) -> dict[str, Any]:
    cls = type(settings)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "values": _values(settings)}


def _settings_of(part: dict[str, Any]) -> Settings:
    module, _, name = str(part["class"]).partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Settings)):
        raise UsageError(
            f"the job store's configuration names {part['class']}, which is not a settings class"
        )
    return from_values(cls, dict(part["values"]))
