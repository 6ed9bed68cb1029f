"""One run of a workflow: its job store, its batch system, start or restart, clean-up.

``Run`` is a context manager: entering creates (or, with ``--restart``, opens) the job store
and takes its lease, before anything in the store is read or written, so a second leader is
refused at once; ``start(root)`` or ``restart()`` drive the leader; leaving applies
``--clean`` (Toil's default: never with ``--stats``, otherwise only after success) and gives
the lease up.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import math
import os
import pickle
import shutil
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, Self

import psutil

from backends.batch.base import BatchConfig, BatchSystem
from backends.errors import (
    BackendError,
    BatchSystemError,
    InvalidLocatorError,
    JobStoreAccessError,
    JobStoreError,
    JobStoreLeasedError,
    LeaseLostError,
)
from backends.jobstore.base import JobStore, Lease, open_job_store
from runner.cache.decide import Previous, previous_results
from runner.config import runconfig
from runner.config.options import batch_system_class, log_level
from runner.config.runconfig import RunConfig
from runner.engine import names
from runner.engine.handoff import read_result
from runner.engine.journal import Journal, replay
from runner.engine.leader import Leader
from runner.engine.runinfo import read_run_info, start_info, update_run_info
from runner.engine.runlog import run_started
from runner.errors import JobStoreInUseError, UsageError, WorkflowFailed
from runner.jobenv import realtime
from runner.jobenv.filestore import remove_spares
from runner.jobenv.tempdirs import stores_dir, work_dir
from runner.model import events
from runner.model.events import RunStarted
from runner.model.graph import JobNode
from runner.model.promise import loads
from runner.model.records import flatten
from runner.model.state import StateMachine, Status

log = logging.getLogger(__name__)


class Run:
    """A run's job store and the means to start, restart and clean it."""

    def __init__(self, config: RunConfig) -> None:
        self.temporary = not config.job_store
        locator = config.job_store or "file:" + os.path.join(
            stores_dir(), f"moil-{os.getpid()}-{time.time_ns():x}"
        )
        try:
            self.store: JobStore = open_job_store(locator)
        except InvalidLocatorError as exc:
            raise UsageError(str(exc)) from None
        refuse_unreachable_store(self.store, config.batch_system)
        #: --stats keeps the store; --report, --trace, --provenance record stats without
        self.keep_for_stats = config.stats
        stats = config.stats or bool(config.report or config.trace or config.provenance)
        #: the run's configuration, naming the store it runs in
        self.config = dataclasses.replace(config, job_store=self.store.locator, stats=stats)
        self.succeeded = False
        self.started = False
        self.lease: Lease | None = None
        #: more of --provenance, written into its directory after the crate: a front end's
        #: own record of the run, called with (store, directory, state, options)
        self.provenance_writers: list[Callable[[JobStore, str, str, dict[str, Any]], None]] = []

    # -- life cycle -----------------------------------------------------------------------
    def __enter__(self) -> Self:
        where = self.store.locator
        owner = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        try:
            if self.config.restart:
                if not self.store.exists():
                    raise JobStoreInUseError(
                        f"--restart: there is no job store at {where}; start a new run "
                        "without --restart"
                    )
                self.lease = self.store.acquire_lease(owner)
                self.store.open()
            else:
                if self.store.exists():
                    raise JobStoreInUseError(
                        f"the job store {where} already exists; resume its run with "
                        f"--restart, or delete it with `toil clean {where}`"
                    )
                self.lease = self._create(where, owner)
            self.store.delete_shared(names.KILL_REQUEST)  # meant for a leader that is gone: not us
            self._write_config()
        except JobStoreLeasedError as exc:
            raise JobStoreInUseError(in_use_message(where, exc)) from None
        except BaseException as exc:
            if not self.config.restart and self.lease is not None:
                try:
                    self.store.destroy()  # ours, made a moment ago, with nothing in it
                except JobStoreAccessError:
                    log.warning("could not remove the new job store %s again", where)
            self._release()
            if isinstance(exc, JobStoreAccessError):  # a bucket, endpoint or key to fix
                raise UsageError(f"--jobStore {where}: {exc}") from None
            raise
        return self

    def _create(self, where: str, owner: str) -> Lease:
        """Create the store, holding its lease; a place that cannot be used is a UsageError
        (a full disk is not: exit 1)."""
        try:
            return self.store.create_leased(owner)
        except JobStoreLeasedError:
            raise
        except JobStoreError as exc:
            raise UsageError(f"--jobStore {where}: {exc}") from None
        except OSError as exc:
            self.store.destroy()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise  # not the user's choice of place: a full disk (exit 1)
            raise UsageError(
                f"--jobStore {where}: cannot create it: {exc.strerror}"
                + (f": {exc.filename}" if exc.filename else "")
                + "; name a place you can write"
            ) from None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if not self.config.restart and not self.started:
                self.store.destroy()  # the run never started: nothing in it to resume
                return
            ok = exc_type is None and self.succeeded
            self._write_reports(ok)
            clean = self.config.clean or ("never" if self.keep_for_stats else "onSuccess")
            if (
                clean == "always"
                or (clean == "onSuccess" and ok)
                or (clean == "onError" and not ok)
            ):
                self.store.destroy_soon()  # still ours: no leader may start on it meanwhile
            elif not ok and self.started:
                log.info("the job store %s is kept; resume with --restart", self.store.locator)
        finally:
            self._release()

    def _write_reports(self, ok: bool) -> None:
        """--report, --trace and --provenance, from what the store holds now (a failure to
        write one is logged: the run's own outcome stands)."""
        state = "succeeded" if ok else "failed"
        config = self.config
        if config.report or config.trace:
            from runner.cli.report import write_run_files

            try:
                write_run_files(self.store, config.report, config.trace, state)
            except (OSError, BackendError) as exc:
                log.error("could not write the run report: %s", exc)
        if config.provenance:
            from runner.engine.runcrate import write_run_crate

            options = {
                "orcid": config.orcid,
                "full_name": config.full_name,
                "user_provenance": config.user_provenance,
                "host_provenance": config.host_provenance,
            }
            try:
                write_run_crate(self.store, config.provenance, state, options)
            except (OSError, BackendError) as exc:
                log.error("could not write the provenance crate: %s", exc)
                return
            for write in self.provenance_writers:
                try:
                    write(self.store, config.provenance, state, options)
                except Exception as exc:  # noqa: BLE001 (logged: the run's outcome stands)
                    log.error(
                        "could not write the provenance of the run into %s: %s",
                        config.provenance,
                        exc,
                    )

    def note_workflow(self, document: str, language: str) -> None:
        """Keep the workflow document's path and language (cwl, wdl, python) for the report
        and the provenance crate."""
        if self.config.stats:
            update_run_info(self.store, workflow=document, language=language)

    def note_inputs(self, inputs: Any) -> None:
        """Keep the workflow's inputs (placeholders for secrets) for the run report."""
        if self.config.stats:
            update_run_info(self.store, inputs=inputs)

    def note_outputs(self, outputs: Any, files: dict[str, str] | None = None) -> None:
        """Keep the workflow's exported outputs for the run report, and ``files`` (each
        exported file's path -> its stored file ID) for the provenance crate."""
        if self.config.stats:
            update_run_info(self.store, outputs=outputs, output_files=files or {})

    def note_export(self, path: str, file_id: str) -> None:
        """Keep a Python run's exported file (its path -> its stored file ID) for the
        provenance crate, as ``note_outputs`` does for a CWL or WDL run's."""
        if self.config.stats:
            files = dict(read_run_info(self.store).get("output_files") or {})
            files[path] = file_id
            update_run_info(self.store, output_files=files)

    def _release(self) -> None:
        lease, self.lease = self.lease, None
        if lease is not None:
            lease.release()

    def _write_config(self) -> None:
        self.store.write_shared(names.CONFIG, runconfig.encode(self.config))

    # -- running --------------------------------------------------------------------------
    def start(self, root: JobNode, definitions: bytes | None = None) -> Any:
        """Run the graph under ``root``; returns the root's value or raises.

        ``definitions``: the front end's record of the document's work-node definitions
        (what its keyer's ``recorded`` reads), kept in the store so that ``--restart``
        after an edit can tell which finished jobs are still valid."""
        if self.config.restart:
            return self.restart()
        if definitions is not None:
            self.store.write_shared(names.DEFINITIONS, definitions)
        state = StateMachine(self.config.retry_count)
        journal = Journal(self.store, state)
        journal.record(RunStarted(tuple(flatten(root)), root.id), flush=True)
        return self._drive(state)

    def restart(
        self,
        definitions: bytes | None = None,
        edited: Callable[[Any], JobNode] | None = None,
    ) -> Any:
        """Resume the run kept in the store; finished jobs do not run again.

        With ``definitions`` (as for ``start``) that differ from those the run started
        with, the document was edited: ``edited(payload)`` builds the new root node from
        the old root's payload, and the new graph runs in this store, each finished job
        whose key is unchanged reused, the others run again (``_restart_edited``). Equal
        definitions, or none: the run resumes as it was."""
        state = replay(self.store, self.config.retry_count)
        if state.root is None:
            where = self.store.locator
            raise UsageError(
                f"the job store {where} holds no workflow to resume (its run never started); "
                f"delete it with `toil clean {where}` and start the run without --restart"
            )
        if definitions is not None and edited is not None:
            recorded = self._recorded_definitions()
            if recorded is not None and recorded != definitions:
                return self._restart_edited(state, recorded, definitions, edited)
        if state.succeeded():
            self.succeeded = True
            return state.root_value()
        state.revive_failed()
        return self._drive(state, resumed=True)

    def _recorded_definitions(self) -> bytes | None:
        if not self.store.shared_exists(names.DEFINITIONS):
            return None  # a store of a run started without them (an older moil)
        return self.store.read_shared(names.DEFINITIONS)

    def _restart_edited(
        self,
        state: StateMachine,
        recorded: bytes,
        definitions: bytes,
        edited: Callable[[Any], JobNode],
    ) -> Any:
        """Run the edited document's graph in this store, reusing finished jobs by key.

        The journal is replaced by the new graph before the new definitions are stored:
        a leader killed in between restarts as after an edit again (the jobs reused so
        far are in the new journal; the old run's other results are lost and rerun)."""
        log.info(
            "the workflow changed since the run started: finished jobs whose key is "
            "unchanged are reused, the others run again"
        )
        previous = previous_results(self.store, state, recorded, self.config)
        old_root = state.record(state.root or "")
        root = edited(loads(old_root.body, state.inputs_of(old_root.id)))
        started = RunStarted(tuple(flatten(root)), root.id)
        self.store.replace_records(events.encode(started))
        self.store.write_shared(names.DEFINITIONS, definitions)
        fresh = StateMachine(self.config.retry_count)
        fresh.apply(started)
        return self._drive(fresh, resumed=True, previous=previous)

    def _drive(
        self, state: StateMachine, resumed: bool = False, previous: Previous | None = None
    ) -> Any:
        self.started = True
        batch = make_batch_system(self.config)
        leader = Leader(self.store, batch, state, self.config, previous)
        leader.lease = self.lease
        if self.config.stats:
            update_run_info(self.store, **start_info(sys.argv))
        self.store.write_shared(
            names.STATUS,
            pickle.dumps(
                {
                    "state": "running",
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "time": time.time(),
                }
            ),
        )
        try:
            batch.start()
        except BatchSystemError as exc:  # its settings or its commands: the user's to fix
            raise UsageError(f"--batchSystem {batch.name}: {exc}") from None
        run_started(
            self.store.locator,
            batch.name or type(batch).__name__,
            work_dir(self.config.work_dir),
            resumed=resumed,
        )
        try:
            if resumed:
                adopt_orphan_results(self.store, leader)
            # Toil's RealtimeLogger: at INFO, or with --realTimeLogging at --logLevel's
            level = log_level(self.config.log_level) if self.config.real_time_logging else 20
            with realtime.serve(level, local_only=batch.capabilities.in_process):
                value = leader.run()
        except LeaseLostError as exc:  # another leader has the store: write nothing more
            raise WorkflowFailed(f"{exc}; this leader stops") from None
        except BaseException:
            try:
                self.store.write_shared(
                    names.STATUS, pickle.dumps({"state": "failed", "time": time.time()})
                )
            except OSError as exc:  # e.g. the disk that failed the run: report that instead
                log.warning("could not record the run's failure in the store: %s", exc)
            raise
        finally:
            batch.shutdown()
            log_command_counts(batch)
            # the job directories this process and its (now gone) workers kept for reuse
            remove_spares(work_dir(self.config.work_dir))
        self.store.write_shared(
            names.STATUS, pickle.dumps({"state": "succeeded", "time": time.time()})
        )
        self.succeeded = True
        return value


def refuse_unreachable_store(store: JobStore, batch_system: str) -> None:
    """A store only this process sees, with a batch system whose jobs run elsewhere, is a
    UsageError before anything is made (their workers would find no store)."""
    if type(store).process_local and batch_system_class(batch_system).capabilities.isolated:
        raise UsageError(
            f"--jobStore {store.locator}: a {store.kind}: store lives in this process only, "
            f"but --batchSystem {batch_system} runs jobs in other processes; use "
            "--batchSystem inline, or a file: store"
        )


def in_use_message(where: str, exc: JobStoreLeasedError) -> str:
    """One line for a second leader: who runs the store, and what to do."""
    holder = exc.holder
    who = holder.describe() if holder is not None and holder.pid else "another process"
    return (
        f"the job store {where} is in use by a running leader ({who}); wait for it to "
        f"finish, or stop it with `toil kill {where}` and then resume with --restart"
    )


def adopt_orphan_results(store: JobStore, leader: Leader) -> None:
    """Take results that workers of a dead leader wrote, waiting for ones still running."""
    state = leader.state
    waiting = [j for j in state.ready_jobs() if store.job_is_running(j)]
    deadline = time.monotonic() + 600
    while waiting and time.monotonic() < deadline:
        log.info("waiting for %d job(s) still running from the previous leader", len(waiting))
        if leader.lease is not None:
            leader.lease.keep()  # a lease that must be renewed lapses during a long wait
        time.sleep(0.2)
        waiting = [j for j in waiting if store.job_is_running(j)]
    for job_id in store.list_job_results():
        if job_id in state.jobs and state.status(job_id) is Status.READY:
            result = read_result(store, job_id, state.record(job_id).display_name)
            if result is not None:
                state.issue(job_id)
                leader.handle(state.record(job_id), result)
                continue
        store.clear_job_io(job_id)
    leader.settle(clear=True)


def log_command_counts(batch: BatchSystem) -> None:
    """Log at INFO how many scheduler commands the run made, for batch systems that count
    them (``command_counts``: cluster schedulers), e.g. "slurm commands: 200 sbatch, ..."."""
    counts = getattr(batch, "command_counts", None)
    if counts:
        text = ", ".join(f"{number} {name}" for name, number in counts.items())
        log.info("%s commands: %s", batch.name or type(batch).__name__, text)


def make_batch_system(config: RunConfig) -> BatchSystem:
    """The batch system ``--batchSystem`` names, with its settings from ``config``."""
    cls = batch_system_class(config.batch_system)
    work = work_dir(config.work_dir)
    # The machine's size bounds a batch system that runs here; a cluster is bounded by
    # what the user says (or not at all).
    here = cls.capabilities.in_process
    batch_config = BatchConfig(
        max_cores=float(config.max_cores or (os.cpu_count() or 1 if here else math.inf)),
        max_memory=config.max_memory or (psutil.virtual_memory().total if here else math.inf),
        max_disk=config.max_disk or (shutil.disk_usage(work).free if here else math.inf),
        work_dir=work,
        settings=config.batch,
    )
    try:
        batch: BatchSystem = cls(batch_config)
    except BackendError as exc:
        raise UsageError(f"--batchSystem {config.batch_system}: {exc}") from None
    return batch
