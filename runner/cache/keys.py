"""What a front end gives the core so that the core can decide reuse (no I/O here).

A work node that may be cached names its ``Keyer`` in ``JobNode.cache`` (a
``"module:attribute"`` path, as ``executor`` is). The leader computes the node's key just
before it would issue it, from the payload with its promises resolved; the same key in a
cache (or, after an edit, in the journal of the run being restarted) means the node's
result may be taken instead of running it.

A key is made of named parts (``command``, ``input reads (content)``, ``container image``,
...) so that a changed key can be explained by the parts that differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from backends.batch.base import Resources
    from backends.jobstore.base import JobStore
    from runner.config.runconfig import RunConfig


def digest_of(value: Any) -> str:
    """A stable hex digest of a JSON-able value (key order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """The key of one work node.

    ``name``: the node's identity across runs (its document, step path and scatter index),
    used to explain a miss by the node's previous key; ``label``: how the why lines name it
    (``each[17]``); ``parts``: part name -> digest; ``final``: False when a part could not be
    known yet (a container image not pulled here): the key is computed again before the
    result is stored."""

    name: str
    label: str
    parts: tuple[tuple[str, str], ...]
    final: bool = True

    @property
    def digest(self) -> str:
        return digest_of(self.parts)

    @classmethod
    def of(cls, name: str, label: str, parts: Mapping[str, Any], final: bool = True) -> CacheKey:
        """A key whose parts are digests of the values in ``parts``."""
        return cls(name, label, tuple(sorted((k, digest_of(v)) for k, v in parts.items())), final)


def why_changed(old: Mapping[str, str] | None, new: CacheKey) -> str:
    """The reason a node with key ``new`` runs, its previous parts being ``old``."""
    if old is None:
        return "not run before"
    now = dict(new.parts)
    changed = [p for p in now if p in old and old[p] != now[p]]
    added = [p for p in now if p not in old]
    removed = [p for p in old if p not in now]
    words = (
        [f"{p} changed" for p in changed]
        + [f"{p} added" for p in added]
        + [f"{p} removed" for p in removed]
    )
    return ", ".join(words) if words else "no cached result"


@dataclass(frozen=True)
class Blob:
    """A file a cached result holds: its ``sha1$HEX`` digest and a local path of it."""

    digest: str
    path: str


class Keyer(Protocol):
    """A front end's cache support for one kind of work node."""

    def key(
        self,
        store: JobStore,
        payload: Any,
        resources: Resources,
        config: RunConfig,
        recorded: bytes | None = None,
    ) -> CacheKey | None:
        """The node's key, or None when the node must always run (its definition says
        so, or one of its inputs cannot be identified by content). ``recorded``: the
        definitions the front end gave when the run started (``Run.start``): the key of a
        node that ran then, for a restart after the document was edited; None: the
        definitions loaded now."""
        ...

    def pack(self, store: JobStore, value: Any) -> tuple[Any, list[Blob]] | None:
        """The node's return value as a JSON-able value that names files by digest, and
        those files; None when it cannot be kept (a file with no local path)."""
        ...

    def unpack(self, store: JobStore, portable: Any, paths: Mapping[str, str]) -> Any:
        """The return value again from ``pack``'s form, its files (digest -> local path in
        the cache) entered into ``store`` (hard links, never copies on one filesystem)."""
        ...
