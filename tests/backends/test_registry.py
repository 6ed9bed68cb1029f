"""The registry of backends: built-ins are entry points like any plug-in's, a store kind owns
its locator syntax, and a loaded class is checked to be what its group needs."""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.batch.base import BatchSystem
from backends.errors import InvalidBackendError, InvalidLocatorError, UnknownBackendError
from backends.jobstore.base import JobStore, open_job_store, parse_locator
from backends.jobstore.memory import MemoryJobStore
from backends.registry import (
    BATCH_SYSTEM_GROUP,
    JOB_STORE_GROUP,
    builtin_names,
    known_names,
    load,
    register,
    unregister,
)
from runner.config.options import batch_system_class
from runner.errors import UsageError

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _resolve(spec: str) -> object:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("group", [JOB_STORE_GROUP, BATCH_SYSTEM_GROUP])
def test_builtins_are_the_entry_points_of_pyproject(group: str) -> None:
    """The registry's fast path for built-in names is the list in pyproject.toml, no other:
    each built-in loads the class its entry point names."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][group]
    assert sorted(builtin_names(group)) == sorted(declared)
    for name, spec in declared.items():
        assert load(group, name) is _resolve(spec)
    assert set(declared) <= set(known_names(group))


class ToyRegionStore(MemoryJobStore):
    """A store kind with a syntax of its own, like ``aws:REGION:NAME``."""

    kind = "toyregion"

    @classmethod
    def parse_location(cls, locator: str, rest: str) -> str:
        region, sep, name = rest.partition(":")
        if not (region and sep and name) or ":" in name:
            raise InvalidLocatorError(
                f"job store locator {locator!r} is not of the form toyregion:REGION:NAME"
            )
        return rest


@pytest.fixture
def toy_kind() -> Iterator[str]:
    register(JOB_STORE_GROUP, "toyregion", ToyRegionStore)
    yield "toyregion"
    unregister(JOB_STORE_GROUP, "toyregion")


def test_a_registered_kind_reads_its_own_locators(toy_kind: str) -> None:
    assert toy_kind in known_names(JOB_STORE_GROUP)
    assert parse_locator("toyregion:eu-1:bucket") == ("toyregion", "eu-1:bucket")
    store = open_job_store("toyregion:eu-1:bucket")
    assert isinstance(store, ToyRegionStore)
    assert store.locator == "toyregion:eu-1:bucket"
    for bad in ("toyregion:eu-1", "toyregion:eu-1:b:c", "toyregion:"):
        with pytest.raises(InvalidLocatorError, match="toyregion:REGION:NAME"):
            open_job_store(bad)


def test_an_unregistered_kind_is_unknown_again(toy_kind: str) -> None:
    unregister(JOB_STORE_GROUP, toy_kind)
    with pytest.raises(InvalidLocatorError, match="unknown job store kind 'toyregion'"):
        parse_locator("toyregion:eu-1:bucket")


def test_a_taken_name_cannot_be_registered(toy_kind: str) -> None:
    with pytest.raises(InvalidBackendError, match="'file'.*taken"):
        register(JOB_STORE_GROUP, "file", ToyRegionStore)
    with pytest.raises(InvalidBackendError, match="taken by .*ToyRegionStore"):
        register(JOB_STORE_GROUP, "toy_region", MemoryJobStore)  # same name, other spelling


class NotAStore:
    kind = "notastore"


class WrongKindStore(MemoryJobStore):
    kind = "memory"


class NotABatchSystem:
    pass


@pytest.mark.parametrize(
    ("name", "target", "message"),
    [
        ("notastore", NotAStore, "not a JobStore subclass"),
        ("wrongkind", WrongKindStore, "whose kind is 'memory'"),
        ("missing", "tests.backends.no_such_module:Store", "cannot be loaded: No module"),
        ("noattr", "backends.jobstore.memory:NoSuchClass", "cannot be loaded"),
    ],
)
def test_a_store_plugin_that_is_not_a_store_is_refused(
    name: str, target: type | str, message: str
) -> None:
    register(JOB_STORE_GROUP, name, target)
    try:
        with pytest.raises(InvalidLocatorError, match=f"{name}.*{message}"):
            open_job_store(f"{name}:x")
    finally:
        unregister(JOB_STORE_GROUP, name)


def test_a_batch_plugin_that_is_not_a_batch_system_is_refused() -> None:
    register(BATCH_SYSTEM_GROUP, "notabatch", NotABatchSystem)
    try:
        with pytest.raises(UsageError, match="'notabatch'.*not a BatchSystem subclass"):
            batch_system_class("notabatch")
    finally:
        unregister(BATCH_SYSTEM_GROUP, "notabatch")


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(UnknownBackendError, match="unknown batch system 'nope'; known: .*slurm"):
        load(BATCH_SYSTEM_GROUP, "nope")
    assert issubclass(batch_system_class("singleMachine"), BatchSystem)
    assert issubclass(load(JOB_STORE_GROUP, "FILE"), JobStore)
