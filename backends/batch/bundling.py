"""Bundles: several short ready jobs in one scheduler job (``--jobsPerAllocation N``).

A scheduler job costs a submission, a dispatch and a worker start (a Python start and the
front end's imports: about half a CPU-second for a CWL tool), which dwarfs a job that runs
``echo``. With ``--jobsPerAllocation N`` (N > 1) the cluster batch systems pack up to N
queued jobs of the same *shape* (resources, time limit, environment and worker command but
for the job ID) into one scheduler job. That job runs the worker's bundle form,
``python -m runner.worker LOCATOR --workers W --issued T ID ID ...``, which starts once,
loads what the jobs share once, and runs each job in a process forked from it, W at a time
(``--workersPerAllocation W``, default 1; the scheduler job asks for W times one job's cores,
memory and disk).

Each job of a bundle stays its own unit: its own input, result, log and running lock in the
job store, written by the process that ran it, so the leader retries it alone when it fails
and ``--restart`` adopts every result a bundle wrote. ``T`` is when the leader issued the
bundle: a bundle starts no further job once a later leader runs the store (its ``STATUS``
was written after ``T``), so a bundle that outlived a killed leader never runs a job the
new leader has issued again. What the leader hears of a bundle: every job ends when the
scheduler job ends (with its exit), and ``running_jobs`` lists the first one while it runs.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Hashable, Sequence

from backends.batch.base import BatchJob, Resources

BUNDLE_WAIT = 0.25
"""Seconds a job that could head a bundle waits for more of its shape before it goes with
fewer (the leader issues a scatter's jobs in one burst; this gathers the burst)."""


def shape(job: BatchJob) -> Hashable:
    """What jobs must share to go in one bundle."""
    return (
        job.resources,
        job.time_limit,
        tuple(sorted(job.environment.items())),
        job.locator,
        job.argv[:-1],
    )


def bundle_job(
    jobs: Sequence[BatchJob], workers: int, time_limit: float | None, issued: float | None = None
) -> BatchJob:
    """The one scheduler job that runs ``jobs`` (of one ``shape``), ``workers`` at a time.

    Its argv is the jobs' worker command with their IDs in place of the one ID it ends
    with (see ``runner.engine.worker``); it asks for ``workers`` times one job's cores,
    memory and disk (never more workers than jobs), and for one job's ``time_limit`` (None:
    the scheduler's default) times the rounds it runs."""
    head = jobs[0]
    if len(jobs) == 1:
        return head
    width = max(1, min(workers, len(jobs)))
    res = head.resources
    resources = Resources(
        cores=res.cores * width,
        memory=res.memory * width,
        disk=res.disk * width,
        accelerators=res.accelerators * width,
        preemptible=res.preemptible,
    )
    stamp = time.time() if issued is None else issued
    argv = (*head.argv[:-1], "--workers", str(width), "--issued", f"{stamp:.6f}",
            *(job.argv[-1] for job in jobs))  # fmt: skip
    return dataclasses.replace(
        head,
        job_id=f"{head.job_id}+{len(jobs) - 1}",
        name=f"{head.name} and {len(jobs) - 1} more",
        resources=resources,
        argv=argv,
        time_limit=None if time_limit is None else time_limit * math.ceil(len(jobs) / width),
    )
