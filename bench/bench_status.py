"""Benchmark: ``toil status`` on a store with 100,000 job records answers in under a second.

Builds a ``file:`` store through the FileJobStore API the way a leader fills it: a root job
that scattered ``--jobs`` children over five job names and a follow-on that gathers them;
60% of the children ran (with ``--stats`` events), two failed (with logs), the others are
issued (8 of them held "running" by this process, as a worker holds its job) and the leader's
snapshot (``runner.engine.snapshot``) is written from the same state machine the records fed. This
process holds the store's lease, as the run's leader would.
Then it times:

- ``toil status STORE`` as a user runs it (a new process: interpreter start and imports
  included), several times, and ``toil status --json``;
- ``load_run_view`` in process, from the snapshot (what the command does) and with
  ``exact=True`` (a full replay of the journal, the fallback for a leader killed by SIGKILL).

    PYTHONPATH=. .venv/bin/python bench/bench_status.py [--jobs 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from backends.jobstore.base import JobStore, Lease, open_job_store
from runner.engine.snapshot import SnapshotWriter
from runner.model.promise import Promise, dumps
from runner.model.records import JobRecord, encode
from runner.model.state import StateMachine
from runner.views.runview import load_run_view

NAMES = ("wf.cwl/align", "wf.cwl/sort", "wf.cwl/index", "wf.cwl/call", "wf.cwl/merge")
BATCH = 100  # records per journal append, as a leader flushes them per loop
STARTED = time.time()  # "when the run started": a leader writes its status after its start
_leases: list[Lease] = []


def _record(name: str, parent: str | None, relation: str, index: int,
            local: bool = False, needs: frozenset[Promise] = frozenset()) -> JobRecord:
    body, promises = dumps({"tool": name, "inputs": {"sample": f"s{index}", "n": index}})
    resources, _ = dumps(None)
    return JobRecord(
        id=f"{index:08x}" + os.urandom(12).hex(), executor="languages.cwl.tool:run_tool",
        name=name, display_name=f"{name}[{index}]", body=body, resources=resources,
        needs=promises | needs, local=local, parent=parent, relation=relation,
    )


def build_store(path: str, jobs: int) -> tuple[JobStore, StateMachine, list[str]]:
    """The synthetic store (see the module docstring) and the leader's state; returns the
    IDs of the issued jobs too."""
    store = open_job_store("file:" + path)
    _leases.append(store.create_leased("bench_status"))  # this process plays the leader
    root = _record("wf.cwl", None, "root", 0, local=True)
    state = StateMachine(1)
    store.append_records([encode(("new", root)), encode(("root", root.id))])
    state.add([root])
    state.take_ready()
    kids = [_record(NAMES[i % len(NAMES)], root.id, "child", i + 1) for i in range(jobs - 2)]
    gather = _record("wf.cwl/gather", root.id, "followon", jobs,
                     needs=frozenset(Promise(k.id) for k in kids[:1000]))
    new = [*kids, gather]
    value, promises = dumps([Promise(k.id) for k in kids[:1000]])
    store.append_records([encode(("new", r)) for r in new]
                         + [encode(("ran", root.id, value, promises))])
    state.ran(root.id, value, promises, new)
    ready = state.take_ready()
    done, now = int(len(kids) * 0.6), time.time()
    for start in range(0, done, BATCH):
        events = []
        for k in kids[start:start + BATCH]:
            stats = {"wall": 1.5, "cpu": 1.2, "rss_kib": 50_000.0, "start": now, "end": now + 1.5,
                     "local": 0.0, "ok": 1.0}
            out, _ = dumps({"out": f"file-{k.id}"})
            events += [encode(("stats", k.id, k.name, stats)), encode(("ran", k.id, out,
                                                                        frozenset()))]
            state.ran(k.id, out, frozenset())
        store.append_records(events)
    for k in kids[done:done + 2]:
        store.save_job_log(k.id, _log_file(f"{k.display_name} started\nERROR: boom\n"))
        store.append_records([encode(("failed", k.id, "the tool exited with status 1"))])
        state.failed_for_good(k.id, "the tool exited with status 1")
    # a leader hands every ready job to the batch system at once, which queues them
    issued = [k.id for k in kids[done + 2:]]
    for job_id in issued[:200]:
        store.write_job_input(job_id, b"input")
    assert len(ready) == len(kids)
    store.write_shared("status", pickle.dumps({"state": "running", "pid": os.getpid(),
                                               "host": socket.gethostname(),
                                               "time": STARTED}))
    SnapshotWriter(store).maybe_write(state, issued)
    return store, state, issued


def _log_file(text: str) -> str:
    handle, path = tempfile.mkstemp(suffix=".log")
    os.write(handle, text.encode())
    os.close(handle)
    return path


@contextlib.contextmanager
def _running(store: JobStore, job_ids: list[str]) -> Iterator[None]:
    """Hold the running locks of ``job_ids`` as their workers would."""
    with contextlib.ExitStack() as stack:
        for job_id in job_ids:
            stack.enter_context(store.job_running_lock(job_id))
        yield


def _time_command(argv: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{argv} failed: {result.stderr}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-exact", action="store_true", help="skip the full replay timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "store")
        start = time.perf_counter()
        store, state, issued = build_store(path, args.jobs)
        size = os.path.getsize(os.path.join(path, "records", "journal"))
        print(f"store: {len(state.jobs)} jobs, journal {size / 1e6:.1f} MB, "
              f"built in {time.perf_counter() - start:.1f}s")
        toil = [sys.executable, "-m", "runner.cli.toil_cmd"]
        with _running(store, issued[:8]):
            text = subprocess.run([*toil, "status", path], capture_output=True, text=True,
                                  check=True)
            print(text.stdout.strip().splitlines()[1])
            times = _time_command([*toil, "status", path], args.repeat)
            json_times = _time_command([*toil, "status", "--json", path], args.repeat)
            start = time.perf_counter()
            view = load_run_view(open_job_store("file:" + path))
            in_process = time.perf_counter() - start
            assert view.counts["running"] == 8 and len(view.failed) == 2, view.counts
        print(f"toil status (new process)        median {statistics.median(times):.3f}s  "
              f"max {max(times):.3f}s  over {args.repeat}")
        print(f"toil status --json (new process) median {statistics.median(json_times):.3f}s")
        print(f"load_run_view from the snapshot  {in_process * 1000:.1f} ms")
        if not args.no_exact:
            start = time.perf_counter()
            exact = load_run_view(open_job_store("file:" + path), exact=True)
            print(f"load_run_view exact (replay)     {time.perf_counter() - start:.2f}s "
                  f"(the fallback after a SIGKILLed leader)")
            assert exact.counts["done"] == view.counts["done"], (exact.counts, view.counts)
        verdict = "PASS" if statistics.median(times) < 1.0 else "FAIL"
        print(f"{verdict}: toil status on {args.jobs} job records answers in "
              f"{statistics.median(times):.3f}s (goal: under 1 s)")


if __name__ == "__main__":
    main()
