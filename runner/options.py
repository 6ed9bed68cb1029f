"""Toil's command-line options, shared by the Python API and the ``toil-*-runner`` commands.

Option names are Toil's (a user interface); attributes keep Toil's names too so that scripts
written for Toil (``options.logLevel = "INFO"``, ``options.clean = "always"``) work.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from runner.units import parse_size

CLEAN_CHOICES = ("always", "onError", "never", "onSuccess")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "OFF")


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def add_toil_options(parser: argparse.ArgumentParser, *, job_store_positional: bool) -> None:
    """Add the core's options to ``parser``."""
    if job_store_positional:
        parser.add_argument("jobStore", help="job store locator: a path, file:PATH")
    else:
        parser.add_argument("--jobStore", "--jobstore", dest="jobStore", default=None,
                            help="job store locator (default: a new temporary file: store)")
    core = parser.add_argument_group("moil core options")
    core.add_argument("--batchSystem", "--batch-system", dest="batchSystem",
                      default=os.environ.get("TOIL_BATCH_SYSTEM", "single_machine"),
                      help="where jobs run: single_machine (default), slurm, ...")
    core.add_argument("--maxCores", type=float, default=None,
                      help="most cores used at once (default: all of this machine's)")
    core.add_argument("--maxMemory", type=_size, default=None,
                      help="most memory used at once (default: all of this machine's)")
    core.add_argument("--maxDisk", type=_size, default=None,
                      help="most disk used at once (default: the work dir's free space)")
    core.add_argument("--defaultCores", type=float, default=1.0)
    core.add_argument("--defaultMemory", type=_size, default=parse_size("2G"))
    core.add_argument("--defaultDisk", type=_size, default=parse_size("2G"))
    core.add_argument("--defaultAccelerators", default=None)
    core.add_argument("--defaultPreemptible", action="store_true", default=False)
    core.add_argument("--retryCount", type=int, default=1,
                      help="times a failed job is retried (default 1)")
    core.add_argument("--maxJobDuration", type=float, default=None,
                      help="kill a job that runs longer than this many seconds")
    core.add_argument("--restart", action="store_true", default=False,
                      help="resume the run kept in the job store")
    core.add_argument("--clean", choices=CLEAN_CHOICES, default=None,
                      help="when to delete the job store (default: never with --stats, "
                           "else onSuccess)")
    core.add_argument("--cleanWorkDir", choices=CLEAN_CHOICES, default="always")
    core.add_argument("--workDir", default=None,
                      help="where jobs get their temporary directories")
    core.add_argument("--stats", action="store_true", default=False,
                      help="record time and memory per job (keeps the job store)")
    core.add_argument("--logLevel", default="INFO", type=str.upper,
                      choices=LOG_LEVELS + ("WARN", "CRIT", "NOTSET"))
    for name, level in (("Off", "OFF"), ("Critical", "CRITICAL"), ("Error", "ERROR"),
                        ("Warning", "WARNING"), ("Info", "INFO"), ("Debug", "DEBUG")):
        core.add_argument(f"--log{name}", dest="logLevel", action="store_const", const=level)
    core.add_argument("--logFile", default=None, help="also write the log to this file")
    core.add_argument("--rotatingLogging", action="store_true", default=False)
    core.add_argument("--maxLogFileSize", type=_size, default=parse_size("100K"))
    core.add_argument("--writeLogs", nargs="?", const=os.getcwd(), default=None,
                      help="write each job's log into this directory")
    core.add_argument("--writeLogsGzip", nargs="?", const=os.getcwd(), default=None)
    core.add_argument("--writeLogsFromAllJobs", action="store_true", default=False)
    core.add_argument("--disableProgress", action="store_true", default=False)
    core.add_argument("--badWorker", type=_fraction, default=0.0,
                      help="fraction of job attempts whose worker is killed with SIGKILL after "
                           "the job ran (fault injection; a job's last allowed attempt is spared)")
    core.add_argument("--badWorkerFailInterval", type=float, default=0.01)
    core.add_argument("--statePollingWait", type=float, default=None,
                      help="seconds between polls of a cluster scheduler")
    core.add_argument("--batchLogsDir", default=None,
                      help="where a cluster scheduler writes its own stdout/stderr files")
    core.add_argument("--slurmPartition", default=None)
    core.add_argument("--slurmTime", default=None)
    core.add_argument("--slurmArgs", default=None)
    core.add_argument("--slurmPE", default=None,
                      help="Slurm partition for multi-core jobs (or TOIL_SLURM_PE)")


def default_options(job_store: str | None = None, **overrides: Any) -> argparse.Namespace:
    """Options with every default, as ``Job.Runner.getDefaultOptions`` gives them."""
    parser = argparse.ArgumentParser()
    add_toil_options(parser, job_store_positional=False)
    options = parser.parse_args([])
    options.jobStore = job_store
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def log_level(options: Any) -> int:
    """The numeric logging level of ``options.logLevel``."""
    name = str(getattr(options, "logLevel", "INFO") or "INFO").upper()
    if name == "OFF":
        return logging.CRITICAL + 10
    return {"WARN": logging.WARNING, "CRIT": logging.CRITICAL}.get(
        name, getattr(logging, name, logging.INFO)
    )
