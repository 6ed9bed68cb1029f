"""Job logs for the user: ``--writeLogs DIR``, ``--writeLogsGzip DIR``,
``--writeLogsFromAllJobs`` and ``--maxLogFileSize`` (Toil's options and rules).

The leader calls ``keep_job_log`` for each finished attempt of a worker job. By default only
the logs of failed attempts are written (Toil's rule); ``--writeLogsFromAllJobs`` or
``--logLevel DEBUG`` write every job's. A log longer than ``--maxLogFileSize`` (default
100 KiB; 0 means no limit) keeps its last bytes, after a line saying how much was cut. The
job's full log stays in the job store (``store.job_log_location``) whatever these options say.

Files are named ``<job name>_<job id>_<attempt>.log`` (``.log.gz`` with ``--writeLogsGzip``)
so that retries of a job do not overwrite each other.
"""

from __future__ import annotations

import gzip
import logging
import os
import re

from backends.jobstore.base import JobStore
from runner.config.options import log_level
from runner.config.runconfig import RunConfig
from runner.engine.handoff import JobResult
from runner.model.records import JobRecord

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def wants_log(config: RunConfig, ok: bool) -> bool:
    """Whether the log of a finished attempt goes to ``--writeLogs``/``--writeLogsGzip``."""
    if not (config.write_logs or config.write_logs_gzip):
        return False
    if not ok:
        return True
    return config.write_logs_from_all_jobs or log_level(config.log_level) <= logging.DEBUG


def truncate_log(data: bytes, limit: int) -> bytes:
    """``data`` cut to its last ``limit`` bytes (whole lines), with a note; 0 = no limit."""
    if limit <= 0 or len(data) <= limit:
        return data
    tail = data[-limit:]
    newline = tail.find(b"\n")
    if 0 <= newline < len(tail) - 1:
        tail = tail[newline + 1 :]  # start at a line boundary
    note = f"[moil: {len(data) - len(tail)} bytes of this log cut by --maxLogFileSize]\n"
    return note.encode() + tail


def log_file_name(record: JobRecord) -> str:
    """The file name (without suffix) of a job attempt's log."""
    name = _UNSAFE.sub("_", record.display_name or record.name).strip("_.")[:80] or "job"
    return f"{name}_{record.id}_{record.attempts}"


def keep_job_log(store: JobStore, record: JobRecord, result: JobResult, config: RunConfig) -> None:
    """Write the log of ``record``'s finished attempt where the options ask (see module
    docstring). Never raises: a log that cannot be written is reported and skipped."""
    if record.local or not wants_log(config, result.ok):
        return
    try:
        data = store.read_job_log(record.id)
        if not data:
            return
        data = truncate_log(data, config.max_log_file_size)
        stem = log_file_name(record)
        if config.write_logs:
            _write(os.path.join(config.write_logs, stem + ".log"), data, compress=False)
        if config.write_logs_gzip:
            _write(os.path.join(config.write_logs_gzip, stem + ".log.gz"), data, compress=True)
    except OSError as exc:
        log.warning("could not write the log of %s: %s", record.display_name, exc)


def _write(path: str, data: bytes, *, compress: bool) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "wb") as stream:
        stream.write(gzip.compress(data) if compress else data)
    os.replace(temp, path)
