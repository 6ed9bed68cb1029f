"""Jobs and update collection for the tests of the cluster batch systems (Slurm, Grid
Engine, Torque...): plain shell commands, no leader or worker involved."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from backends.batch.base import BatchConfig, BatchJob, BatchSystem, Resources, UpdatedJob
from backends.settings import from_values

B = TypeVar("B", bound=BatchSystem)

MiB = 1024**2
WAIT = 180.0  # upper bound for something that should happen; never an assertion


def make_system(
    cls: type[B], work_dir: Path, environment: Mapping[str, str] | None = None, **options: object
) -> B:
    """An unstarted ``cls`` with no bound of moil's own on jobs in flight (the scheduler
    alone decides what runs), its settings from ``options`` by Toil name (polling every
    0.5 s unless given) and its commands' environment ``environment``."""
    options.setdefault("statePollingWait", 0.5)
    settings = from_values(cls.settings_class, options)
    config = BatchConfig(
        math.inf, 2**62, 2**62, str(work_dir), settings=settings, environment=environment or {}
    )
    return cls(config)


def shell_job(
    job_id: str,
    script: str,
    *,
    cores: float = 1,
    memory: int = 256 * MiB,
    time_limit: float | None = None,
    env: dict[str, str] | None = None,
) -> BatchJob:
    """A job named ``test JOB_ID`` that runs ``sh -c SCRIPT``."""
    return BatchJob(
        job_id=job_id,
        name=f"test {job_id}",
        resources=Resources(cores=cores, memory=memory),
        locator="unused",
        entry="unused:unused",
        argv=("sh", "-c", script),
        environment=env or {},
        time_limit=time_limit,
    )


def collect(system: BatchSystem, count: int) -> dict[int, UpdatedJob]:
    """Wait for ``count`` updates, by batch ID (failing if one batch ID comes twice)."""
    updates: dict[int, UpdatedJob] = {}
    deadline = time.monotonic() + WAIT
    while len(updates) < count and time.monotonic() < deadline:
        update = system.get_updated_job(timeout=1.0)
        if update is not None:
            assert update.batch_id not in updates, f"second update for {update}"
            updates[update.batch_id] = update
    assert len(updates) == count, f"only {len(updates)} of {count} jobs ended: {updates}"
    return updates


def collect_by_job(system: BatchSystem, count: int) -> dict[str, UpdatedJob]:
    """``collect``, by job ID."""
    return {u.job_id: u for u in collect(system, count).values()}
