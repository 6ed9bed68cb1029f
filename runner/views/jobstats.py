"""Per-job statistics of a run made with ``--stats``, and their summaries (``toil stats``).

The leader journals one ``JobStats`` event (``runner.model.events``) per finished attempt of a
job (failed attempts included), where ``stats`` comes from ``runner.engine.execute``: ``wall`` and
``cpu`` seconds (CPU of the worker and the tools it waited for), ``rss_kib`` (the job's peak
memory, see ``runner.jobenv.peakmem``), wall-clock ``start``/``end``, ``local`` (1 for a job the
leader ran itself) and ``ok``; newer runs add ``tool_rss_kib`` (the tools' own peak, without
the worker), ``tool_start``/``tool_end`` (when the job's tools ran, ``runner.jobenv.toolspan``),
``rchar``/``wchar``/``read_bytes``/``write_bytes`` (``/proc/self/io`` growth), ``host``, and
from the leader ``queued`` (when it issued the attempt), ``batch_id``, the requested ``cores``,
``memory`` and ``disk`` (bytes), ``attempt``, ``display`` (the display name) and ``error``.

Summaries follow ``toil stats``: for each category (``time`` = wall seconds, ``clock`` = CPU
seconds, ``wait`` = wall minus CPU, never below 0, ``memory`` = KiB, ``disk`` = bytes of the
job's directory when it ended, ``disk_used``, as Toil's ``disk``) the min, median, mean
(``ave``), max and total, per job name and over all jobs. Jobs the leader ran itself
(expressions, scatter expansion) are summarized under ``NAME (leader)`` so that they do not
blur the figures of the tools that share their name.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from backends.jobstore.base import JobStore
from runner.model import events

CATEGORIES = ("time", "clock", "wait", "memory", "disk")
FIELDS = ("min", "med", "ave", "max", "total")
UNITS = {"time": "s", "clock": "core-s", "wait": "s", "memory": "KiB", "disk": "B"}
LEADER_SUFFIX = " (leader)"


@dataclass(frozen=True)
class JobStat:
    """One finished attempt of one job."""

    job_id: str
    name: str
    wall: float
    cpu: float
    rss_kib: float
    start: float | None = None
    end: float | None = None
    local: bool = False
    ok: bool = True
    #: the exit status of the tool that failed the attempt, when one ran
    exit_code: int | None = None
    display: str = ""
    attempt: int = 0
    host: str = ""
    batch_id: int | None = None
    #: when the leader issued it, and when its tools ran (wall-clock seconds)
    queued: float | None = None
    tool_start: float | None = None
    tool_end: float | None = None
    #: the tools' own peak memory (KiB), without the worker's
    tool_rss_kib: float | None = None
    #: requested cores, memory and disk (bytes)
    cores: float | None = None
    memory: float | None = None
    disk: float | None = None
    #: bytes read and written (read/write calls, and from storage)
    rchar: float | None = None
    wchar: float | None = None
    read_bytes: float | None = None
    write_bytes: float | None = None
    #: bytes the job's directory held when it ended (``disk`` is what it asked for)
    disk_used: float | None = None
    error: str = ""

    @property
    def label(self) -> str:
        """The display name, or the name."""
        return self.display or self.name

    @property
    def used_cores(self) -> float | None:
        """CPU seconds per wall second (None for an instant job)."""
        return self.cpu / self.wall if self.wall > 0 else None

    @property
    def group(self) -> str:
        """The name it is summarized under."""
        return self.name + LEADER_SUFFIX if self.local else self.name

    def value(self, category: str) -> float:
        if category == "time":
            return self.wall
        if category == "clock":
            return self.cpu
        if category == "wait":
            return max(0.0, self.wall - self.cpu)
        if category == "disk":
            return self.disk_used or 0.0
        return self.rss_kib


def read_job_stats(store: JobStore) -> list[JobStat]:
    """Every job attempt's stats in the store's journal (empty for a run without --stats)."""
    return [
        job_stat(e.job_id, str(e.name), e.stats)
        for e in events.decode_kind(store.read_records(), events.JobStats)
    ]


_OPTIONAL = (
    "queued",
    "tool_start",
    "tool_end",
    "tool_rss_kib",
    "cores",
    "memory",
    "disk",
    "rchar",
    "wchar",
    "read_bytes",
    "write_bytes",
    "disk_used",
)


def job_stat(job_id: str, name: str, stats: dict[str, Any]) -> JobStat:
    """The JobStat of one ``stats`` event's figures (see the module docstring)."""

    def number(key: str) -> float | None:
        value = stats.get(key)
        return float(value) if isinstance(value, int | float) else None

    return JobStat(
        job_id=job_id,
        name=name,
        wall=float(stats.get("wall", 0.0)),
        cpu=float(stats.get("cpu", 0.0)),
        rss_kib=float(stats.get("rss_kib", 0.0)),
        start=number("start"),
        end=number("end"),
        local=bool(stats.get("local", 0.0)),
        ok=bool(stats.get("ok", 1.0)),
        exit_code=int(stats["exit_code"]) if "exit_code" in stats else None,
        display=str(stats.get("display", "")),
        attempt=int(stats.get("attempt", 0)),
        host=str(stats.get("host", "")),
        batch_id=int(stats["batch_id"]) if "batch_id" in stats else None,
        error=str(stats.get("error", "")),
        **{key: number(key) for key in _OPTIONAL},
    )


def summarize(values: list[float]) -> dict[str, float]:
    """min, med, ave, max and total of ``values`` (all 0 for none)."""
    if not values:
        return dict.fromkeys(FIELDS, 0.0)
    return {
        "min": min(values),
        "med": statistics.median(values),
        "ave": sum(values) / len(values),
        "max": max(values),
        "total": sum(values),
    }


def summary_of(stats: Iterable[JobStat]) -> dict[str, Any]:
    """``{"count": n, "time": {...}, "clock": {...}, "wait": {...}, "memory": {...}}``."""
    items = list(stats)
    out: dict[str, Any] = {"count": len(items)}
    for category in CATEGORIES:
        out[category] = summarize([s.value(category) for s in items])
    return out


def aggregate(
    stats: list[JobStat],
    sort_category: str = "time",
    sort_field: str = "med",
    reverse: bool = False,
) -> dict[str, Any]:
    """The summary over all jobs and per job name, job names sorted as ``toil stats``
    sorts them (``sort_category`` one of CATEGORIES or ``alpha``/``count``)."""
    groups: dict[str, list[JobStat]] = {}
    for stat in stats:
        groups.setdefault(stat.group, []).append(stat)
    job_types = [{"name": name, **summary_of(items)} for name, items in groups.items()]

    def key(entry: dict[str, Any]) -> Any:
        if sort_category == "alpha":
            return entry["name"]
        if sort_category == "count":
            return entry["count"]
        return entry[sort_category][sort_field]

    job_types.sort(key=key, reverse=reverse)
    starts = [s.start for s in stats if s.start is not None]
    ends = [s.end for s in stats if s.end is not None]
    return {
        "units": UNITS,
        "total": summary_of(stats),
        "job_types": job_types,
        "failed_attempts": sum(1 for s in stats if not s.ok),
        "span": (max(ends) - min(starts)) if starts and ends else None,
    }


def read_dependencies(store: JobStore) -> dict[str, set[str]]:
    """For each job in the journal, the jobs it waited for: its parent (a child starts after
    its parent ran) and the jobs whose results it needs."""
    out: dict[str, set[str]] = {}
    for record in events.job_records(store.read_records()):
        needs = {p.job_id for p in getattr(record, "needs", ()) if hasattr(p, "job_id")}
        parent = getattr(record, "parent", None)
        out[str(record.id)] = needs | ({parent} if parent else set())
    return out


def critical_path(stats: list[JobStat], depends: dict[str, set[str]]) -> list[int]:
    """The indices (into ``stats``) of the attempts of the jobs on the run's critical path:
    from the job that ended last, back through the predecessor that ended last, to a job
    that waited for none (jobs without stats are passed through to their own
    predecessors)."""
    attempts: dict[str, list[int]] = {}
    ends: dict[str, float] = {}
    for i, s in enumerate(stats):
        attempts.setdefault(s.job_id, []).append(i)
        if s.end is not None:
            ends[s.job_id] = max(ends.get(s.job_id, s.end), s.end)
    if not ends:
        return []

    def timed_predecessors(job: str) -> set[str]:
        found: set[str] = set()
        seen: set[str] = set()
        stack = list(depends.get(job, ()))
        while stack:
            other = stack.pop()
            if other in seen:
                continue
            seen.add(other)
            if other in ends:
                found.add(other)
            else:
                stack.extend(depends.get(other, ()))
        return found

    current: str | None = max(ends, key=lambda j: ends[j])
    path: list[str] = []
    while current is not None and current not in path:
        path.append(current)
        before = timed_predecessors(current)
        current = max(before, key=lambda j: ends[j]) if before else None
    return sorted(i for job in path for i in attempts[job])
