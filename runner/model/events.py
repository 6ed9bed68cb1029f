"""The events of a run's journal, and their encoding as journal records.

The leader decides what happened and says it as an event; ``StateMachine.apply`` is the
only way an event changes the state, in a live run and in a replay of the journal alike
(``runner.engine.journal``). Every reader of a journal (restart, ``toil status``,
``toil stats``, ``toil debug-job``, the WES server's task list) decodes it here.

On disk each record is one pickled tuple, its first element the kind::

    ("new", JobRecord)                     a job exists (one per job a RunStarted or
                                           JobRan adds, just before that event's record)
    ("root", job_id)                       RunStarted: the jobs before it are the run's
    ("ran", job_id, value, promises)       JobRan: the job returned ``value`` (pickled,
                                           holding ``promises``), adding the jobs before it
    ("attempt", job_id, attempts)          AttemptFailed: an attempt failed; it is retried
    ("failed", job_id, message)            JobFailed: the job failed for good
    ("started", service_id, value)         ServiceStarted: a service's start() returned
    ("reset", checkpoint_id)               CheckpointReset: a checkpoint job reruns
    ("stats", job_id, name, stats)         JobStats: the figures of one finished attempt

The jobs an event adds are separate records so that no record grows with the number of
children; the leader writes an event's records in one journal batch, which the store
keeps whole or not at all. Payloads stay pickled bytes so that decoding an event never
unpickles a job's own objects (only ``StateMachine.apply`` unpickles values).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from runner.errors import MoilError
from runner.model.promise import Promise
from runner.model.records import JobRecord

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_NEW = "new"


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A run's first jobs exist; ``root`` is the one whose value the run returns."""

    KIND: ClassVar[str] = "root"
    records: tuple[JobRecord, ...]
    root: str


@dataclass(frozen=True, slots=True)
class JobRan:
    """``job_id`` ran and returned ``value`` (pickled, holding ``promises``); ``new`` are
    the jobs it added (their ``parent``/``relation`` say where)."""

    KIND: ClassVar[str] = "ran"
    job_id: str
    value: bytes
    promises: frozenset[Promise]
    new: tuple[JobRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """An attempt of ``job_id`` failed and it runs again; ``attempts`` failed so far."""

    KIND: ClassVar[str] = "attempt"
    job_id: str
    attempts: int


@dataclass(frozen=True, slots=True)
class JobFailed:
    """``job_id`` failed with no retry left (a restart retries it)."""

    KIND: ClassVar[str] = "failed"
    job_id: str
    message: str


@dataclass(frozen=True, slots=True)
class ServiceStarted:
    """A service's ``start()`` returned ``value`` (pickled): its promise resolves."""

    KIND: ClassVar[str] = "started"
    job_id: str
    value: bytes


@dataclass(frozen=True, slots=True)
class CheckpointReset:
    """Everything below the checkpoint job ``job_id`` is dropped and it runs again."""

    KIND: ClassVar[str] = "reset"
    job_id: str


@dataclass(frozen=True, slots=True)
class JobStats:
    """The figures of one finished attempt (``runner.views.jobstats`` reads them); they do
    not change the state."""

    KIND: ClassVar[str] = "stats"
    job_id: str
    name: str
    #: figures (seconds, KiB, bytes, times) and a few strings (host, display name, error)
    stats: dict[str, float | str]


Event = (
    RunStarted | JobRan | AttemptFailed | JobFailed | ServiceStarted | CheckpointReset | JobStats
)
EventType = (
    type[RunStarted]
    | type[JobRan]
    | type[AttemptFailed]
    | type[JobFailed]
    | type[ServiceStarted]
    | type[CheckpointReset]
    | type[JobStats]
)
E = TypeVar(
    "E", RunStarted, JobRan, AttemptFailed, JobFailed, ServiceStarted, CheckpointReset, JobStats
)
_SIMPLE: dict[str, EventType] = {
    cls.KIND: cls for cls in (AttemptFailed, JobFailed, ServiceStarted, CheckpointReset, JobStats)
}


class EventError(MoilError, ValueError):
    """A journal record that is not an event (damage, or a newer moil's kind)."""


def encode(event: Event) -> list[bytes]:
    """The journal records of ``event``, to be appended in one batch."""
    dump = pickle.dumps
    if isinstance(event, JobRan):
        out = [dump((_NEW, r), protocol=_PROTOCOL) for r in event.new]
        out.append(dump(("ran", event.job_id, event.value, event.promises), protocol=_PROTOCOL))
        return out
    if isinstance(event, RunStarted):
        out = [dump((_NEW, r), protocol=_PROTOCOL) for r in event.records]
        out.append(dump(("root", event.root), protocol=_PROTOCOL))
        return out
    if isinstance(event, AttemptFailed):
        fields: tuple[Any, ...] = (event.job_id, event.attempts)
    elif isinstance(event, JobFailed):
        fields = (event.job_id, event.message)
    elif isinstance(event, ServiceStarted):
        fields = (event.job_id, event.value)
    elif isinstance(event, CheckpointReset):
        fields = (event.job_id,)
    else:
        fields = (event.job_id, event.name, event.stats)
    return [dump((event.KIND, *fields), protocol=_PROTOCOL)]


def _marker(kind: str) -> bytes:
    """How a pickled event of ``kind`` starts its tuple (SHORT_BINUNICODE, length, text)."""
    return bytes([0x8C, len(kind)]) + kind.encode()


def decode(
    records: Iterable[bytes],
    *,
    loads: Callable[[bytes], Any] = pickle.loads,
    on_error: Callable[[EventError], None] | None = None,
    markers: tuple[bytes, ...] | None = None,
    skip: tuple[EventType, ...] = (),
) -> Iterator[Event]:
    """The events of ``records`` (a journal, oldest first). A record that is not an event
    goes to ``on_error`` (or is skipped) and the rest go on. ``loads`` unpickles a record
    (a reader that must not build the user's classes passes a restricted one); with
    ``markers``, a record with none of them in its first bytes is skipped unread, and so
    is one of a kind in ``skip`` (a replay skips ``JobStats``: they change no state)."""
    new: list[JobRecord] = []
    unwanted = [_marker(cls.KIND) for cls in skip]
    for data in records:
        if markers is not None and not any(data.find(m, 0, 32) >= 0 for m in markers):
            continue
        if unwanted and any(data.find(m, 0, 32) >= 0 for m in unwanted):
            continue
        try:
            item = loads(data)
            event = _event(item, new)
        except EventError as exc:
            if on_error is not None:
                on_error(exc)
            continue
        except Exception as exc:  # noqa: BLE001 (any unpickling error: a damaged record)
            if on_error is not None:
                on_error(EventError(f"{type(exc).__name__}: {exc}"))
            continue
        if event is None:
            continue
        if isinstance(event, JobRan | RunStarted):
            new = []
        yield event


def decode_kind(records: Iterable[bytes], cls: type[E]) -> Iterator[E]:
    """The events of class ``cls`` in ``records``; records of other kinds are skipped
    without being unpickled (``toil stats`` reads only ``JobStats`` this way)."""
    markers: tuple[bytes, ...] = (_marker(cls.KIND),)
    if cls in (JobRan, RunStarted):
        markers += (_marker(_NEW),)
    for event in decode(records, markers=markers):
        if isinstance(event, cls):
            yield event


def job_records(records: Iterable[bytes]) -> Iterator[JobRecord]:
    """Every job record in ``records``, whatever event added it (other kinds of record are
    skipped without being unpickled; a damaged one is skipped)."""
    marker = _marker(_NEW)
    for data in records:
        if data.find(marker, 0, 32) < 0:
            continue
        try:
            item = pickle.loads(data)
        except Exception:  # noqa: BLE001, S112 (any unpickling error: a damaged record)
            continue
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], JobRecord):
            yield item[1]


def _event(item: Any, new: list[JobRecord]) -> Event | None:
    """The event a decoded record completes (None for a ``new`` record, kept in ``new``)."""
    if not isinstance(item, tuple) or not item or not isinstance(item[0], str):
        raise EventError(f"a journal record holds a {type(item).__name__}, not an event")
    kind = item[0]
    if kind == _NEW and len(item) == 2 and isinstance(item[1], JobRecord):
        new.append(item[1])
        return None
    if kind == "ran" and len(item) == 4:
        return JobRan(item[1], item[2], item[3], tuple(new))
    if kind == "root" and len(item) == 2:
        return RunStarted(tuple(new), item[1])
    cls = _SIMPLE.get(kind)
    if cls is None:
        raise EventError(f"a journal record of unknown kind {kind!r} ({len(item)} fields)")
    try:
        return cls(*item[1:])
    except TypeError:
        raise EventError(f"a {kind!r} journal record with {len(item) - 1} fields") from None
