"""The trace file (``--trace FILE``, ``toil report --trace``): one line per job attempt, tab
separated, with the fields of Nextflow's trace report where moil has the figure, in
Nextflow's raw form (``trace.raw``: times in epoch milliseconds, durations in milliseconds,
sizes in bytes), so tools that read Nextflow traces read it.

Fields: ``task_id`` (1, 2, ... in the order the attempts ended), ``hash`` (the job ID's first
8 characters), ``native_id`` (the batch system's ID), ``process`` (the step), ``tag`` (the
scatter index), ``name`` (display name and attempt), ``status`` (COMPLETED or FAILED),
``exit``, ``submit``, ``start``, ``complete``, ``duration`` (submit to complete),
``realtime`` (the tools' run, else the worker's), ``%cpu``, ``peak_rss`` (the tools' own),
``rchar``, ``wchar``, ``read_bytes``, ``write_bytes``, ``cpus``, ``memory``, ``disk``
(requested), ``attempt`` (from 1, as Nextflow counts), ``hostname``. A figure moil has not
got is ``-``, as in Nextflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from runner.views.jobstats import JobStat

FIELDS = (
    "task_id",
    "hash",
    "native_id",
    "process",
    "tag",
    "name",
    "status",
    "exit",
    "submit",
    "start",
    "complete",
    "duration",
    "realtime",
    "%cpu",
    "peak_rss",
    "rchar",
    "wchar",
    "read_bytes",
    "write_bytes",
    "cpus",
    "memory",
    "disk",
    "attempt",
    "hostname",
)
_INDEX = re.compile(r"\[(\d+)\]$")


def _ms(value: float | None) -> str:
    return "-" if value is None else str(round(value * 1000))


def _int(value: float | None) -> str:
    return "-" if value is None else str(round(value))


def trace_line(number: int, s: JobStat) -> list[str]:
    """The fields of one attempt."""
    submit = s.queued if s.queued is not None else s.start
    tool = (s.tool_start, s.tool_end)
    realtime = tool[1] - tool[0] if tool[0] is not None and tool[1] is not None else s.wall
    found = _INDEX.search(s.label)
    cpu = "-" if not s.wall else f"{100 * s.cpu / s.wall:.1f}%"
    peak = s.tool_rss_kib if s.tool_rss_kib is not None else s.rss_kib
    return [
        str(number),
        s.job_id[:8],
        _int(s.batch_id),
        s.group,
        found.group(1) if found else "-",
        f"{s.label} (attempt {s.attempt + 1})",
        "COMPLETED" if s.ok else "FAILED",
        _exit(s),
        _ms(submit),
        _ms(s.start),
        _ms(s.end),
        _ms(s.end - submit) if s.end is not None and submit is not None else "-",
        _ms(realtime),
        cpu,
        _int(peak * 1024),
        _int(s.rchar),
        _int(s.wchar),
        _int(s.read_bytes),
        _int(s.write_bytes),
        "-" if s.cores is None else f"{s.cores:g}",
        _int(s.memory),
        _int(s.disk),
        str(s.attempt + 1),
        s.host or "-",
    ]


def trace_tsv(stats: Iterable[JobStat]) -> str:
    """The whole trace file."""
    rows = sorted(stats, key=lambda s: (s.end is None, s.end or 0.0))
    lines = ["\t".join(FIELDS)]
    for number, s in enumerate(rows, 1):
        lines.append("\t".join(_clean(f) for f in trace_line(number, s)))
    return "\n".join(lines) + "\n"


def _clean(field: str) -> str:
    return field.replace("\t", " ").replace("\n", " ")


def _exit(s: JobStat) -> str:
    if s.exit_code is not None:
        return str(s.exit_code)
    return "0" if s.ok and not s.local else "-"
