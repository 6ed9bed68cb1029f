"""The worker: runs one job given a job store locator and a job ID.

``run_job(locator, job_id)`` is what every batch system runs, in a pool process
(single_machine) or as ``python -m runner.worker LOCATOR JOB_ID`` on a cluster node, so a job
behaves the same everywhere. It reads the job's input from the store, runs it with its
stdout/stderr captured in the job's log, and writes the result atomically. A failing job is
a result, not a worker error: the worker exits 0 unless its own machinery broke.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import signal
import sys
from typing import Any

from backends.jobstore.base import JobStore, open_job_store
from runner.config.runconfig import RunConfig, decode
from runner.engine import handoff, names
from runner.engine.execute import execute
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


def run_job(locator: str, job_id: str) -> None:
    """Run ``job_id`` of the store at ``locator`` and store its result."""
    store, config = _open(locator)
    job = handoff.read_input(store, job_id)
    log_path = store.job_log_target(job_id)
    # The result is written under the running lock: a store may reuse the job's input file
    # for it (file:), which nobody may replace while the lock is held.
    with store.job_running_lock(job_id):
        with _captured_output(log_path) as logger:
            result = execute(store, job, config, logger)
            if not result.ok:
                logger.error("%s", result.details.rstrip() or result.error)
        store.save_job_log(job_id, log_path)
        bad = config.bad_worker
        # Fault injection kills the worker after the job ran, before its result is stored.
        # A job's last allowed attempt is spared, so a run with retries is never doomed.
        if bad and job.attempt < config.retry_count and random.random() < bad:
            os.kill(os.getpid(), signal.SIGKILL)
        handoff.write_result(store, job_id, result)


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


def main(argv: list[str] | None = None) -> int:
    """``python -m runner.worker LOCATOR JOB_ID``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m runner.worker JOB_STORE_LOCATOR JOB_ID", file=sys.stderr)
        return 2
    try:
        run_job(args[0], args[1])
    finally:
        remove_spares()  # this process runs no other job
    return 0


if __name__ == "__main__":
    sys.exit(main())
