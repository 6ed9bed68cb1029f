"""What a bundle of jobs asks the scheduler for (``backends.batch.bundling``)."""

from __future__ import annotations

import dataclasses

from backends.batch.base import BatchJob, Resources
from backends.batch.bundling import bundle_job, shape

MiB = 1024**2


def job(job_id: str, cores: float = 1.0) -> BatchJob:
    return BatchJob(job_id, f"step {job_id}", Resources(cores, 100 * MiB, 10 * MiB), "file:s",
                    "m:f", ("python", "-m", "runner.worker", "file:s", job_id))  # fmt: skip


def test_a_bundle_asks_for_its_workers_and_its_rounds() -> None:
    jobs = [job(f"j{i}") for i in range(5)]
    bundle = bundle_job(jobs, workers=2, time_limit=60.0, issued=12.5)
    assert bundle.argv == ("python", "-m", "runner.worker", "file:s", "--workers", "2",
                           "--issued", "12.500000", "j0", "j1", "j2", "j3", "j4")  # fmt: skip
    assert bundle.resources == Resources(2.0, 200 * MiB, 20 * MiB)
    assert bundle.time_limit == 180.0, "5 jobs 2 at a time: 3 rounds of one job's limit"
    assert bundle.job_id == "j0+4"
    assert bundle_job(jobs[:1], workers=2, time_limit=60.0) is jobs[0]
    assert bundle_job(jobs[:2], workers=8, time_limit=None).resources.cores == 2.0
    assert bundle_job(jobs[:2], workers=8, time_limit=None).time_limit is None


def test_only_jobs_of_one_shape_go_together() -> None:
    assert shape(job("a")) == shape(job("b"))
    assert shape(job("a")) != shape(job("b", cores=2))
    assert shape(job("a")) != shape(dataclasses.replace(job("b"), time_limit=5.0))
    assert shape(job("a")) != shape(dataclasses.replace(job("b"), environment={"X": "1"}))
