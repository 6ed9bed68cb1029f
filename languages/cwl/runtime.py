"""Running one cwltool process (a CommandLineTool or an ExpressionTool) in this process.

cwltool builds the command line, stages the inputs (symlinks to where the files lie),
runs the tool and collects its outputs; this module sets up its RuntimeContext from the
run's options and reports how the run went (status, exit code, cwltool's warnings).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from languages.cwl.settings import CwlSettings, cwl_settings
from runner.jobenv import toolspan
from runner.jobenv.setenv import variables

if TYPE_CHECKING:
    from cwltool.context import RuntimeContext
    from cwltool.pathmapper import PathMapper
    from cwltool.process import Process

    from runner.config.runconfig import RunConfig

CWLTOOL_LOGGER = "cwltool"


def _reset_js_after_fork() -> None:
    """A forked worker must not share the leader's node process (its pipes are shared)."""
    import sys

    sandbox = sys.modules.get("cwl_utils.sandboxjs")
    if sandbox is not None:
        sandbox.NodeJSEngine.localdata = threading.local()


os.register_at_fork(after_in_child=_reset_js_after_fork)


@dataclass
class ProcessRun:
    """How one run of a cwltool process went."""

    outputs: dict[str, Any] | None
    status: str
    exit_code: int | None = None
    messages: list[str] = field(default_factory=list)
    outdirs: list[str] = field(default_factory=list)
    stderr_path: str | None = None
    #: local paths of the inputs cwltool staged (files and directories)
    inputs: list[str] = field(default_factory=list)
    #: cwltool's reason when the process needs a feature it cannot provide here
    unsupported: str | None = None
    #: the tool's command ran and ended with a failure that another attempt may not have:
    #: an exit code neither in its successCodes nor in its permanentFailCodes, or a signal
    exit_failed: bool = False
    #: the tool was stopped by its ToolTimeLimit
    timed_out: bool = False


def runtime_context(
    config: RunConfig, temp_dir: str, process: Process | None = None
) -> RuntimeContext:
    """cwltool's RuntimeContext for one job whose private directory is ``temp_dir``, to run
    ``process`` (if given: it decides whether the tool runs in a container)."""
    from cwltool.mutation import MutationManager

    from languages.cwl import containers

    settings = cwl_settings(config)
    rc = _template(settings, config.log_level).copy()
    if config.set_env:  # --setEnv: set in this process while the job runs (execute)
        rc.preserve_environment = [*(rc.preserve_environment or ()), *variables(config.set_env)]
    tmpdir_prefix = settings.tmpdir_prefix
    outdir_prefix = settings.tmp_outdir_prefix
    in_container = (
        rc.use_container and process is not None and containers.wants_container(process, settings)
    )
    if not in_container:
        rc.path_mapper = host_path_mapper()
    if tmpdir_prefix:
        rc.tmpdir_prefix = tmpdir_prefix
    else:  # in the job's own directory: no extra directories to make or remove
        # A container's /tmp must not show the job's other directories; a tool on the host
        # gets the job's directory itself (one directory less to make per job)
        rc.tmpdir = os.path.join(temp_dir, "tmp") if in_container else temp_dir
        rc.stagedir = os.path.join(temp_dir, "stage")
    if outdir_prefix:
        rc.tmp_outdir_prefix = outdir_prefix
    else:
        rc.outdir = os.path.join(temp_dir, "out")
    # else the job's directory goes as a whole (or stays, with --leave-tmpdir)
    rc.rm_tmpdir = bool(tmpdir_prefix) and not settings.leave_tmpdir
    if not tmpdir_prefix:  # cwltool's scratch (container copies, cidfiles) in the job's too
        rc.tmpdir_prefix = os.path.join(temp_dir, "scratch")
    if rc.use_container:
        rc.cidfile_dir = temp_dir
    rc.mutation_manager = MutationManager()
    rc.workflow_eval_lock = threading.Condition(threading.RLock())
    if process is not None and not settings.no_compute_checksum:
        # an outputEval that reads ``self[0].checksum`` sees it, as with cwltool; the store
        # then takes that checksum instead of hashing the file again
        rc.compute_checksum = _output_eval_reads_checksum(process)
    return rc


def _output_eval_reads_checksum(process: Process) -> bool:
    for port in process.tool.get("outputs") or ():
        binding = port.get("outputBinding") or {}
        if "checksum" in str(binding.get("outputEval") or ""):
            return True
    return False


_host_mappers: list[type[PathMapper]] = []


def host_path_mapper() -> type[PathMapper]:
    """cwltool's PathMapper, except that a plain input File of a tool run on the host is
    used where it lies instead of through a symlink in a directory of its own.

    cwltool gives every input file of a host tool a new directory and a symlink in it
    (``stage/stgUUID/NAME``), so that names cannot clash and each file's directory holds
    only it and its secondary files. A file from the job store already lies alone in a
    directory of its own (``files/ID/NAME``), under its own name: the link adds nothing
    but two file creations per input (a gather of 1000 files made 2000). A File keeps
    cwltool's staging if it has secondary files (they must sit beside it), a name other
    than its file's (``basename`` changed by an expression), a ``dirname`` of its own, is
    writable, is itself a secondary file or a directory's entry, or is not a plain local
    file; InitialWorkDir entries (the mapper without separate directories) are all
    staged as cwltool does."""
    if _host_mappers:
        return _host_mappers[0]
    import stat
    import urllib.parse

    from cwltool.pathmapper import MapperEnt
    from cwltool.pathmapper import PathMapper as Base

    from languages.cwl.files import is_special_file

    def in_place(fob: Any) -> str | None:
        if fob.get("class") != "File" or fob.get("secondaryFiles") or fob.get("writable"):
            return None
        if fob.get("dirname") or "contents" in fob:
            return None
        location = fob.get("location", "")
        if not location.startswith("file://") or "#" in location:
            return None
        path = urllib.parse.unquote(location[7:])
        try:
            info = os.lstat(path)
        except OSError:
            return None
        if os.path.basename(path) != fob.get("basename"):
            return None
        if stat.S_ISREG(info.st_mode):
            return path
        # a FIFO or device (/dev/null) is read where it is: staged, cwltool would refuse it
        return path if is_special_file(path) else None

    def nested(objects: Any, found: set[str]) -> set[str]:
        """The locations of every secondary file and directory entry below ``objects``."""
        for obj in objects:
            if not isinstance(obj, dict):
                continue
            for key in ("secondaryFiles", "listing"):
                below = obj.get(key) or []
                found.update(o.get("location", "") for o in below if isinstance(o, dict))
                nested(below, found)
        return found

    class HostPathMapper(Base):
        def setup(self, referenced_files: Any, basedir: str) -> None:
            if not self.separateDirs:  # InitialWorkDir entries: staged in the output dir
                super().setup(referenced_files, basedir)
                return
            beside = nested(referenced_files, set())  # must be staged with their owner
            staged = []
            for fob in referenced_files:
                path = None if fob.get("location") in beside else in_place(fob)
                if path is None:
                    staged.append(fob)
                elif fob["location"] not in self._pathmap:
                    self._pathmap[fob["location"]] = MapperEnt(path, path, "File", False)
            super().setup(staged, basedir)

    _host_mappers.append(HostPathMapper)
    return HostPathMapper


@functools.lru_cache(maxsize=8)  # a few runs at once in one process (a WES server)
def _template(settings: CwlSettings, log_level: str) -> RuntimeContext:
    """The part of a RuntimeContext that only depends on the run's settings (built once per
    run and process: a RuntimeContext has some 80 attributes to set up). Callers copy it."""
    from cwltool.context import RuntimeContext
    from cwltool.stdfsaccess import StdFsAccess

    from languages.cwl import containers

    rc = RuntimeContext()
    rc.basedir = os.getcwd()
    containers.configure(rc, settings)
    rc.compute_checksum = False  # done once per file as it enters the store (files.py)
    rc.move_outputs = "leave"
    rc.preserve_environment = list(settings.preserve_environment)
    rc.preserve_entire_environment = settings.preserve_entire_environment
    rc.strict_memory_limit = settings.strict_memory_limit
    rc.eval_timeout = settings.eval_timeout
    rc.debug = log_level.upper() == "DEBUG"
    rc.js_console = settings.js_console
    rc.make_fs_access = StdFsAccess
    rc.toplevel = False
    rc.on_error = "stop"
    return rc


class _Capture(logging.Handler):
    """Keeps cwltool's warnings and errors of one run, for the failure message."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # noqa: BLE001 (a bad log record must not fail the job)
            self.lines.append(str(record.msg))


def run_process(process: Process, job_order: dict[str, Any], rc: RuntimeContext) -> ProcessRun:
    """Run ``process`` on ``job_order`` (local ``file://`` values) to its end.

    cwltool's own errors (invalid inputs, a failed expression) become a ``permanentFail``
    status with cwltool's message in ``messages``; nothing is raised for them."""
    from cwltool import process as cwl_process
    from cwltool.errors import UnsupportedRequirement as CwlUnsupported
    from cwltool.errors import WorkflowException
    from schema_salad.exceptions import ValidationException

    from languages.cwl import patches

    patches.apply()

    from cwltool.utils import processes_to_kill

    # cwltool makes job names unique against every name it ever gave in this process, with
    # a linear search, and keeps every tool process it started for a kill at exit: a
    # long-lived worker would pay O(jobs run) per job and hold every finished Popen
    cwl_process._names.clear()
    processes_to_kill.clear()
    results: list[tuple[Any, str]] = []
    run = ProcessRun(outputs=None, status="permanentFail")
    capture = _Capture()
    logger = logging.getLogger(CWLTOOL_LOGGER)
    logger.addHandler(capture)
    try:
        for job in process.job(job_order, lambda out, st: results.append((out, st)), rc):
            if job is None:
                raise WorkflowException("the process cannot make progress")
            _check_staged_names(job)
            _watch_exit_code(job, run)
            job.run(rc)
    except CwlUnsupported as exc:
        run.unsupported = str(exc)
    except (WorkflowException, ValidationException) as exc:
        capture.lines.append(str(exc))
    finally:
        logger.removeHandler(capture)
    run.messages = capture.lines
    if results:
        run.outputs, run.status = results[-1]
    return run


def _check_staged_names(job: Any) -> None:
    """Refuse InitialWorkDir entries whose names would be staged outside the tool's
    directory. cwltool checks an entry's own name (no leading ``../``; ``/`` only inside a
    container) but not the names inside a literal Directory's listing, which it joins to
    the directory's path as they are."""
    from languages.cwl.files import UnsafeName, check_names

    generated = getattr(job, "generatefiles", None)
    if not generated:
        return
    try:
        for entry in generated.get("listing") or ():
            for key in ("listing", "secondaryFiles"):
                check_names(entry.get(key))
    except UnsafeName as exc:
        raise UnsafeName(f"InitialWorkDirRequirement listing: {exc}") from None


def _watch_exit_code(job: Any, run: ProcessRun) -> None:
    """Record the tool's exit code and directories when cwltool collects its outputs."""
    started: list[float] = []
    if hasattr(job, "process_monitor"):
        # cwltool samples the tool's memory from a new thread each second; the core's job
        # stats already record the peak, and a thread per job is a cost a scatter feels
        def monitor(sproc: Any) -> None:
            started.append(time.monotonic())  # cwltool's ToolTimeLimit timer runs from here
            toolspan.begin()
            sproc.wait()
            toolspan.end()

        job.process_monitor = monitor
    collect = getattr(job, "collect_outputs", None)
    outdir = getattr(job, "outdir", None)
    if outdir:
        run.outdirs.append(outdir)
    tmpdir = getattr(job, "tmpdir", None)
    if tmpdir:
        run.outdirs.append(tmpdir)
    stderr = getattr(job, "stderr", None)
    if stderr and outdir:
        run.stderr_path = os.path.join(outdir, stderr)
    if collect is None:
        return

    def collect_and_record(outdir: str, rcode: int) -> Any:
        run.exit_code = rcode
        limit = getattr(job, "timelimit", None)
        # killed by its own ToolTimeLimit: the next attempt would take as long. cwltool starts
        # its timer just before the monitor above records the start, so a tool its timer
        # stopped (SIGTERM: rcode -15, or 143 through a container client) may show a little
        # under the limit; allow for that gap when the tool failed
        elapsed = time.monotonic() - started[0] if started else 0.0
        margin = min(1.0, 0.1 * limit) if limit and rcode != 0 else 0.0
        run.timed_out = bool(limit and started and elapsed >= limit - margin)
        run.exit_failed = (
            rcode != 0
            and rcode not in (getattr(job, "successCodes", None) or ())
            and rcode not in (getattr(job, "permanentFailCodes", None) or ())
            and not run.timed_out
        )
        for mapper in (getattr(job, "pathmapper", None), getattr(job, "generatemapper", None)):
            if mapper is not None:
                run.inputs.extend(e.resolved for e in mapper if e.resolved.startswith("/"))
        return collect(outdir, rcode)

    job.collect_outputs = collect_and_record


def stderr_tail(path: str | None, lines: int = 20) -> str:
    """The last ``lines`` lines of a file, or an empty string."""
    if not path or not os.path.isfile(path):
        return ""
    with open(path, "rb") as stream:
        stream.seek(max(0, os.path.getsize(path) - 8192))
        text = stream.read().decode(errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:])
