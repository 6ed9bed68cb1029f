"""A pool of long-lived worker processes forked from the leader.

Each worker is forked (no exec) so it inherits everything the leader has imported or loaded,
and runs one job at a time: it reads a job from its pipe, calls ``fn(locator, job_id)`` for the
job's ``"module:function"`` entry and writes back how the call ended. The pool knows nothing of
resources or queues; ``SingleMachineBatchSystem`` decides what runs when.

Guarantees:

- A worker is the leader of its own process group (pgid == pid), so killing the group also
  kills the tool processes a job started, and a Ctrl-C at the terminal (sent to the
  terminal's foreground group) reaches only the leader.
- A worker exits when the leader's end of its pipe closes (leader exit, even by SIGKILL): at
  once when idle, after finishing and reporting its job when busy, so a job's result is
  written even if the leader died under it.
- Every process the pool forked is reaped by ``kill`` or ``close``; none is left as a zombie.

Not thread-safe: one thread (the leader's) drives the pool.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import selectors
import signal
import sys
import time
import traceback
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection

logger = logging.getLogger(__name__)

_MESSAGE_LIMIT = 8000  # characters of a traceback sent back; the head is the least useful part

# Every live pool of this process: a freshly forked worker closes the leader-side pipe ends of
# all of them, or one worker's copy would hide the leader's death from another worker.
_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@dataclass(eq=False)
class Worker:
    """One worker process as the leader sees it."""

    pid: int
    conn: Connection
    batch_id: int | None = None
    """The job it runs now; None while idle."""


@dataclass(frozen=True)
class Reply:
    """A worker's report that the job it ran has returned."""

    batch_id: int
    exit_status: int
    wall_time: float
    message: str


@dataclass(frozen=True)
class Death:
    """A worker process ended (it never does on its own while the leader lives)."""

    worker: Worker
    batch_id: int | None
    wait_status: int | None
    """As returned by ``os.waitpid``; None if something else in the process reaped it."""
    reply: Reply | None = None
    """What the worker reported before it died, if it did (a job that ended just before a
    kill)."""


class WorkerPool:
    """Forks workers on demand (up to ``max_workers``), keeps them, sends them jobs."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._workers: dict[int, Worker] = {}  # pid -> worker
        self._idle: list[Worker] = []
        self._selector = selectors.DefaultSelector()
        _POOLS.add(self)

    @property
    def size(self) -> int:
        """How many worker processes exist."""
        return len(self._workers)

    def has_capacity(self) -> bool:
        """Whether ``run`` can start a job now (an idle worker or room for a new one)."""
        return bool(self._idle) or len(self._workers) < self.max_workers

    def run(
        self, batch_id: int, entry: str, locator: str, job_id: str, environment: Mapping[str, str]
    ) -> Worker:
        """Start a job on an idle or new worker and return that worker.

        Raises OSError if no worker can be made (fork failed) or none takes the job."""
        message = pickle.dumps(
            (batch_id, entry, locator, job_id, dict(environment)), pickle.HIGHEST_PROTOCOL
        )
        for _attempt in range(3):
            worker = self._idle.pop() if self._idle else self._spawn()
            try:
                worker.conn.send_bytes(message)
            except OSError:
                # It died while idle; the next select would have told us. Drop it, try again.
                logger.warning("worker %d died while idle; replacing it", worker.pid)
                self._reap([worker])
                continue
            worker.batch_id = batch_id
            return worker
        raise OSError("no worker process would take the job")

    def wait(self, timeout: float | None) -> list[Reply | Death]:
        """Wait up to ``timeout`` seconds for busy workers to report; return what happened.

        An idle worker that died is reaped here and reported as a Death with no batch ID."""
        events: list[Reply | Death] = []
        for key, _mask in self._selector.select(timeout):
            worker: Worker = key.data
            try:
                data = worker.conn.recv_bytes()
            except (EOFError, OSError):
                events.extend(self._reap([worker]))
                continue
            reply = _decode(data)
            worker.batch_id = None
            self._idle.append(worker)
            events.append(reply)
        return events

    def kill(self, workers: list[Worker]) -> list[Death]:
        """SIGKILL these workers' process groups and reap them; they leave the pool."""
        return self._reap(workers)

    def close(self) -> None:
        """Kill and reap every worker. The pool may be used again afterwards."""
        self._reap(list(self._workers.values()))

    def _spawn(self) -> Worker:
        parent_end, child_end = Pipe(duplex=True)
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)  # or the child would print the leader's pending output again
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, reported by its exit
            code = 70
            try:
                _become_worker(parent_end)
                code = _serve(child_end)
            finally:
                _flush(sys.stdout)
                _flush(sys.stderr)
                os._exit(code)
        try:
            os.setpgid(pid, pid)  # also done in the child: whichever runs first wins the race
        except OSError:
            pass
        child_end.close()
        worker = Worker(pid, parent_end)
        self._workers[pid] = worker
        self._selector.register(parent_end.fileno(), selectors.EVENT_READ, worker)
        logger.debug("forked worker %d (%d in pool)", pid, len(self._workers))
        return worker

    def _reap(self, workers: list[Worker]) -> list[Death]:
        for worker in workers:
            _kill_group(worker.pid)
        deaths = []
        for worker in workers:
            status: int | None
            try:
                _pid, status = os.waitpid(worker.pid, 0)
            except ChildProcessError:
                status = None
            reply = None
            try:
                if worker.conn.poll(0):
                    reply = _decode(worker.conn.recv_bytes())
            except (EOFError, OSError):
                pass
            self._selector.unregister(worker.conn.fileno())
            worker.conn.close()
            del self._workers[worker.pid]
            if worker in self._idle:
                self._idle.remove(worker)
            deaths.append(Death(worker, worker.batch_id, status, reply))
        return deaths

    def _child_cleanup(self) -> None:
        """In a freshly forked worker: drop this pool's leader-side handles."""
        for worker in self._workers.values():
            worker.conn.close()
        # Closes only this process's epoll descriptor (no EPOLL_CTL_DEL reaches the leader's
        # shared instance) and marks it closed, so no later finalizer closes a reused number.
        self._selector.close()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:  # setpgid failed somehow: at least kill the worker itself
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _flush(stream: object) -> None:
    try:
        stream.flush()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        pass


def _decode(data: bytes) -> Reply:
    batch_id, exit_status, wall_time, message = pickle.loads(data)
    return Reply(batch_id, exit_status, wall_time, message)


def _become_worker(leader_end: Connection) -> None:
    """Turn the forked child into a worker: own group, no leader handles, plain signals."""
    os.setpgid(0, 0)
    leader_end.close()
    for pool in list(_POOLS):
        pool._child_cleanup()
    for signum in signal.valid_signals():
        handler = signal.getsignal(signum)
        # The leader's Python handlers (shutdown on SIGTERM...) must not run in a worker.
        if callable(handler) and handler is not signal.default_int_handler:
            signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # tools' exit statuses must be collectable
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # a job must not read the leader's terminal
    os.close(devnull)
    # Stray prints from a job must not end up in the leader's stdout (the workflow's JSON).
    _flush(sys.stdout)
    os.dup2(2, 1)


def _serve(conn: Connection) -> int:
    """Run jobs until the leader's end closes. Returns the exit code."""
    cache: dict[str, Callable[[str, str], object]] = {}
    home = os.getcwd()
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return 0  # leader gone (or shut us down): nothing more to do
        batch_id, entry, locator, job_id, environment = pickle.loads(data)
        started = time.monotonic()
        status, message = _run_one(cache, entry, locator, job_id, environment)
        reply = (batch_id, status, time.monotonic() - started, message)
        try:
            conn.send_bytes(pickle.dumps(reply, pickle.HIGHEST_PROTOCOL))
        except OSError:
            return 0  # leader died while the job ran; the job wrote its own result
        try:
            os.chdir(home)  # a job that changed directory must not move the next one
        except OSError:
            pass


def _run_one(
    cache: dict[str, Callable[[str, str], object]],
    entry: str,
    locator: str,
    job_id: str,
    environment: dict[str, str],
) -> tuple[int, str]:
    """Call the entry; (exit status, message). Never raises."""
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        fn = cache.get(entry)
        if fn is None:
            fn = cache[entry] = _load(entry)
        fn(locator, job_id)
        return 0, ""
    except SystemExit as exc:  # sys.exit() in a job ends the job, not the worker
        if exc.code is None or exc.code == 0:
            return 0, ""
        if isinstance(exc.code, int):
            return exc.code, f"job called sys.exit({exc.code})"
        return 1, str(exc.code)
    except BaseException:  # noqa: BLE001 - any failure of the call is the job's failure
        return 1, traceback.format_exc()[-_MESSAGE_LIMIT:]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _load(entry: str) -> Callable[[str, str], object]:
    module_name, sep, attr = entry.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"job entry {entry!r} is not of the form 'module:function'")
    target: object = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"job entry {entry!r} is not callable")
    return target
