"""The Slurm backend against a real single-node Slurm started here (tests/services/slurm.py).

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_slurm.py [COUNT] [POLL_WAIT]``
(default 50 jobs, ``statePollingWait`` 1 s; needs root and apt-get the first time).

Prints the time to start the cluster (munged, slurmctld, slurmd, node idle), then for COUNT
trivial jobs (``python -c pass``, 1 core, 64 MiB, on a node advertising 8 CPUs): the wall
time from the first ``issue_job`` to the last update, and the scheduler commands run. The
number of ``squeue`` calls should follow the wall time divided by the poll wait, not COUNT.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time

from backends.batch.base import BatchConfig, BatchJob, Resources
from backends.batch.slurm import SlurmBatchSystem
from tests.services.slurm import start


def main(count: int, poll_wait: float) -> None:
    base = tempfile.mkdtemp(prefix="moil-slurm-bench-", dir="/tmp")
    began = time.monotonic()
    cluster = start(base, cpus=8)
    print(f"cluster up in {time.monotonic() - began:.2f}s")
    config = BatchConfig(
        math.inf,
        2**62,
        2**62,
        base,
        options={"statePollingWait": poll_wait},
        environment={"SLURM_CONF": cluster.env["SLURM_CONF"]},
    )
    system = SlurmBatchSystem(config)
    try:
        system.start()
        began = time.monotonic()
        for i in range(count):
            system.issue_job(
                BatchJob(
                    f"j{i}",
                    f"j{i}",
                    Resources(1.0, 64 * 2**20),
                    "unused",
                    "unused:unused",
                    (sys.executable, "-c", "pass"),
                )
            )
        done = 0
        while done < count:
            if system.get_updated_job(timeout=60) is None:
                raise SystemExit(f"no update for 60 s after {done} of {count} jobs")
            done += 1
        elapsed = time.monotonic() - began
        print(
            f"{count} jobs in {elapsed:.2f}s ({count / elapsed:.1f} jobs/s) with poll wait "
            f"{poll_wait}s; commands: {system.command_counts}"
        )
    finally:
        system.shutdown()
        cluster.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 50, float(args[1]) if len(args) > 1 else 1.0)
