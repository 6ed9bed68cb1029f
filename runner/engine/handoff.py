"""The job hand-off between the leader and a worker: what crosses the store, and how.

1. The leader writes the job's ``JobInput`` (``write_input``: its pickled payload, the
   values of the promises it needs, its attempt) and issues ``worker_job`` to the batch
   system, which runs ``WORKER_ENTRY`` (in a pool process) or ``WORKER_COMMAND`` (on a
   cluster node) with the store's locator and the job's ID.
2. The worker reads the input (``read_input``), runs it (``runner.engine.execute``) with its
   output in the job's log, and stores the log and the ``JobResult`` (``finish``) while it
   holds the job's running lock, so a result is whole or absent.
3. The leader reads the result (``read_result``) when the batch system says the job ended,
   or on ``--restart`` for a job whose worker outlived its leader, and clears the job's
   input and result from the store.

A leader-local job (``JobRecord.local``) skips the store: the leader runs the same
``JobInput`` through ``execute`` itself. Names in the store: ``runner.engine.names``.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from dataclasses import dataclass, field
from typing import Any

from backends.batch.base import BatchJob, Resources
from backends.jobstore.base import JobStore
from runner.jobenv import realtime, secrets
from runner.model.promise import Promise
from runner.model.records import JobRecord

log = logging.getLogger(__name__)

#: what a batch system that runs Python in its own processes calls: ``run_job(locator, id)``
WORKER_ENTRY = "runner.engine.worker:run_job"
#: what a cluster batch system runs, followed by the locator and the job ID
WORKER_COMMAND = (sys.executable, "-m", "runner.worker")
#: the variables a worker inherits from the leader (plus the run's secrets)
#: the variables a worker gets from the leader (and real-time logging's address and level)
WORKER_VARIABLES = ("PATH", "PYTHONPATH", "HOME", "TMPDIR", *realtime.VARIABLES)
_PROTOCOL = pickle.HIGHEST_PROTOCOL


@dataclass
class JobInput:
    """What a worker needs to run one job (written by the leader)."""

    job_id: str
    executor: str
    name: str
    body: bytes
    values: dict[Promise, Any]
    attempt: int = 0
    local: bool = False
    #: the memory (bytes) the job was issued with (``--doubleMem`` watches it)
    memory: int | None = None

    @classmethod
    def of(cls, record: JobRecord, values: dict[Promise, Any]) -> JobInput:
        """The input of ``record``'s next attempt, given the values of its promises."""
        return cls(
            record.id,
            record.executor,
            record.name,
            record.body,
            values,
            record.attempts,
            record.local,
        )


@dataclass
class JobResult:
    """How one run of a job went (written by the worker)."""

    ok: bool
    value: bytes = b""
    promises: frozenset[Promise] = frozenset()
    new: list[JobRecord] = field(default_factory=list)
    error: str = ""
    details: str = ""
    retryable: bool = True
    #: the exit code the failure calls for: its MoilError's (33: an unsupported
    #: requirement), 1 for any other exception
    exit_code: int = 1
    #: figures of the attempt (with --stats; see runner.views.jobstats), numbers but for
    #: ``host`` (and, added by the leader, ``display`` and ``error``)
    stats: dict[str, float | str] = field(default_factory=dict)
    messages: list[tuple[str, int]] = field(default_factory=list)
    #: the job was killed for using more memory than it asked for (``--doubleMem`` retries
    #: it with twice the memory)
    over_memory: bool = False


def write_input(store: JobStore, job: JobInput) -> None:
    """Store ``job`` for the worker that will run it."""
    store.write_job_input(job.job_id, pickle.dumps(job, protocol=_PROTOCOL))


def read_input(store: JobStore, job_id: str) -> JobInput:
    """The input the leader stored for ``job_id``."""
    job: JobInput = pickle.loads(store.read_job_input(job_id))
    return job


def finish(store: JobStore, job_id: str, result: JobResult, log_path: str) -> None:
    """Store the job's log (written at ``log_path``) and how it went, as the worker's last
    step (it holds the running lock)."""
    store.finish_job(job_id, pickle.dumps(result, protocol=_PROTOCOL), log_path)


def read_result(store: JobStore, job_id: str, name: str = "") -> JobResult | None:
    """The result a worker stored for ``job_id``, if any. A result that cannot be read
    (truncated, garbage, not a result) counts as none, with a warning: the job runs again."""
    data = store.read_job_result(job_id)
    if data is None:
        return None
    try:
        result = pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 (any unpickling error means a damaged result)
        problem = f"{type(exc).__name__}: {exc}"
    else:
        if isinstance(result, JobResult):
            return result
        problem = f"it holds a {type(result).__name__}"
    label = f"{name} ({job_id})" if name else job_id
    log.warning(
        "the stored result of job %s cannot be read (%s, %d bytes); the job runs again",
        label,
        problem,
        len(data),
    )
    return None


def worker_job(
    store: JobStore, record: JobRecord, resources: Resources, time_limit: float | None
) -> BatchJob:
    """What the batch system is given to run ``record``'s stored input."""
    return BatchJob(
        job_id=record.id,
        name=record.name,
        resources=resources,
        locator=store.locator,
        entry=WORKER_ENTRY,
        argv=(*WORKER_COMMAND, store.locator, record.id),
        environment=worker_environment(),
        time_limit=time_limit,
    )


def worker_environment() -> dict[str, str]:
    """The environment a worker gets: ``WORKER_VARIABLES`` and the run's secrets."""
    env = {key: os.environ[key] for key in WORKER_VARIABLES if key in os.environ}
    env.update(secrets.worker_environment())  # in memory only: see runner.jobenv.secrets
    return env
