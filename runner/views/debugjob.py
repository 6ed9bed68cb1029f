"""Rerun one job of a run in the foreground (``toil debug-job``), to see and fix a failure.

The job's input is rebuilt from the journal alone: its record (pickled payload, executor)
and the values of the promises it needs, taken from the replayed state. It runs through the
same ``runner.engine.execute.execute`` as in a worker, but in this process with its output on the
terminal. The journal is never written: what the job returns or adds is reported, not
recorded (files it writes land in the store as unreferenced files, like those of any
attempt that did not finish).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from backends.jobstore.base import JobStore
from runner.config.runconfig import RunConfig
from runner.engine.execute import execute
from runner.engine.handoff import JobInput, JobResult
from runner.engine.journal import replay
from runner.errors import UsageError
from runner.jobenv.filestore import remove_spares
from runner.model.state import StateMachine


@dataclass
class Loaded:
    """A replayed run: its state and the failure message of each failed job."""

    state: StateMachine
    failed: dict[str, str] = field(default_factory=dict)


def load_run(store: JobStore, config: RunConfig) -> Loaded:
    """Replay ``store``'s journal with the user's main module loadable (values included)."""
    from runner.engine.worker import load_user_main

    load_user_main(config.user_main)
    state = replay(store, config.retry_count)
    return Loaded(state, dict(state.failed))


def find_job(loaded: Loaded, key: str) -> str:
    """The ID of the job ``key`` names: a job ID, a unique ID prefix (4+ characters), or a
    job name / display name (among several, the failed one if only one failed). Raises
    UsageError listing the candidates otherwise."""
    jobs = loaded.state.jobs
    if key in jobs:
        return key
    matches = [j for j in jobs if len(key) >= 4 and j.startswith(key)]
    if not matches:
        matches = [
            j for j, job in jobs.items() if key in (job.record.name, job.record.display_name)
        ]
    if len(matches) > 1:
        failed = [j for j in matches if j in loaded.failed]
        if len(failed) == 1:
            return failed[0]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(
            f"no job {key!r} in this run; give a job ID or a job name "
            "(`toil status` lists the failed ones)"
        )
    shown = ", ".join(f"{j} ({jobs[j].record.display_name})" for j in matches[:10])
    raise UsageError(f"{len(matches)} jobs match {key!r}: {shown}; give a job ID")


def rerun_job(
    store: JobStore, config: RunConfig, loaded: Loaded, job_id: str, log: logging.Logger
) -> JobResult:
    """Run ``job_id`` here with the inputs it had; its result is returned, not journaled.
    Raises UsageError if a value it needs was never produced."""
    state = loaded.state
    record = state.record(job_id)
    missing = sorted({p.job_id for p in record.needs if p.job_id not in state.values})
    if missing:
        names = ", ".join(
            f"{state.record(j).display_name} {j[:8]}" if j in state.jobs else j for j in missing
        )
        raise UsageError(
            f"{record.display_name} cannot run yet: it needs the results of "
            f"{names}, which have not run"
        )
    job = JobInput.of(record, state.inputs_of(job_id))
    try:
        return execute(store, job, config, log)
    finally:
        remove_spares()  # the emptied job directory this process kept: it runs no other job
