"""Toil's command-line options, shared by the Python API and the ``toil-*-runner`` commands.

Option names are Toil's (a user interface); attributes keep Toil's names too so that scripts
written for Toil (``options.logLevel = "INFO"``, ``options.clean = "always"``) work.

``validate_options`` is the one place option values are checked, before a run creates
anything; ``parse_options_among`` reads runner options given after a command's positional
arguments.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from runner.config.units import parse_size
from runner.errors import UsageError

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


# -- checks before anything is created ------------------------------------------------------
#: (attribute, option, the smallest allowed value, whether it may equal it); None is allowed
_BOUNDS: tuple[tuple[str, str, float, bool], ...] = (
    ("retryCount", "--retryCount", 0, True),
    ("maxCores", "--maxCores", 0, False),
    ("maxMemory", "--maxMemory", 0, False),
    ("maxDisk", "--maxDisk", 0, False),
    ("defaultCores", "--defaultCores", 0, True),
    ("defaultMemory", "--defaultMemory", 0, True),
    ("defaultDisk", "--defaultDisk", 0, True),
    ("maxJobDuration", "--maxJobDuration", 0, False),
    ("statePollingWait", "--statePollingWait", 0, False),
    ("badWorkerFailInterval", "--badWorkerFailInterval", 0, True),
    ("maxLogFileSize", "--maxLogFileSize", 0, True),
)

#: options naming a directory the run writes into (made if missing)
_DIRECTORIES = (
    ("writeLogs", "--writeLogs"),
    ("writeLogsGzip", "--writeLogsGzip"),
    ("batchLogsDir", "--batchLogsDir"),
)


def validate_options(
    options: Any,
    *,
    directories: Mapping[str, str | None] | None = None,
    files: Mapping[str, str | None] | None = None,
) -> None:
    """Check the run's option values before anything is created (job store, directories).

    ``directories`` and ``files`` map a front end's option names (``--outdir``) to the
    output directories (made if missing) and files the run will write. Raises UsageError
    (exit 2) with one line naming the option, the value and what to do. Does no writes."""
    for attr, flag, low, inclusive in _BOUNDS:
        value = getattr(options, attr, None)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            _refuse(f"{flag} {value!r}: not a number")
        if value < low or (value == low and not inclusive):
            least = "0 or more" if inclusive else "more than 0"
            _refuse(f"{flag} {value:g}: must be {least}")
    _check_batch_system(getattr(options, "batchSystem", None))
    work = getattr(options, "workDir", None)
    if work:
        _check_work_dir(str(work))
    log_file = getattr(options, "logFile", None)
    if log_file:
        check_output_file("--logFile", str(log_file))
    for attr, flag in _DIRECTORIES:
        path = getattr(options, attr, None)
        if path:
            check_output_dir(flag, str(path))
    for flag, path in (directories or {}).items():
        if path:
            check_output_dir(flag, path)
    for flag, path in (files or {}).items():
        if path:
            check_output_file(flag, path)


def _refuse(message: str) -> NoReturn:
    raise UsageError(message)


def _check_batch_system(name: str | None) -> None:
    from backends.errors import UnknownBackendError
    from backends.registry import BATCH_SYSTEM_GROUP, load

    try:
        load(BATCH_SYSTEM_GROUP, str(name or "single_machine"))
    except UnknownBackendError as exc:
        _refuse(f"--batchSystem: {exc}")


def _check_work_dir(path: str) -> None:
    """``--workDir`` must be a directory that exists (Toil's rule) and that we may write."""
    if not os.path.exists(path):
        _refuse(f"--workDir {path}: no such directory; create it, or leave --workDir out")
    if not os.path.isdir(path):
        _refuse(f"--workDir {path}: not a directory; name a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        _refuse(f"--workDir {path}: permission denied; name a directory you can write")


def check_output_dir(flag: str, path: str) -> None:
    """``path`` is a directory the run may write into, or can be made (UsageError if not)."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            _refuse(f"{flag} {path}: not a directory; name a directory (made if missing)")
        if not os.access(path, os.W_OK | os.X_OK):
            _refuse(f"{flag} {path}: permission denied; name a directory you can write")
        return
    _check_creatable(flag, path)


def check_output_file(flag: str, path: str) -> None:
    """``path`` is a file the run may write (made or replaced): UsageError if not."""
    if os.path.isdir(path):
        _refuse(f"{flag} {path}: is a directory; name a file")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            _refuse(f"{flag} {path}: permission denied; name a file you can write")
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        _refuse(f"{flag} {path}: no such directory {parent}; create it first")
    _check_creatable(flag, path)


def _check_creatable(flag: str, path: str) -> None:
    """The nearest existing ancestor of ``path`` is a directory we may write."""
    ancestor = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        _refuse(f"{flag} {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        _refuse(f"{flag} {path}: cannot be made: permission denied in {ancestor}")


# -- runner options after the positional arguments ------------------------------------------
def parse_options_among(
    parser: argparse.ArgumentParser,
    tokens: Iterable[str],
    namespace: argparse.Namespace,
    *,
    keep: Iterable[str] = (),
) -> list[str]:
    """Parse the options of ``parser`` found anywhere in ``tokens`` into ``namespace``
    (over what it holds); return every other token, in order.

    ``parser`` has no positional arguments and should not abbreviate (``allow_abbrev``
    False, so that an input ``--out`` is not taken for ``--outdir``). Options named in
    ``keep`` (``--outdir``) are not parsed but returned with their values, for a command
    whose own inputs share names with runner options. Bad values exit as argparse does."""
    known = {s for a in parser._actions for s in a.option_strings}
    held = {name for name in keep if name in known}
    hidden: dict[str, str] = {}
    staged: list[str] = []
    for token in tokens:
        flag, sep, value = token.partition("=")
        if flag in held:
            alias = hidden.setdefault(flag, f"--moil-kept-{len(hidden)}")
            staged.append(alias + sep + value)
        else:
            staged.append(token)
    _, rest = parser.parse_known_args(staged, namespace)
    back = {alias: flag for flag, alias in hidden.items()}
    out = []
    for token in rest:
        alias, sep, value = token.partition("=")
        out.append(back.get(alias, alias) + sep + value if alias in back else token)
    return out
