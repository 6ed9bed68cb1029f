"""The worker: runs one job given a job store locator and a job ID.

``run_job(locator, job_id)`` is what every batch system runs, in a pool process
(single_machine) or as ``python -m runner.worker LOCATOR JOB_ID`` on a cluster node, so a job
behaves the same everywhere. It reads the job's input from the store, runs it with its
stdout/stderr captured in the job's log, and writes the result atomically. A failing job is
a result, not a worker error: the worker exits 0 unless its own machinery broke.

A cluster job may carry a bundle of jobs (``--jobsPerAllocation``, see
``backends.batch.bundling``): ``python -m runner.worker LOCATOR --workers W --issued T ID
ID ...`` runs each of them through ``run_job`` in a process forked from one that has loaded
what they share (``run_bundle``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pickle
import random
import signal
import sys
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from backends.jobstore.base import JobStore, open_job_store
from runner.config.runconfig import RunConfig, decode
from runner.engine import handoff, names
from runner.engine.execute import execute, warm
from runner.jobenv.filestore import remove_spares
from runner.model import promise

log = logging.getLogger(__name__)
#: the store and configuration of each run this process has run a job of, by locator
_stores: dict[str, tuple[JobStore, RunConfig]] = {}


def _open(locator: str) -> tuple[JobStore, RunConfig]:
    cached = _stores.get(locator)
    if cached is None:
        store = open_job_store(locator)
        store.open()
        config = decode(store.read_shared(names.CONFIG))
        load_user_main(config.user_main)
        cached = _stores[locator] = (store, config)
    return cached


def load_user_main(path: str | None) -> None:
    """Make objects pickled from the user's ``__main__`` (the Python API's script at
    ``path``) loadable in this process."""
    main = sys.modules.get("__main__")
    if not path or getattr(main, "__file__", None) == path or not os.path.exists(path):
        return
    spec = importlib.util.spec_from_file_location("__moil_user_main__", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["__moil_user_main__"] = module
    sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(module)

    def find_class(mod: str, name: str) -> Any:
        if mod == "__main__":
            mod = "__moil_user_main__"
        return getattr(importlib.import_module(mod), name)

    promise.class_finder = find_class


def run_job(
    locator: str, job_id: str, superseded: Callable[[JobStore], bool] | None = None
) -> None:
    """Run ``job_id`` of the store at ``locator`` and store its result; or, if
    ``superseded(store)`` says so once the job's running lock is held, nothing."""
    store, config = _open(locator)
    job = handoff.read_input(store, job_id)
    log_path = store.job_log_target(job_id)
    # The result is written under the running lock: a store may reuse the job's input file
    # for it (file:), which nobody may replace while the lock is held.
    with store.job_running_lock(job_id):
        # Asked under the lock: a new leader either sees the lock held (and waits for this
        # result) or has written its status before this question is asked.
        if superseded is not None and superseded(store):
            return
        with _captured_output(log_path) as logger:
            result = execute(store, job, config, logger)
            if not result.ok:
                logger.error("%s", result.details.rstrip() or result.error)
        bad = config.bad_worker
        # Fault injection kills the worker after the job ran, before its result is stored.
        # A job's last allowed attempt is spared, so a run with retries is never doomed.
        if bad and job.attempt < config.retry_count and random.random() < bad:
            os.kill(os.getpid(), signal.SIGKILL)
        handoff.finish(store, job_id, result, log_path)


class _captured_output:  # noqa: N801 (used as a context manager)
    """Send fd 1 and 2 (this process and its children) and a job logger to the log file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> logging.Logger:
        sys.stdout.flush()
        sys.stderr.flush()
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.saved = (os.dup(1), os.dup(2))
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)
        self.logger = logging.getLogger("moil.job")
        self.logger.propagate = False
        self.handler = logging.StreamHandler(sys.stderr)
        self.handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(message)s"))
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.DEBUG)
        return self.logger

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.logger.removeHandler(self.handler)
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        for fd in (*self.saved, self.fd):
            os.close(fd)


def run_bundle(locator: str, job_ids: list[str], workers: int, issued: float | None) -> None:
    """Run the jobs of a bundle (``backends.batch.bundling``), each in a process forked
    from this one, ``workers`` at a time. This process loads what the jobs share once
    (``execute.warm``); each job writes its own result and log as ``run_job`` does, so a
    job that fails or is killed is that job's own failure. No job starts once a leader
    that began after ``issued`` (when the bundle was issued) runs the store: that leader
    has issued the bundle's unstarted jobs again."""
    store, _ = _open(locator)
    try:
        warm(handoff.read_input(store, job_ids[0]))
    except Exception as exc:  # noqa: BLE001 (best effort: each job reports its own trouble)
        log.debug("could not prepare the bundle's shared work: %s", exc)
    pending, running = list(reversed(job_ids)), dict[int, str]()
    while pending or running:
        while pending and len(running) < workers:
            if issued is not None and _superseded(store, issued):
                print(
                    f"moil: a newer leader runs {locator}; {len(pending)} job(s) of this "
                    "bundle are left to it",
                    file=sys.stderr,
                )
                pending.clear()
                break
            job_id = pending.pop()
            running[_fork_job(locator, job_id, issued)] = job_id
        if running:
            pid, status = os.wait()
            job_id = running.pop(pid, "")
            if job_id and status:
                print(
                    f"moil: the worker of job {job_id} ended with wait status {status}",
                    file=sys.stderr,
                )
    remove_spares()


def _fork_job(locator: str, job_id: str, issued: float | None) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        run_job(locator, job_id, None if issued is None else partial(_superseded, issued=issued))
        code = 0
    except BaseException:  # noqa: BLE001 (the child reports and exits; never returns)
        traceback.print_exc()
    finally:
        try:
            remove_spares()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    raise AssertionError("unreachable")  # pragma: no cover


def _superseded(store: JobStore, issued: float) -> bool:
    """Whether a leader that started after ``issued`` runs the store now."""
    try:
        status = pickle.loads(store.read_shared(names.STATUS))
    except Exception:  # noqa: BLE001 (no readable status: nothing says so)
        return False
    return bool(status.get("state") == "running" and status.get("time", 0.0) > issued)


def main(argv: list[str] | None = None) -> int:
    """``python -m runner.worker LOCATOR JOB_ID``, or a bundle's
    ``LOCATOR [--workers W] [--issued T] JOB_ID...``."""
    args = sys.argv[1:] if argv is None else argv
    workers, issued, positional = 1, None, []
    try:
        items = iter(args)
        for arg in items:
            if arg == "--workers":
                workers = int(next(items))
            elif arg == "--issued":
                issued = float(next(items))
            else:
                positional.append(arg)
    except (StopIteration, ValueError):
        positional = []
    if len(positional) < 2 or workers < 1:
        print(
            "usage: python -m runner.worker JOB_STORE_LOCATOR [--workers W] [--issued T] "
            "JOB_ID [JOB_ID ...]",
            file=sys.stderr,
        )
        return 2
    if len(positional) > 2 or issued is not None:
        run_bundle(positional[0], positional[1:], workers, issued)
        return 0
    try:
        run_job(positional[0], positional[1])
    finally:
        remove_spares()  # this process runs no other job
    return 0


if __name__ == "__main__":
    sys.exit(main())
