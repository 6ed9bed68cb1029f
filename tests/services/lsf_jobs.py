"""On-disk state of the LSF stand-in (tests/services/lsf.py): its configuration and one JSON
record per job, shared by the commands (``bsub``, ``bjobs``...) and the scheduling daemon.

Layout under ``LSB_SHAREDIR`` (named in ``$LSF_ENVDIR/lsf.conf``): ``jobs/ID.json`` (written
whole and renamed into place), ``next_id`` (under an exclusive lock), ``kill/ID`` (a request
from ``bkill``: signal name and who asked), ``scripts/ID`` (a job script read from stdin),
``mail/ID`` (the output of a job submitted without ``-o``, which LSF would mail), and
``daemon.pid``. ``bsub`` creates a record; after that only the daemon changes it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

UNFINISHED = ("PEND", "RUN", "PSUSP", "USUSP", "SSUSP")
FINISHED = ("DONE", "EXIT")
TERM_REASONS = {
    "TERM_OWNER": "job killed by owner",
    "TERM_ADMIN": "job killed by root or LSF administrator",
    "TERM_MEMLIMIT": "job killed after reaching LSF memory usage limit",
    "TERM_RUNLIMIT": "job killed after reaching LSF run time limit",
    "TERM_CWD_NOTEXIST": "current working directory is not accessible or does not exist",
}


class LsfDown(RuntimeError):
    """The stand-in's configuration or daemon cannot be found (``LSF_ENVDIR`` unset...)."""


@dataclass
class Config:
    """``lsf.conf`` and ``lsb.params`` of one stand-in cluster."""

    envdir: Path
    values: dict[str, str]

    @property
    def share(self) -> Path:
        return Path(self.values["LSB_SHAREDIR"])

    @property
    def cluster(self) -> str:
        return self.values.get("MOIL_LSF_CLUSTER", "moil")

    @property
    def host(self) -> str:
        return self.values["MOIL_LSF_HOST"]

    @property
    def slots(self) -> int:
        return int(self.values["MOIL_LSF_SLOTS"])

    @property
    def memory_mb(self) -> int:
        return int(self.values["MOIL_LSF_MEMORY_MB"])

    @property
    def terminate_interval(self) -> float:
        return float(self.values.get("JOB_TERMINATE_INTERVAL", "1"))

    @property
    def clean_period(self) -> float:
        return float(self.values.get("CLEAN_PERIOD", "3600"))


def read_conf(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, optional quotes), as LSF's files have them."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip().startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip('"')
    return values


def load_config(envdir: str | None = None) -> Config:
    """The configuration ``LSF_ENVDIR`` names. Raises LsfDown if there is none."""
    where = envdir or os.environ.get("LSF_ENVDIR")
    if not where or not (Path(where) / "lsf.conf").exists():
        raise LsfDown("LSF_ENVDIR is not set or has no lsf.conf")
    values = read_conf(Path(where) / "lsf.conf")
    params = Path(where) / "lsb.params"
    if params.exists():
        values.update(read_conf(params))
    return Config(Path(where), values)


@dataclass
class Job:
    """One job as ``bsub`` asked for it and as the daemon saw it run."""

    id: int
    name: str
    user: str
    uid: int
    gid: int
    queue: str
    command: str
    cwd: str
    submit_host: str
    env: dict[str, str]
    slots: int = 1
    mem_reserve_mb: int | None = None
    mem_limit_mb: int | None = None
    run_limit_s: int | None = None
    res_req: str = ""
    output: str | None = None
    error: str | None = None
    output_overwrite: bool = False
    error_overwrite: bool = False
    script: str | None = None
    stat: str = "PEND"
    pend_reason: str = "New job is waiting for scheduling;"
    submit_time: float = field(default_factory=time.time)
    start_time: float | None = None
    finish_time: float | None = None
    exit_code: int | None = None
    exit_reason: str = ""
    pid: int | None = None
    max_mem_mb: float = 0.0
    cpu_time: float = 0.0
    signals: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.stat in FINISHED

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


def jobs_dir(config: Config) -> Path:
    return config.share / "jobs"


def save(config: Config, job: Job) -> None:
    """Write a job's record whole, then rename it into place (readers never see half)."""
    target = jobs_dir(config) / f"{job.id}.json"
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(job.to_json())
    os.replace(partial, target)


def load(config: Config, job_id: int) -> Job | None:
    try:
        return Job.from_json((jobs_dir(config) / f"{job_id}.json").read_text())
    except (OSError, ValueError):
        return None


def all_jobs(config: Config) -> list[Job]:
    """Every job record, by id."""
    found = []
    for path in jobs_dir(config).glob("*.json"):
        try:
            found.append(Job.from_json(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda job: job.id)


def next_id(config: Config) -> int:
    """A new job id (1, 2, ...), unique across concurrent ``bsub`` calls."""
    path = config.share / "next_id"
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        current = int(handle.read().strip() or "1")
        handle.seek(0)
        handle.truncate()
        handle.write(str(current + 1))
    return current


def daemon_running(config: Config) -> bool:
    """Whether the stand-in's scheduling daemon runs (its pid file names a live process)."""
    try:
        pid = int((config.share / "daemon.pid").read_text())
        os.kill(pid, 0)
    except PermissionError:
        return True  # alive, and another user's (the daemon runs as root)
    except (OSError, ValueError):
        return False
    return True


def request_kill(config: Config, job_id: int, signal_name: str, requester: str) -> None:
    (config.share / "kill" / str(job_id)).write_text(f"{signal_name} {requester}\n")


def lsf_time(when: float | None) -> str:
    """LSF's short time: ``Dec  2 15:43`` (``-`` when unset)."""
    return time.strftime("%b %e %H:%M", time.localtime(when)) if when else "-"


def long_time(when: float) -> str:
    """LSF's event time in ``-l`` output: ``Wed Dec  2 15:43:38``."""
    return time.strftime("%a %b %e %H:%M:%S", time.localtime(when))


def term_reason(keyword: str) -> str:
    """``TERM_OWNER: job killed by owner`` (how ``bjobs -o exit_reason`` shows it)."""
    return f"{keyword}: {TERM_REASONS[keyword]}" if keyword else ""
