"""A disk cache of cwltool's compiled CWL schemas, to start faster.

cwltool parses the CWL schema (a few hundred KiB of YAML, with a pure-Python parser) in
every new process: about 0.3 s per CWL version, most of a small run's time. The result is
a plain object graph that pickles; this module keeps one pickle per version in the user's
cache directory (``$XDG_CACHE_HOME/moil``), keyed by the versions of cwltool,
schema-salad and Python, and plugs it in behind cwltool's own in-memory cache.

schema-salad also parses its own metaschema (another 0.3 s) only to learn its vocabulary
when cwltool builds a tool's type schema; the vocabulary is cached the same way and handed
to those calls.

Only cwltool's standard schemas are cached (not ``--enable-ext`` ones). A missing,
stale or unreadable cache file is rebuilt; a cache that cannot be written is skipped.
"""

from __future__ import annotations

import copyreg
import logging
import os
import pickle
import sys
import tempfile
from typing import Any

log = logging.getLogger(__name__)

_installed = False


def _make_normdict(normalize: Any, items: dict[str, Any]) -> Any:
    """Rebuild a schema-salad NormDict (its own pickling calls ``normalize`` too early)."""
    from schema_salad.ref_resolver import NormDict

    value = NormDict(normalize)
    dict.update(value, items)
    return value


def _reduce_normdict(value: Any) -> tuple[Any, tuple[Any, dict[str, Any]]]:
    return _make_normdict, (value.normalize, dict(value))


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "moil")


def _cache_key() -> str:
    from importlib.metadata import version

    parts = [
        version("cwltool"),
        version("schema-salad"),
        f"{sys.version_info[0]}.{sys.version_info[1]}",
    ]
    return "-".join(p.replace(os.sep, "_") for p in parts)


class _DiskBackedCache(dict[str, Any]):
    """cwltool's SCHEMA_CACHE that first looks in the disk cache."""

    def __init__(self, initial: dict[str, Any]) -> None:
        super().__init__(initial)
        self.key = _cache_key()

    def _path(self, version: str) -> str:
        return os.path.join(cache_dir(), f"cwl-schema-{version}-{self.key}.pickle")

    def __contains__(self, version: object) -> bool:
        if dict.__contains__(self, version):
            return True
        if not isinstance(version, str) or _custom(version):
            return False
        loaded = self._load(version)
        if loaded is None:
            return False
        dict.__setitem__(self, version, loaded)
        return True

    def __setitem__(self, version: str, value: Any) -> None:
        dict.__setitem__(self, version, value)
        if not _custom(version):
            self._save(version, value)

    def _load(self, version: str) -> Any:
        try:
            with open(self._path(version), "rb") as stream:
                return pickle.load(stream)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 (a bad cache is rebuilt)
            log.debug("ignoring the schema cache %s: %s", self._path(version), exc)
            return None

    def _save(self, version: str, value: Any) -> None:
        self.save_blob(self._path(version), value)

    @staticmethod
    def save_blob(path: str, value: Any) -> None:
        """Pickle ``value`` to ``path`` atomically; a failure only costs speed later."""
        try:
            os.makedirs(cache_dir(), exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=cache_dir(), prefix=".schema-")
            with os.fdopen(fd, "wb") as stream:
                pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temp, path)
        except Exception as exc:  # noqa: BLE001 (no cache is only slower)
            log.debug("cannot write the schema cache: %s", exc)


def _custom(version: str) -> bool:
    from cwltool import process

    return version in process.custom_schemas


def install() -> None:
    """Put the disk cache behind cwltool's schema cache (once per process)."""
    global _installed
    if _installed:
        return
    from cwltool import process
    from schema_salad.ref_resolver import NormDict

    copyreg.pickle(NormDict, _reduce_normdict)
    cache = _DiskBackedCache(process.SCHEMA_CACHE)
    process.SCHEMA_CACHE = cache
    _install_vocabulary(process, cache)
    _installed = True


def _install_vocabulary(process: Any, cache: _DiskBackedCache) -> None:
    """Give cwltool's type-schema calls the metaschema vocabulary (cached on disk)."""
    path = os.path.join(cache_dir(), f"salad-vocab-{cache.key}.pickle")
    try:
        with open(path, "rb") as stream:
            vocab = pickle.load(stream)
    except Exception:  # noqa: BLE001 (missing or bad: rebuild)
        from schema_salad.schema import get_metaschema

        vocab = dict(get_metaschema()[2].vocab)
        cache.save_blob(path, vocab)
    make_schema, make_valid = process.make_avro_schema, process.make_valid_avro

    def make_avro_schema(items: Any, loader: Any, metaschema_vocab: Any = None) -> Any:
        return make_schema(items, loader, metaschema_vocab or vocab)

    def make_valid_avro(
        items: Any,
        alltypes: Any,
        found: Any,
        union: bool = False,
        fielddef: bool = False,
        vocab_: Any = None,
        **kw: Any,
    ) -> Any:
        return make_valid(
            items, alltypes, found, union, fielddef, kw.get("vocab") or vocab_ or vocab
        )

    process.make_avro_schema = make_avro_schema
    process.make_valid_avro = make_valid_avro
