"""Where cached results live: a local directory (``open_cache`` is the seam for others).

Layout of a cache directory (every write is a new file renamed into place, so two runs
filling one cache at once never see half an entry)::

    moil-cache.json           marks the directory as a cache (format)
    entries/AB/KEY.json       one result: JSON line, then its sha256 (damage = a miss)
    blobs/AB/SHA1HEX          the files results hold, hard links of the job store's
    names/AB/NAMEHASH.json    the last key parts stored for a node (to say why it reruns)
    hashes/AB/PATHHASH.json   digests of input files by path, size, mtime and inode
    tmp/                      files being written

An entry lists its blobs with their size and mtime; a blob that is missing or differs (a
hard link whose other name was edited in place) makes the entry a miss. Nothing in the
cache is ever a user's file moved or adopted: blobs are links made from job store files,
and pruning removes only the cache's own names.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.cache.keys import Blob
from runner.errors import MoilError, UsageError

FORMAT = 1
MARKER = "moil-cache.json"
#: a blob no entry names is kept this long (a run may be about to write its entry)
SWEEP_GRACE = 3600.0


class NotLinkable(MoilError, OSError):
    """A result's files cannot be hard-linked into the cache (another filesystem)."""


@dataclass(frozen=True)
class Entry:
    """A cached result: the front end's portable value and its files (digest -> path)."""

    value: Any
    paths: Mapping[str, str]


class CallCache(ABC):
    """A cache of job results by key. Every method is safe with other runs using the same
    cache at the same time; a damaged entry reads as a miss, never an error."""

    @abstractmethod
    def get(self, key: str) -> Entry | None:
        """The entry stored under ``key``, or None (missing, damaged, or a file gone)."""

    @abstractmethod
    def put(self, key: str, value: Any, blobs: list[Blob]) -> None:
        """Store ``value`` and its files under ``key`` (replacing what was there)."""

    @abstractmethod
    def last_parts(self, name: str) -> dict[str, str] | None:
        """The key parts last stored for the node ``name``."""

    @abstractmethod
    def set_last_parts(self, name: str, parts: Mapping[str, str]) -> None:
        """Remember ``parts`` as the last key parts of the node ``name``."""

    def known_digest(self, path: str) -> str | None:
        """The digest of a local input file remembered by path, size, mtime and inode."""
        return None

    def remember_digest(self, path: str, digest: str) -> None:
        """Remember ``digest`` for ``path`` as it is now."""


def open_cache(location: str) -> CallCache:
    """The cache at ``location`` (a local directory, made if missing). Raises UsageError
    for a place that cannot be a cache."""
    if "://" in location and not location.startswith("file://"):
        scheme = location.split("://", 1)[0]
        raise UsageError(
            f"--callCache {location}: a {scheme}:// cache is not supported yet; give a "
            "local directory"
        )
    path = os.path.abspath(location.removeprefix("file://"))
    return LocalCache(path)


def _shard(root: str, kind: str, name: str) -> str:
    return os.path.join(root, kind, name[:2], name)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class LocalCache(CallCache):
    """A cache in a local (or shared) directory."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._ready = False
        #: directories known to exist (a mkdir of an existing one is not free)
        self._dirs: set[str] = set()

    def _makedirs(self, path: str) -> None:
        if path not in self._dirs:
            os.makedirs(path, exist_ok=True)
            self._dirs.add(path)

    # -- writing ------------------------------------------------------------------------
    def _prepare(self) -> None:
        if self._ready:
            return
        marker = os.path.join(self.root, MARKER)
        try:
            os.makedirs(os.path.join(self.root, "tmp"), exist_ok=True)
            if not os.path.exists(marker):
                self._write_atomic(marker, json.dumps({"format": FORMAT}).encode())
        except OSError as exc:
            raise UsageError(
                f"--callCache {self.root}: cannot use it: {exc.strerror}; "
                "name a directory you can write"
            ) from None
        self._ready = True

    def _write_atomic(self, path: str, data: bytes) -> None:
        self._makedirs(os.path.dirname(path))
        fd, temp = tempfile.mkstemp(dir=os.path.join(self.root, "tmp"), prefix="w-")
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def _write_json(self, path: str, data: Any) -> None:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        self._write_atomic(path, f"{text}\n{_hash(text)}\n".encode())

    def _read_json(self, path: str) -> Any:
        """The JSON written by ``_write_json``, or None if missing or damaged."""
        try:
            with open(path, "rb") as stream:
                raw = stream.read()
        except OSError:
            return None
        text, _, rest = raw.decode(errors="replace").partition("\n")
        if rest.strip() != _hash(text):
            return None
        try:
            return json.loads(text)
        except ValueError:
            return None

    def _link_blob(self, blob: Blob) -> tuple[int, int]:
        """The blob in the cache (a hard link of ``blob.path``): its size and mtime."""
        final = _shard(self.root, "blobs", blob.digest.removeprefix("sha1$"))
        source = os.stat(blob.path)
        try:
            here = os.stat(final)
            if here.st_size == source.st_size:
                return here.st_size, here.st_mtime_ns
        except FileNotFoundError:
            pass
        self._makedirs(os.path.dirname(final))
        try:
            os.link(blob.path, final)
        except FileExistsError:  # a damaged one, or another run's link made meanwhile
            temp = os.path.join(self.root, "tmp", f"b-{os.getpid()}-{time.time_ns()}")
            os.link(blob.path, temp)
            os.replace(temp, final)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise NotLinkable(
                    f"the cache {self.root} is on another filesystem than the job store: "
                    "results are not cached (they would have to be copied)"
                ) from None
            raise
        info = os.stat(final)
        return info.st_size, info.st_mtime_ns

    def put(self, key: str, value: Any, blobs: list[Blob]) -> None:
        self._prepare()
        files = {}
        for blob in blobs:
            size, mtime = self._link_blob(blob)
            files[blob.digest] = [size, mtime]
        entry = {
            "format": FORMAT,
            "key": key,
            "value": value,
            "blobs": files,
            "created": time.time(),
        }
        self._write_json(_shard(self.root, "entries", key + ".json"), entry)

    def set_last_parts(self, name: str, parts: Mapping[str, str]) -> None:
        self._prepare()
        self._write_json(_shard(self.root, "names", _hash(name) + ".json"), dict(parts))

    def remember_digest(self, path: str, digest: str) -> None:
        try:
            self._prepare()
            info = os.stat(path)
            self._write_json(
                _shard(self.root, "hashes", _hash(path) + ".json"),
                [path, info.st_size, info.st_mtime_ns, info.st_ino, digest],
            )
        except (OSError, UsageError):
            pass  # only a lost saving: the file is hashed again next time

    # -- reading ------------------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        path = _shard(self.root, "entries", key + ".json")
        data = self._read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
            return None
        paths = {}
        try:
            for digest, (size, mtime) in dict(data["blobs"]).items():
                blob = _shard(self.root, "blobs", str(digest).removeprefix("sha1$"))
                info = os.stat(blob)
                if info.st_size != size or info.st_mtime_ns != mtime:
                    return None
                paths[str(digest)] = blob
        except (OSError, TypeError, ValueError, KeyError):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # last used: what pruning by age goes by
        return Entry(data.get("value"), paths)

    def last_parts(self, name: str) -> dict[str, str] | None:
        data = self._read_json(_shard(self.root, "names", _hash(name) + ".json"))
        return data if isinstance(data, dict) else None

    def known_digest(self, path: str) -> str | None:
        data = self._read_json(_shard(self.root, "hashes", _hash(path) + ".json"))
        if not isinstance(data, list) or len(data) != 5:
            return None
        try:
            info = os.stat(path)
        except OSError:
            return None
        if data[:4] != [path, info.st_size, info.st_mtime_ns, info.st_ino]:
            return None
        return str(data[4])


@dataclass(frozen=True)
class PruneReport:
    entries: int
    blobs: int
    freed: int


def prune(
    root: str,
    older_than: float | None = None,
    max_size: int | None = None,
    now: float | None = None,
) -> PruneReport:
    """Remove entries last used more than ``older_than`` seconds ago, then the least
    recently used ones until the blobs they hold take at most ``max_size`` bytes, then
    the blobs, names and digests no entry needs. Only the cache's own files are removed."""
    if not os.path.isfile(os.path.join(root, MARKER)):
        raise UsageError(f"{root} is not a moil call cache (no {MARKER}); nothing pruned")
    now = time.time() if now is None else now
    cache = LocalCache(root)
    entries: list[tuple[float, str, dict[str, int]]] = []
    removed = 0
    for path in _files(os.path.join(root, "entries")):
        data = cache._read_json(path)
        used = _mtime(path)
        if not isinstance(data, dict) or (older_than is not None and now - used > older_than):
            removed += _unlink(path)
            continue
        sizes = {d: int(v[0]) for d, v in dict(data.get("blobs") or {}).items()}
        entries.append((used, path, sizes))
    entries.sort(reverse=True)  # most recently used first
    kept: dict[str, int] = {}
    total = 0
    for used, path, sizes in entries:
        extra = sum(s for d, s in sizes.items() if d not in kept)
        if max_size is not None and total + extra > max_size:
            removed += _unlink(path)
            continue
        total += extra
        kept.update(sizes)
    blobs = freed = 0
    wanted = {d.removeprefix("sha1$") for d in kept}
    for path in _files(os.path.join(root, "blobs")):
        if os.path.basename(path) not in wanted and now - _mtime(path) > SWEEP_GRACE:
            size = os.path.getsize(path)
            if _unlink(path):
                blobs += 1
                freed += size
    for kind in ("names", "hashes", "tmp"):
        for path in _files(os.path.join(root, kind)):
            limit = SWEEP_GRACE if kind == "tmp" else older_than
            if limit is not None and now - _mtime(path) > limit:
                _unlink(path)
    return PruneReport(removed, blobs, freed)


def _files(top: str) -> list[str]:
    out: list[str] = []
    for base, _, names in os.walk(top):
        out.extend(os.path.join(base, n) for n in names)
    return out


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _unlink(path: str) -> int:
    try:
        os.unlink(path)
        return 1
    except OSError:
        return 0
