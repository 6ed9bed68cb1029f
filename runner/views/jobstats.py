"""Per-job statistics of a run made with ``--stats``, and their summaries (``toil stats``).

The leader journals one ``("stats", job_id, name, stats)`` event per finished attempt of a
job (failed attempts included), where ``stats`` comes from ``runner.engine.execute``: ``wall`` and
``cpu`` seconds (CPU of the worker and the tools it waited for), ``rss_kib`` (the job's peak
memory, see ``runner.jobenv.peakmem``), wall-clock ``start``/``end``, ``local`` (1 for a job the
leader ran itself) and ``ok``.

Summaries follow ``toil stats``: for each category (``time`` = wall seconds, ``clock`` = CPU
seconds, ``wait`` = wall minus CPU, never below 0, ``memory`` = KiB) the min, median, mean
(``ave``), max and total, per job name and over all jobs. Jobs the leader ran itself
(expressions, scatter expansion) are summarized under ``NAME (leader)`` so that they do not
blur the figures of the tools that share their name.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from backends.jobstore.base import JobStore
from runner.model.records import decode

CATEGORIES = ("time", "clock", "wait", "memory")
FIELDS = ("min", "med", "ave", "max", "total")
UNITS = {"time": "s", "clock": "core-s", "wait": "s", "memory": "KiB"}
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
        return self.rss_kib


def iter_events(store: JobStore, kind: str) -> Iterator[tuple[Any, ...]]:
    """The journal's events of one ``kind``, oldest first. A pickled event starts with its
    kind string, so records of other kinds are skipped without unpickling them (a match is
    always checked after decoding)."""
    marker = bytes([0x8C, len(kind)]) + kind.encode()  # SHORT_BINUNICODE + length + text
    for data in store.read_records():
        if data.find(marker, 0, 32) == -1:
            continue
        event = decode(data)
        if event[0] == kind:
            yield event


def read_job_stats(store: JobStore) -> list[JobStat]:
    """Every job attempt's stats in the store's journal (empty for a run without --stats)."""
    out = []
    for _, job_id, name, stats in iter_events(store, "stats"):
        out.append(JobStat(
            job_id=job_id, name=str(name), wall=float(stats.get("wall", 0.0)),
            cpu=float(stats.get("cpu", 0.0)), rss_kib=float(stats.get("rss_kib", 0.0)),
            start=stats.get("start"), end=stats.get("end"),
            local=bool(stats.get("local", 0.0)), ok=bool(stats.get("ok", 1.0)),
            exit_code=int(stats["exit_code"]) if "exit_code" in stats else None,
        ))
    return out


def summarize(values: list[float]) -> dict[str, float]:
    """min, med, ave, max and total of ``values`` (all 0 for none)."""
    if not values:
        return dict.fromkeys(FIELDS, 0.0)
    return {"min": min(values), "med": statistics.median(values),
            "ave": sum(values) / len(values), "max": max(values), "total": sum(values)}


def summary_of(stats: Iterable[JobStat]) -> dict[str, Any]:
    """``{"count": n, "time": {...}, "clock": {...}, "wait": {...}, "memory": {...}}``."""
    items = list(stats)
    out: dict[str, Any] = {"count": len(items)}
    for category in CATEGORIES:
        out[category] = summarize([s.value(category) for s in items])
    return out


def aggregate(stats: list[JobStat], sort_category: str = "time", sort_field: str = "med",
              reverse: bool = False) -> dict[str, Any]:
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
