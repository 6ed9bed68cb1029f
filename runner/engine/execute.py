"""Running one job: the same code for pool workers, cluster workers and leader-local jobs.

``execute`` takes a ``JobInput`` (the job's pickled payload plus the values of the promises
it needs; see ``runner.engine.handoff``), runs the job's executor and returns a
``JobResult`` (its pickled return value, the jobs it added, or the error).
"""

from __future__ import annotations

import importlib
import logging
import os
import resource
import socket
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from backends.jobstore.base import JobStore
from runner.config.options import log_level
from runner.config.runconfig import RunConfig
from runner.engine import names
from runner.engine.handoff import JobInput, JobResult
from runner.engine.usertb import format_job_traceback
from runner.errors import JobError, MoilError
from runner.jobenv import realtime, toolspan
from runner.jobenv.filestore import FileStore
from runner.jobenv.memwatch import MemoryWatch
from runner.jobenv.peakmem import JobMemory
from runner.jobenv.setenv import job_environment
from runner.jobenv.tempdirs import cleans_work_dir, work_dir
from runner.model.graph import JobNode
from runner.model.promise import dumps, loads
from runner.model.records import JobRecord, flatten

_executors: dict[str, Callable[..., Any]] = {}


def load_executor(path: str) -> Callable[..., Any]:
    """The function a ``"module:function"`` path names (cached)."""
    fn = _executors.get(path)
    if fn is None:
        module, _, attr = path.partition(":")
        fn = getattr(importlib.import_module(module), attr)
        _executors[path] = fn
    return fn


_warmers: dict[str, Callable[[Any], object]] = {}


def register_warmer(executor: str, fn: Callable[[Any], object]) -> None:
    """Have ``warm`` call ``fn(payload)`` for jobs of ``executor`` (its module registers
    it when imported): what every job of that executor would load, loaded once."""
    _warmers[executor] = fn


def warm(job: JobInput) -> None:
    """Import ``job``'s executor and let it load what its jobs share (a CWL document), in
    a process that then forks one worker per job (a bundle). Raises what they raise."""
    load_executor(job.executor)
    warmer = _warmers.get(job.executor)
    if warmer is not None:
        warmer(loads(job.body, job.values))


class Context:
    """The JobContext an executor gets (see runner.model.graph.JobContext)."""

    def __init__(
        self,
        job_id: str,
        name: str,
        file_store: FileStore,
        log: logging.Logger,
        config: RunConfig,
    ) -> None:
        self.job_id = job_id
        self.name = name
        self.file_store = file_store
        self.log = log
        self.config = config
        self.children: list[JobNode] = []
        self.followons: list[JobNode] = []
        self.services: list[JobNode] = []
        self.attempt = 0

    def add_child(self, node: JobNode) -> JobNode:
        self.children.append(node)
        return node

    def add_followon(self, node: JobNode) -> JobNode:
        self.followons.append(node)
        return node

    def add_service(self, node: JobNode) -> JobNode:
        self.services.append(node)
        return node

    def new_records(self) -> list[JobRecord]:
        out: list[JobRecord] = []
        for relation, nodes in (
            ("child", self.children),
            ("followon", self.followons),
            ("service", self.services),
        ):
            for node in nodes:
                out.extend(flatten(node, self.job_id, relation))
        return out


_made_roots: set[str] = set()


def work_root(config: RunConfig) -> str:
    """The directory under which jobs get their temporary directories (made if missing)."""
    root = work_dir(config.work_dir)
    if root not in _made_roots:
        os.makedirs(root, exist_ok=True)
        _made_roots.add(root)
    return root


def execute(
    store: JobStore, job: JobInput, config: RunConfig, log: logging.Logger | None = None
) -> JobResult:
    """Run ``job``'s executor and capture its outcome; never raises for a job's own error."""
    log = log or logging.getLogger(f"moil.job.{job.name}")
    file_store = FileStore(store, work_root(config), log, prefix=names.job_dir_prefix(job.job_id))
    ctx = Context(job.job_id, job.name, file_store, log, config)
    ctx.attempt = job.attempt
    realtime.set_current_job(f"{job.name} {job.job_id}")  # what RealtimeLogger sends with
    # Per-job memory costs a /proc write and, for worker jobs, a sampling thread: only
    # with --stats, the one place it is reported.
    memory = JobMemory(sample=not job.local) if config.stats else None
    io0 = _io_counters() if config.stats else {}
    toolspan.reset()
    started, start, cpu0 = time.time(), time.monotonic(), _cpu_seconds()
    tool_exit: int | None = None
    result = JobResult(ok=False, error="interrupted")
    watch = _memory_watch(job, config)
    with (
        memory if memory is not None else nullcontext(),
        job_environment(config.set_env),
        watch if watch is not None else nullcontext(),
    ):
        try:
            payload = loads(job.body, job.values)
            returned = load_executor(job.executor)(ctx, payload)
            value, promises = dumps(returned)
            result = JobResult(ok=True, value=value, promises=promises, new=ctx.new_records())
        except Exception as exc:  # noqa: BLE001 (a job's failure is data, not a crash)
            tool_exit = getattr(exc, "tool_exit_code", None)
            result = JobResult(
                ok=False,
                error=_describe(exc),
                # moil's errors are the job's own account of its failure: no traceback
                details=""
                if isinstance(exc, MoilError)
                else format_job_traceback(
                    exc, own_frames=log_level(config.log_level) <= logging.DEBUG
                ),
                # a MoilError says whether a retry can help (an unsupported requirement,
                # an invalid document: never); any other exception may be passing
                retryable=exc.retryable if isinstance(exc, MoilError) else True,
                exit_code=exc.exit_code if isinstance(exc, MoilError) else 1,
            )
        finally:
            made = file_store.made_temp_dir
            disk_used = _disk_usage(made) if config.stats and made is not None else None
            _clean_or_keep(file_store, config.clean_work_dir, result, log, job.local)
    wall = time.monotonic() - start
    if watch is not None and watch.exceeded_kib is not None:
        result = JobResult(
            ok=False,
            over_memory=True,
            error=f"killed for using more memory than it asked for ({watch.exceeded_kib // 1024}"
            f" MiB used, {watch.limit_kib // 1024} MiB asked)",
        )
    result.messages = file_store.messages
    result.stats = {
        "wall": wall,
        "cpu": _cpu_seconds() - cpu0,
        "rss_kib": float(memory.peak_kib() if memory is not None else _peak_rss_kib()),
        # wall-clock start and end for timelines; local=1 for a job the leader ran itself
        "start": started,
        "end": started + wall,
        "local": float(job.local),
        "ok": float(result.ok),
        "host": socket.gethostname(),
    }
    span = toolspan.take()
    if span is not None:
        result.stats["tool_start"], result.stats["tool_end"] = span
    if memory is not None:
        result.stats["tool_rss_kib"] = float(memory.tool_peak_kib())
    for key, before in io0.items():  # the worker's and the tools it waited for
        result.stats[key] = float(_io_counters().get(key, before) - before)
    if tool_exit is not None:
        result.stats["exit_code"] = float(tool_exit)
    if disk_used is not None:
        result.stats["disk_used"] = float(disk_used)
    return result


def _clean_or_keep(
    file_store: FileStore, policy: str, result: JobResult, log: logging.Logger, local: bool
) -> None:
    """Delete the job's directory or keep it, as ``--cleanWorkDir`` says for this outcome
    (``cleans_work_dir``). A failed job's error names the kept directory, or says how to
    keep it next time."""
    made = file_store.made_temp_dir
    note = ""
    if cleans_work_dir(policy, result.ok):
        file_store.cleanup()
        if made is not None and not local:
            note = "its work directory is deleted (--cleanWorkDir onSuccess keeps it)"
    elif made is not None:
        if result.ok:  # a failure's error says it (below)
            log.info("the job's work directory is kept (--cleanWorkDir %s): %s", policy, made)
        note = f"its work directory is kept: {made}"
    if note and not result.ok:  # on a line of its own after a multi-line account
        result.error += ("\n  " if "\n" in result.error else "; ") + note


def _memory_watch(job: JobInput, config: RunConfig) -> MemoryWatch | None:
    """With --doubleMem, where the batch system does not enforce memory: the job's watch."""
    if not config.double_mem or job.local or job.memory is None:
        return None
    from runner.config.options import batch_system_class

    if not batch_system_class(config.batch_system).capabilities.in_process:
        return None  # a cluster's scheduler enforces memory and reports MEMLIMIT
    return MemoryWatch(job.memory)


def _disk_usage(path: str) -> int:
    """Bytes of disk the files under ``path`` take (``du``: allocated blocks, each hard
    link once; what cannot be read counts nothing)."""
    total, seen = 0, set()
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, JobError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


_IO_KEYS = {
    b"rchar": "rchar",
    b"wchar": "wchar",
    b"read_bytes": "read_bytes",
    b"write_bytes": "write_bytes",
}


def _io_counters() -> dict[str, int]:
    """This process's I/O counters (``/proc/self/io``; Linux adds those of each waited-for
    child when it is reaped): empty where there are none."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/io", "rb") as stream:
            for line in stream:
                key, _, value = line.partition(b":")
                if key in _IO_KEYS:
                    out[_IO_KEYS[key]] = int(value)
    except (OSError, ValueError):
        return {}
    return out


def _peak_rss_kib() -> int:
    return max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
