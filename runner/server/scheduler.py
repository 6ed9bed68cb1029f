"""The queue of runs: at most ``--workers`` at once, the rest QUEUED, oldest first.

A thread (``Scheduler.start``) looks at the active runs every ``poll_interval`` seconds (or
at once when woken by a submission or a cancel): a started run becomes RUNNING when its
leader has started (its job store's ``status`` blob says so), and a run whose process has
ended gets its final state from the exit code its supervisor recorded
(``runner.server.state`` lists the mapping). Every change is saved before it is shown.

When the server starts, every run that was not finished is reconciled with what is there
now (``reconcile``): a QUEUED run stays queued; a started run whose supervisor still runs
(the server was killed, its runs were not) is watched again; one that ended meanwhile gets
its state from its exit code; one whose process is gone without a word (killed with the
server, or stopped by the server on its way out) is started again with ``--restart`` on its
job store, so jobs that had finished do not run again; a run whose leader is alive
without its supervisor is waited for. Finished runs are left as they are.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from backends.errors import BackendError
from runner.server.config import ServerConfig
from runner.server.launch import Handle, Launcher
from runner.server.s3state import S3StateStore, export_outputs, read_exported
from runner.server.state import ACTIVE, RunFiles, RunRecord, State, StateStore

log = logging.getLogger(__name__)

#: seconds a canceled run may take to stop before its processes are killed
CANCEL_GRACE = 20.0
#: exit codes of a leader stopped by SIGINT / SIGTERM
INTERRUPTED = (130, 143)


class Scheduler:
    """Owns every run's record; all methods are thread-safe."""

    def __init__(
        self,
        config: ServerConfig,
        launcher: Launcher,
        store_status: Callable[[RunFiles], tuple[str | None, bool]],
    ) -> None:
        """``store_status(files)`` says how the run's job store stands: the state its
        leader recorded (``running``, ``succeeded``, ``failed``, or None if none did) and
        whether a live leader holds its lease."""
        self.config = config
        self.launcher = launcher
        self.store_status = store_status
        self.states: StateStore | S3StateStore = (
            S3StateStore(config.state_url) if config.state_url else StateStore(config.runs_dir)
        )
        self.lock = threading.RLock()
        self.records: dict[str, RunRecord] = {}
        self.handles: dict[str, Handle] = {}
        self.orphans: set[str] = set()  # leaders alive without their supervisor
        self.cancel_times: dict[str, float] = {}
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.version = 0  # bumped at every change (the web page's live updates)

    # -- files ------------------------------------------------------------------------------
    def files(self, run_id: str) -> RunFiles:
        return RunFiles(self.config.work_dir / run_id)

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Load and reconcile every run, then start the thread."""
        self.states.create()
        with self.lock:
            for record in self.states.load_all():
                self.records[record.run_id] = record
            self.reconcile()
        self.thread = threading.Thread(target=self._loop, name="wes-scheduler", daemon=True)
        self.thread.start()

    def stop(self, grace: float = 30.0) -> None:
        """Stop the thread; ask running runs to stop (they are resumed by the next server
        with ``--restart``) and wait up to ``grace`` seconds for them."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        with self.lock:
            active = [
                r for r in self.records.values() if r.state in ACTIVE and r.run_id in self.handles
            ]
            for record in active:
                if record.state is not State.CANCELING:
                    record.resume = True
                    self.states.save(record)
                self.launcher.stop(self.handles[record.run_id])
        deadline = time.monotonic() + grace
        while active and time.monotonic() < deadline:
            active = [r for r in active if self.launcher.running(self.handles[r.run_id])]
            time.sleep(0.1)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                with self.lock:
                    self._step()
            except Exception:
                log.exception("the scheduler's step failed; trying again")
            self.wake.wait(self.config.poll_interval)
            self.wake.clear()

    # -- requests ---------------------------------------------------------------------------
    def add(self, record: RunRecord) -> None:
        """A new QUEUED run (saved before this returns)."""
        with self.lock:
            self.states.save(record)
            self.records[record.run_id] = record
            self._changed()
        self.wake.set()

    def cancel(self, run_id: str) -> RunRecord | None:
        """Cancel a run: a queued one ends CANCELED at once, a started one goes CANCELING
        until its process ends; a finished one is left as it is. None if unknown."""
        with self.lock:
            record = self.records.get(run_id)
            if record is None or record.state.terminal:
                return record
            record.cancel_requested = True
            if record.state is State.QUEUED or run_id not in self.handles:
                if run_id in self.orphans:
                    record.state = State.CANCELING
                    self.launcher.stop_leader(self.files(run_id))
                else:
                    self._finish(record, State.CANCELED, None)
            else:
                record.state = State.CANCELING
                self.cancel_times[run_id] = time.monotonic()
                self.launcher.stop(self.handles[run_id])
            self.states.save(record)
            self._changed()
        self.wake.set()
        return record

    def get(self, run_id: str) -> RunRecord | None:
        with self.lock:
            return self.records.get(run_id)

    def listing(self) -> list[RunRecord]:
        """Every run, newest first."""
        with self.lock:
            return sorted(
                self.records.values(), key=lambda r: (r.submitted, r.run_id), reverse=True
            )

    def counts(self) -> dict[str, int]:
        with self.lock:
            out: dict[str, int] = {}
            for record in self.records.values():
                out[str(record.state)] = out.get(str(record.state), 0) + 1
            return out

    # -- the step ---------------------------------------------------------------------------
    def _step(self) -> None:
        for run_id in list(self.handles):
            self._watch(self.records[run_id])
        for run_id in list(self.orphans):
            self._watch_orphan(self.records[run_id])
        slots = self.config.workers - len(self.handles) - len(self.orphans)
        for record in sorted(
            (r for r in self.records.values() if r.state is State.QUEUED),
            key=lambda r: (r.submitted, r.run_id),
        ):
            if slots <= 0:
                break
            self._launch(record, restart=False)
            slots -= 1

    def _launch(self, record: RunRecord, *, restart: bool) -> None:
        files = self.files(record.run_id)
        files.exit_file.unlink(missing_ok=True)
        argv = [*record.argv, "--restart"] if restart else record.argv
        record.attempts += 1
        try:
            handle = self.launcher.start(files, argv, record.attempts, self.config.dest_bucket_base)
        except OSError as exc:
            record.system_logs.append(f"the run could not be started: {exc}")
            self._finish(record, State.SYSTEM_ERROR, None)
            return
        self.handles[record.run_id] = handle
        record.process = handle.to_json()
        record.resume = False
        if record.state in (State.QUEUED, State.INITIALIZING):
            record.state = State.INITIALIZING
        if record.start_time is None:
            record.start_time = time.time()
        if restart:
            record.system_logs.append(
                f"resumed with --restart at {time.strftime('%Y-%m-%d %H:%M:%S')}"
            )
        self.states.save(record)
        self._changed()

    def _watch(self, record: RunRecord) -> None:
        handle = self.handles[record.run_id]
        if not self.launcher.running(handle):
            del self.handles[record.run_id]
            self._ended(record)
            return
        if record.state is State.INITIALIZING:
            leader_state, _ = self.store_status(self.files(record.run_id))
            if leader_state is not None:
                record.state = State.RUNNING
                self.states.save(record)
                self._changed()
        elif record.state is State.CANCELING:
            asked = self.cancel_times.setdefault(record.run_id, time.monotonic())
            if time.monotonic() - asked > CANCEL_GRACE:
                record.system_logs.append(f"did not stop in {CANCEL_GRACE:.0f} s: killed")
                self.launcher.kill(handle)

    def _watch_orphan(self, record: RunRecord) -> None:
        """A leader alive without its supervisor: wait until its lease is free."""
        _, alive = self.store_status(self.files(record.run_id))
        if alive:
            return
        self.orphans.discard(record.run_id)
        self._gone(record)

    def _ended(self, record: RunRecord) -> None:
        """The supervisor is gone: finish from its exit code, or resume without one."""
        code = read_exit(self.files(record.run_id))
        if code is None:
            self._gone(record)
            return
        if record.resume and code in INTERRUPTED and not record.cancel_requested:
            self._resume(record)  # stopped by the server on its way out
            return
        if export_failed(self.files(record.run_id)):
            record.system_logs.append(
                f"the run succeeded but its outputs could not be uploaded to "
                f"{self.config.dest_bucket_base} (see its stderr)"
            )
            self._finish(record, State.SYSTEM_ERROR, code)
            return
        self._finish(record, final_state(code, record.cancel_requested), code)

    def _gone(self, record: RunRecord) -> None:
        """The run's process vanished without an exit code (killed with the server)."""
        if record.cancel_requested:
            self._finish(record, State.CANCELED, None)
            return
        files = self.files(record.run_id)
        leader_state, _ = self.store_status(files)
        if leader_state == "succeeded" and _has_outputs(files, record):
            self._finish(record, *self._exported(record))
            return
        self._resume(record)

    def _exported(self, record: RunRecord) -> tuple[State, int]:
        """A run that succeeded but whose supervisor died before recording it: its outputs
        uploaded here if ``--dest_bucket_base`` wants them and they are not yet."""
        base, files = self.config.dest_bucket_base, self.files(record.run_id)
        if not base or read_exported(files.root) is not None:
            return State.COMPLETE, 0
        try:
            export_outputs(files.root, base)
        except (BackendError, OSError) as exc:
            record.system_logs.append(f"its outputs could not be uploaded to {base}: {exc}")
            return State.SYSTEM_ERROR, 1
        return State.COMPLETE, 0

    def _resume(self, record: RunRecord) -> None:
        files = self.files(record.run_id)
        leader_state, _ = self.store_status(files)
        restart = leader_state is not None
        if not restart and files.jobstore.exists():
            # made, but its leader never started a job: nothing in it to resume
            shutil.rmtree(files.jobstore, ignore_errors=True)
        self._launch(record, restart=restart)

    def _finish(self, record: RunRecord, state: State, code: int | None) -> None:
        record.state = state
        record.exit_code = code
        record.end_time = time.time()
        record.process = None
        self.cancel_times.pop(record.run_id, None)
        if code is not None and code < 0:
            record.system_logs.append(f"the engine was killed by signal {-code}")
        self.states.save(record)
        self._changed()

    def _changed(self) -> None:
        self.version += 1

    # -- after a restart of the server -------------------------------------------------------
    def reconcile(self) -> None:
        """Bring every unfinished run in line with what is there now (module docstring)."""
        for record in self.records.values():
            if record.state.terminal or record.state is State.QUEUED:
                continue
            files = self.files(record.run_id)
            handle = Handle.from_json(record.process) if record.process else None
            if handle is not None and self.launcher.running(handle):
                self.handles[record.run_id] = handle
                log.info(
                    "run %s: its process (pid %d) still runs; watching it",
                    record.run_id,
                    handle.pid,
                )
                continue
            if read_exit(files) is not None:
                self._ended(record)
                continue
            _, alive = self.store_status(files)
            if alive:
                self.orphans.add(record.run_id)
                continue
            log.info("run %s: its process is gone; resuming it", record.run_id)
            self._gone(record)


def final_state(code: int, canceled: bool) -> State:
    """The WES state of a run whose engine exited with ``code`` (negative: a signal)."""
    if canceled:
        return State.COMPLETE if code == 0 else State.CANCELED
    if code == 0:
        return State.COMPLETE
    if code < 0 or code in INTERRUPTED or code == 127:
        return State.SYSTEM_ERROR
    return State.EXECUTOR_ERROR


def export_failed(files: RunFiles) -> bool:
    """Whether the supervisor recorded that the outputs' upload failed."""
    try:
        return bool(json.loads(files.exit_file.read_text()).get("export_failed"))
    except (OSError, ValueError, AttributeError):
        return False


def read_exit(files: RunFiles) -> int | None:
    """The exit code the supervisor recorded, or None."""
    try:
        data: dict[str, Any] = json.loads(files.exit_file.read_text())
        return int(data["exit_code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _has_outputs(files: RunFiles, record: RunRecord) -> bool:
    from runner.server.outputs import read_outputs

    return read_outputs(files, record.workflow_type) is not None
