"""WDL values as they travel between nodes: miniwdl ``WDL.Value`` objects, made picklable, with
files named by job-store references and promises allowed inside.

A file that is in the job store is a ``File`` whose value is a *file reference*::

    moilfile://<quoted file ID>/<group>/<relative path>

``group`` names the directory the file came from (a task's working directory, a directory of
input files): files of one group are staged side by side in a task, so that sibling files stay
siblings. ``relative path`` is the file's path inside that directory, so ``basename()`` of the
reference is the file's own name. Any other ``File`` value is a local path or a URL.

Values between nodes may hold ``runner.model.promise.Promise`` objects where a value is not known yet
(an element of a gathered array, a call output passed straight through). ``is_ready`` tells
whether a value holds none.
"""

from __future__ import annotations

import hashlib
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import WDL
from WDL import Value

from runner.model.promise import Promise

SCHEME = "moilfile://"
_T = TypeVar("_T")


@dataclass(frozen=True)
class FileRef:
    """The parts of a file reference."""

    file_id: str
    group: str
    relpath: str

    def uri(self) -> str:
        return f"{SCHEME}{urllib.parse.quote(self.file_id, safe='')}/{self.group}/{self.relpath}"

    @property
    def basename(self) -> str:
        return self.relpath.rsplit("/", 1)[-1]


def parse_ref(value: str) -> FileRef | None:
    """The parts of a file reference, or None if ``value`` is not one."""
    if not value.startswith(SCHEME):
        return None
    quoted, _, rest = value[len(SCHEME) :].partition("/")
    group, _, relpath = rest.partition("/")
    if not quoted or not group or not relpath:
        return None
    return FileRef(urllib.parse.unquote(quoted), group, relpath)


def new_group() -> str:
    """A fresh group name (for the files a task writes)."""
    return uuid.uuid4().hex[:16]


def group_of_dir(path: str) -> str:
    """The group of the files of one local directory (stable, so siblings agree)."""
    return hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


# -- promises inside values -------------------------------------------------------------------
def is_ready(value: Any) -> bool:
    """Whether ``value`` (a WDL value, possibly holding promises) holds no promise."""
    return not any(True for _ in iter_promises(value))


def children(value: Value.Base) -> list[Any]:
    """The values directly inside a WDL value: an Array's items, a Map's keys and values, a
    Pair's sides, a struct's members (any of them may be a promise); [] for the others."""
    inner = value.value
    if isinstance(inner, list):
        out: list[Any] = []
        for item in inner:
            out.extend(item if isinstance(item, tuple) else (item,))
        return out
    if isinstance(inner, tuple):
        return list(inner)
    if isinstance(inner, dict):
        return list(inner.values())
    return []


def iter_files(value: Value.Base) -> Iterator[Value.File | Value.Directory]:
    """Every File and Directory value inside ``value``."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Value.File | Value.Directory):
            yield v
        else:
            stack.extend(children(v))


def iter_promises(value: Any) -> Iterator[Promise]:
    """The promises held anywhere inside ``value``."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Promise):
            yield v
        elif isinstance(v, Value.Base):
            stack.extend(children(v))
        elif isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())


def detach(value: _T) -> _T:
    """Drop the references to the syntax tree that evaluation leaves in a value (in place), so
    that it pickles small. Returns ``value``."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Value.Base):
            v._expr = None
            stack.extend(children(v))
    return value


# -- miniwdl environments ---------------------------------------------------------------------
def env_to_bindings(values: dict[str, Value.Base]) -> WDL.Env.Bindings[Value.Base]:
    """miniwdl bindings of a ready name -> value dict (names may be dotted)."""
    env: WDL.Env.Bindings[Value.Base] = WDL.Env.Bindings()
    for name, value in values.items():
        env = env.bind(name, value)
    return env
