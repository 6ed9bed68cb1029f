"""Micro-benchmark: the cost of one job hand-off through a job store.

A hand-off is what the engine does per job: the leader writes the input, the worker reads
it and writes its result, the leader reads the result and clears both. Also timed: the
running lock a worker holds, a journal append of one record, and the file steps of a job:
an import by hard link, a job's small output moved in, a stream written, and the reads of
stored files (each checked against its checksum record: the first read in a process, then
again). Prints microseconds per job.

    PYTHONPATH=. .venv/bin/python bench/bench_jobstore.py [--jobs 10000] [--kind file|memory]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable

from backends.jobstore.base import JobStore, open_job_store


def _timed(label: str, count: int, step: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for index in range(count):
        step(index)
    per_job = (time.perf_counter() - start) / count * 1e6
    print(f"  {label:<28} {per_job:8.1f} µs")
    return per_job


def run(store: JobStore, jobs: int, scratch: str) -> None:
    """Time each step over ``jobs`` distinct job IDs on a created store."""
    ids = [f"job-{index}" for index in range(jobs)]
    payload = b"x" * 512  # a typical pickled job input / result

    def hold_lock(index: int) -> None:
        with store.job_running_lock(ids[index]):
            pass

    total = 0.0
    total += _timed("write_job_input", jobs, lambda i: store.write_job_input(ids[i], payload))
    total += _timed("read_job_input", jobs, lambda i: store.read_job_input(ids[i]))
    total += _timed("write_job_result", jobs, lambda i: store.write_job_result(ids[i], payload))
    total += _timed("read_job_result", jobs, lambda i: store.read_job_result(ids[i]))
    total += _timed("clear_job_io", jobs, lambda i: store.clear_job_io(ids[i]))
    print(f"  {'= one hand-off':<28} {total:8.1f} µs")
    for job_id in ids:
        store.write_job_input(job_id, payload)
    _timed("running lock, input present", jobs, hold_lock)
    _timed("job_is_running (idle)", jobs, lambda i: store.job_is_running(ids[i]))
    for job_id in ids:
        store.clear_job_io(job_id)
    _timed("running lock, no input", jobs, hold_lock)
    _timed("append_records (1 record)", jobs, lambda i: store.append_records([payload]))
    source = os.path.join(scratch, "input.dat")
    with open(source, "wb") as stream:
        stream.write(b"y" * 4096)
    _timed("import_local (hard link)", jobs, lambda i: store.import_local(source))
    outputs = os.path.join(scratch, "outputs")
    os.mkdir(outputs)
    for index in range(jobs):
        with open(os.path.join(outputs, f"o{index}.txt"), "wb") as stream:
            stream.write(b"z" * 100)
    moved = []
    _timed("import_local (move, 100 B)", jobs, lambda i: moved.append(
        store.import_local(os.path.join(outputs, f"o{i}.txt"), move=True)))

    def write(index: int) -> None:
        _, stream = store.write_stream("s.txt")
        with stream:
            stream.write(b"w" * 100)

    _timed("write_stream (100 B)", jobs, write)
    _timed("local_path (first read)", jobs, lambda i: store.local_path(moved[i]))
    _timed("local_path (again)", jobs, lambda i: store.local_path(moved[i]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--kind", choices=["file", "memory"], default="file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="moil-bench-") as scratch:
        if args.kind == "file":
            locator = f"file:{scratch}/store"
        else:
            locator = f"memory:bench-{uuid.uuid4().hex}"
        store = open_job_store(locator)
        store.create()
        fsync = os.environ.get("MOIL_FSYNC", "0")
        print(f"{args.kind} job store, {args.jobs} jobs, MOIL_FSYNC={fsync}, µs per job:")
        try:
            run(store, args.jobs, scratch)
        finally:
            store.destroy()


if __name__ == "__main__":
    main()
