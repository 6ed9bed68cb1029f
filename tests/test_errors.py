"""One error tree: every exception class moil defines derives from ``MoilError`` (so it
carries ``exit_code`` and ``retryable``), but the one that must stay a KeyboardInterrupt."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from backends.errors import MoilError
from runner import errors

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("runner", "backends", "languages")
#: class -> why it is not a MoilError
OUTSIDE = {
    "runner.errors.Terminated": "SIGTERM is a KeyboardInterrupt, so that whatever cleans up "
    "after Ctrl-C cleans up after it",
}


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__main__":
                continue
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_exception_class_is_a_moil_error() -> None:
    outside = []
    found = 0
    for name in _modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            found += 1
            if not issubclass(cls, MoilError):
                outside.append(f"{name}.{cls.__qualname__}")
    assert found > 40  # the walk saw moil's classes
    assert sorted(outside) == sorted(OUTSIDE)


def test_the_runner_and_the_backends_share_the_root() -> None:
    from backends.errors import BackendError, InsufficientResourcesError

    assert errors.MoilError is MoilError
    assert issubclass(BackendError, errors.MoilError)
    assert InsufficientResourcesError("x").exit_code == 1
    assert errors.UsageError("x").exit_code == 2 and not errors.UsageError("x").retryable
    assert errors.UnsupportedRequirement("x").exit_code == 33
