"""Discovery of job stores and batch systems: entry points, and registration at run time.

Every backend, built-in or not, is registered the same way: an entry point in the groups
``moil.job_stores`` and ``moil.batch_systems`` (moil's own are in its ``pyproject.toml``), or
``register`` at run time (a test's toy backend, a program that embeds moil). Names are
matched ignoring case, ``-`` and ``_`` so that Toil's spellings (``single_machine``,
``singleMachine``) all work.

Reading the installed entry points costs ~45 ms (``importlib.metadata`` and a scan of every
installed distribution), a quarter of a command's start, so the built-in names are also
listed here (``_BUILTIN``), and a built-in name is loaded without the scan. The list is the
same as ``pyproject.toml``'s entry points (``tests/backends/test_registry.py`` holds them
equal), and a built-in name cannot be taken by a plug-in.

A loaded class is checked to be what its group needs (a ``JobStore`` whose ``kind`` is the
name it is registered under; a ``BatchSystem``): a plug-in that is not is refused with
``InvalidBackendError`` naming it, before anything is made with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from backends.errors import InvalidBackendError, UnknownBackendError

if TYPE_CHECKING:
    from backends.batch.base import BatchSystem
    from backends.jobstore.base import JobStore

JOB_STORE_GROUP = "moil.job_stores"
BATCH_SYSTEM_GROUP = "moil.batch_systems"

_BUILTIN: dict[str, dict[str, str]] = {
    JOB_STORE_GROUP: {
        "aws": "backends.jobstore.s3:S3JobStore",
        "file": "backends.jobstore.file:FileJobStore",
        "memory": "backends.jobstore.memory:MemoryJobStore",
    },
    BATCH_SYSTEM_GROUP: {
        "single_machine": "backends.batch.single_machine:SingleMachineBatchSystem",
        "inline": "backends.batch.inline:InlineBatchSystem",
        "slurm": "backends.batch.slurm:SlurmBatchSystem",
        "grid_engine": "backends.batch.gridengine:GridEngineBatchSystem",
        "torque": "backends.batch.torque:TorqueBatchSystem",
        "lsf": "backends.batch.lsf:LsfBatchSystem",
        "htcondor": "backends.batch.htcondor:HTCondorBatchSystem",
        "aws_batch": "backends.batch.aws_batch:AwsBatchBatchSystem",
    },
}
# what a group's classes must derive from, as "module:attr" (imported when a class is checked)
_BASES = {
    JOB_STORE_GROUP: "backends.jobstore.base:JobStore",
    BATCH_SYSTEM_GROUP: "backends.batch.base:BatchSystem",
}
_WHAT = {JOB_STORE_GROUP: "job store kind", BATCH_SYSTEM_GROUP: "batch system"}

Target = str | type
# normalised name -> (display name, "module:attr" or the class itself)
_Entries = dict[str, tuple[str, Target]]


def _norm(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


def _group(group: str) -> str:
    if group not in _BASES:
        raise InvalidBackendError(f"no backend group {group!r}; use {' or '.join(_BASES)}")
    return group


_BUILTIN_NORMED: dict[str, _Entries] = {
    group: {_norm(n): (n, t) for n, t in names.items()} for group, names in _BUILTIN.items()
}
_REGISTERED: dict[str, _Entries] = {group: {} for group in _BUILTIN}
_installed: dict[str, _Entries] = {}
_checked: dict[tuple[str, str], type] = {}


def _entry_points(group: str) -> _Entries:
    """The installed entry points of a group (read once; see the module docstring)."""
    found = _installed.get(group)
    if found is None:
        from importlib.metadata import entry_points  # ~40 ms to import: only when scanning

        found = {_norm(ep.name): (ep.name, ep.value) for ep in entry_points(group=group)}
        _installed[group] = found
    return found


def register(group: str, name: str, target: Target) -> None:
    """Register a backend under ``name`` in ``group`` at run time, as an entry point would:
    ``target`` is the class or its ``"module:attr"``. Raises InvalidBackendError for a name
    that is taken (a built-in, an installed plug-in, or an earlier ``register``)."""
    key = _norm(name)
    entries = _REGISTERED[_group(group)]
    for taken in (_BUILTIN_NORMED[group], entries, _entry_points(group)):
        if key in taken:
            raise InvalidBackendError(
                f"cannot register {_WHAT[group]} {name!r}: the name is taken by "
                f"{_describe(taken[key][1])}"
            )
    entries[key] = (name, target)


def unregister(group: str, name: str) -> None:
    """Forget a backend ``register`` added (a test's toy backend); others stay."""
    key = _norm(name)
    _REGISTERED[_group(group)].pop(key, None)
    _checked.pop((group, key), None)


def builtin_names(group: str) -> tuple[str, ...]:
    """The names of the built-in backends of a group (no scan of the entry points)."""
    return tuple(_BUILTIN[_group(group)])


def known_names(group: str) -> list[str]:
    """Every registered name of a group (built-in, installed, registered at run time), sorted."""
    entries = {**_entry_points(_group(group)), **_REGISTERED[group], **_BUILTIN_NORMED[group]}
    return sorted(display for display, _ in entries.values())


def is_known(group: str, name: str) -> bool:
    """Whether ``name`` is registered in ``group`` (no import of the backend)."""
    return _lookup(group, name) is not None


def _lookup(group: str, name: str) -> tuple[str, Target] | None:
    key = _norm(name)
    # A built-in name needs no scan of every installed distribution's entry points.
    return (
        _BUILTIN_NORMED[_group(group)].get(key)
        or _REGISTERED[group].get(key)
        or _entry_points(group).get(key)
    )


def load(group: str, name: str) -> type:
    """The class registered as ``name`` in ``group``, imported and checked.

    Raises UnknownBackendError listing the known names, InvalidBackendError for a plug-in
    that cannot be imported or is not what the group needs.
    """
    key = _norm(name)
    done = _checked.get((group, key))
    if done is not None:
        return done
    entry = _lookup(group, name)
    if entry is None:
        raise UnknownBackendError(
            f"unknown {_WHAT[group]} {name!r}; known: {', '.join(known_names(group))}"
        )
    display, target = entry
    cls = _check(group, display, _import(group, display, target))
    _checked[(group, key)] = cls
    return cls


def load_job_store(kind: str) -> type[JobStore]:
    """The job store class of a locator kind (``file``, ``memory``, a plug-in's)."""
    cls: type[JobStore] = load(JOB_STORE_GROUP, kind)
    return cls


def load_batch_system(name: str) -> type[BatchSystem]:
    """The batch system class registered as ``name``."""
    cls: type[BatchSystem] = load(BATCH_SYSTEM_GROUP, name)
    return cls


def _describe(target: Target) -> str:
    return target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


def _resolve(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    found: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        found = getattr(found, part)
    return found


def _import(group: str, name: str, target: Target) -> Any:
    if not isinstance(target, str):
        return target
    try:
        return _resolve(target)
    except (ImportError, AttributeError) as exc:
        raise InvalidBackendError(
            f"the {_WHAT[group]} {name!r} ({target}) cannot be loaded: {exc}; reinstall the "
            "package that provides it, or choose another"
        ) from None


def _check(group: str, name: str, cls: Any) -> type:
    base = _resolve(_BASES[group])
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise InvalidBackendError(
            f"the {_WHAT[group]} {name!r} is registered as {cls!r}, which is not a "
            f"{base.__name__} subclass; fix or remove the plug-in that registers it"
        )
    kind = getattr(cls, "kind", None) if group == JOB_STORE_GROUP else name
    if not isinstance(kind, str) or _norm(kind) != _norm(name):
        raise InvalidBackendError(
            f"the job store kind {name!r} is registered as {_describe(cls)}, whose kind is "
            f"{kind!r}; a store's kind must be the name its locators start with"
        )
    return cls
