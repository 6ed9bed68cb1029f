"""Pool overhead of the single-machine batch system, in microseconds per trivial job.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_pool.py [COUNT ...]`` (default 1000 10000).

- *throughput*: COUNT jobs issued at once (1 core each, ``max_cores`` = CPUs), wall time of
  issuing them and taking every update, divided by COUNT;
- *round trip*: one job at a time, issue then wait for its update (the latency a chain of
  dependent jobs pays per step).

The job does nothing, so all the time measured is the pool's: pipes, pickling, scheduling,
bookkeeping. Workers are forked before timing starts (their one-off cost is not per job).
"""

from __future__ import annotations

import os
import sys
import time

from backends.batch.base import BatchConfig, BatchJob, Resources
from backends.batch.single_machine import SingleMachineBatchSystem


def noop(locator: str, job_id: str) -> None:
    """The trivial job (workers find it in the leader's ``__main__``: they are forked)."""


def _job(i: int) -> BatchJob:
    return BatchJob(
        job_id=f"j{i}",
        name="noop",
        resources=Resources(1.0, 1024**2, 1024**2),
        locator="unused",
        entry="__main__:noop",
        argv=(),
    )


def _drain(system: SingleMachineBatchSystem, count: int) -> None:
    for _ in range(count):
        update = system.get_updated_job(10.0)
        if update is None or update.exit_status != 0:
            raise RuntimeError(f"job did not finish: {update}")


def throughput(system: SingleMachineBatchSystem, count: int) -> float:
    """µs per job with ``count`` jobs issued at once."""
    started = time.perf_counter()
    for i in range(count):
        system.issue_job(_job(i))
    _drain(system, count)
    return (time.perf_counter() - started) / count * 1e6


def round_trip(system: SingleMachineBatchSystem, count: int) -> float:
    """µs per job issued one at a time, each waited for."""
    started = time.perf_counter()
    for i in range(count):
        system.issue_job(_job(i))
        _drain(system, 1)
    return (time.perf_counter() - started) / count * 1e6


def main(argv: list[str]) -> int:
    counts = [int(a) for a in argv] or [1000, 10000]
    cores = os.cpu_count() or 1
    system = SingleMachineBatchSystem(BatchConfig(float(cores), 1024**3, 1024**3, "."))
    system.start()
    try:
        throughput(system, 4 * cores)  # fork the workers outside the timing
        print(f"{cores} CPUs, {cores} workers busy at most")
        for count in counts:
            print(
                f"{count:>6} jobs: throughput {throughput(system, count):7.1f} µs/job, "
                f"round trip {round_trip(system, count):7.1f} µs/job"
            )
    finally:
        system.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
