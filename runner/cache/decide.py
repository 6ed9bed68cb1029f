"""The leader's use of the call cache: before a job is issued, and after it finished.

For a job whose node names a keyer (``JobRecord.cache``) the leader asks ``lookup`` first:
a hit gives the job's result without running it; a miss remembers the key so that
``finished`` stores the result once the job succeeded. Each decision is one INFO line:

    reused each[17]: key unchanged
    rerun sort: command changed
    run align: not in the cache
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backends.batch.base import Resources
from runner.cache.keys import CacheKey, Keyer, why_changed
from runner.cache.store import CallCache, Entry, open_cache
from runner.engine.execute import load_executor
from runner.engine.handoff import JobResult
from runner.model.promise import dumps, loads

if TYPE_CHECKING:
    from backends.jobstore.base import JobStore
    from runner.config.runconfig import RunConfig
    from runner.model.promise import Promise
    from runner.model.records import JobRecord
    from runner.model.state import StateMachine

log = logging.getLogger(__name__)


@dataclass
class Previous:
    """What the jobs of a run restarted after an edit left: results by key digest (the
    pickled value and its promises), and each node's key parts by node name."""

    results: dict[str, tuple[bytes, frozenset[Promise]]] = field(default_factory=dict)
    parts: dict[str, dict[str, str]] = field(default_factory=dict)


def previous_results(
    store: JobStore, state: StateMachine, recorded: bytes, config: RunConfig
) -> Previous:
    """The finished work jobs of the replayed ``state`` by key, their keys computed with
    the definitions ``recorded`` when that run started; the key parts also of the jobs
    that had their inputs but did not finish (to say what changed for them)."""
    from runner.model.state import Status

    out = Previous()
    defaults = Resources(
        cores=config.default_cores, memory=config.default_memory, disk=config.default_disk
    )
    for job_id in list(state.jobs):
        record = state.record(job_id)
        if not record.cache or record.local:
            continue
        if any(p.job_id not in state.values for p in record.needs):
            continue
        keyer: Keyer = load_executor(record.cache)  # type: ignore[assignment]  # an object
        values = state.inputs_of(job_id)
        try:
            resources = loads(record.resources, values).resolve(defaults)
            key = keyer.key(store, loads(record.body, values), resources, config, recorded)
        except Exception as exc:  # noqa: BLE001 (an old job that cannot be keyed reruns)
            log.debug("no key for the finished job %s: %s", record.display_name, exc)
            continue
        if key is None:
            continue
        out.parts[key.name] = dict(key.parts)
        if state.status(job_id) is Status.RAN and job_id in state.values:
            out.results[key.digest] = dumps(state.values[job_id])
    return out


class Decider:
    """Reuse decisions of one leader against a cache, the results of the run it restarts
    after an edit (``previous``), or both."""

    def __init__(
        self,
        cache: CallCache | None,
        store: JobStore,
        config: RunConfig,
        previous: Previous | None = None,
    ) -> None:
        self.cache = cache
        self.previous = previous
        self.store = store
        self.config = config
        self._pending: dict[str, tuple[Keyer, CacheKey, Any, Resources]] = {}
        self._warned = False
        self.reused = 0
        self.ran = 0
        #: seconds spent deciding (keys, lookups, taking cached results in)
        self.seconds = 0.0
        #: the parts last stored per node name, as read at lookup (unchanged: not rewritten)
        self._last: dict[str, dict[str, str] | None] = {}
        # results are written by a thread of their own: the loop does not wait on the disk
        self._puts: queue.Queue[tuple[str, Any, list[Any], str, dict[str, str]] | None] = (
            queue.Queue()
        )
        self._writer: threading.Thread | None = None

    def lookup(
        self, record: JobRecord, values: Mapping[Promise, Any], resources: Resources
    ) -> JobResult | None:
        """The cached result of ``record``'s job, or None: then it must run."""
        start = time.perf_counter()
        try:
            return self._lookup(record, values, resources)
        finally:
            self.seconds += time.perf_counter() - start

    def _lookup(
        self, record: JobRecord, values: Mapping[Promise, Any], resources: Resources
    ) -> JobResult | None:
        keyer: Keyer = load_executor(record.cache)  # type: ignore[assignment]  # an object
        payload = loads(record.body, dict(values))
        key = keyer.key(self.store, payload, resources, self.config)
        if key is None:
            return None
        earlier = None if self.previous is None else self.previous.results.get(key.digest)
        if earlier is not None:
            self.reused += 1
            log.info("reused %s: key unchanged", key.label)
            return JobResult(ok=True, value=earlier[0], promises=earlier[1])
        if self.cache is not None:
            self._pending[record.id] = (keyer, key, payload, resources)
        entry = self.cache.get(key.digest) if self.cache is not None and key.final else None
        if entry is not None:
            value = self._unpack(keyer, entry)
            if value is not None:
                del self._pending[record.id]
                self.reused += 1
                log.info("reused %s: key unchanged", key.label)
                body, promises = dumps(value)
                return JobResult(ok=True, value=body, promises=promises)
        self.ran += 1
        old = None if self.previous is None else self.previous.parts.get(key.name)
        unfinished = "it did not finish before"
        if old is None and self.cache is not None:
            old = self._last[key.name] = self.cache.last_parts(key.name)
            unfinished = "cache entry missing or damaged"
        reason = why_changed(old, key)
        if old is None:
            log.info(
                "run %s: %s",
                key.label,
                "not in the cache" if self.cache is not None else "a new job",
            )
        else:
            log.info(
                "rerun %s: %s", key.label, unfinished if reason == "no cached result" else reason
            )
        return None

    def summary(self) -> str:
        """One line for the end of the run."""
        return (
            f"call cache: {self.reused} job(s) reused, {self.ran} run "
            f"(deciding took {self.seconds:.2f} s)"
        )

    def _unpack(self, keyer: Keyer, entry: Entry) -> Any:
        try:
            return keyer.unpack(self.store, entry.value, entry.paths)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.debug("a cache entry could not be used (%s): a miss", exc)
            return None

    def finished(self, record: JobRecord, result: JobResult) -> None:
        """Store the result of a job that ran after a miss (a success without new jobs)."""
        pending = self._pending.pop(record.id, None)
        if pending is None or not result.ok or result.new or result.promises:
            return
        keyer, key, payload, resources = pending
        if self.cache is None:
            return
        if not key.final:
            fresh = keyer.key(self.store, payload, resources, self.config)
            if fresh is None or not fresh.final:
                return
            key = fresh
        try:
            packed = keyer.pack(self.store, loads(result.value, {}))
            if packed is None:
                return
        except OSError as exc:
            self._warn(exc)
            return
        value, blobs = packed
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_loop, name="cache-writer", daemon=True
            )
            self._writer.start()
        self._puts.put((key.digest, value, blobs, key.name, dict(key.parts)))

    def _write_loop(self) -> None:
        while (item := self._puts.get()) is not None:
            digest, value, blobs, name, parts = item
            assert self.cache is not None  # only put in the queue with a cache
            try:
                self.cache.put(digest, value, blobs)
                if self._last.get(name) != parts:
                    self.cache.set_last_parts(name, parts)
            except OSError as exc:
                self._warn(exc)

    def _warn(self, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning("results are not being cached: %s", exc)

    def close(self) -> None:
        """Wait until every result handed to ``finished`` is written."""
        if self._writer is not None:
            self._puts.put(None)
            self._writer.join()
            self._writer = None


def make_decider(
    store: JobStore, config: RunConfig, previous: Previous | None = None
) -> Decider | None:
    """The run's decider, or None when the run uses no call cache and restarts no
    edited run."""
    if not config.call_cache and previous is None:
        return None
    cache = open_cache(config.call_cache) if config.call_cache else None
    return Decider(cache, store, config, previous)
