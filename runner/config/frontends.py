"""The front ends' settings classes, named here by ``module:class`` (the runner imports no
language): ``toil config`` writes their options as well, and a config file shared by both
runners may hold the other runner's options (skipped without a warning, as Toil does)."""

from __future__ import annotations

import importlib

from backends.settings import Settings, declared

FRONTENDS = {
    "cwl": "languages.cwl.settings:CwlSettings",
    "wdl": "languages.wdl.settings:WdlSettings",
}


def frontend_settings() -> list[type[Settings]]:
    """The front ends' settings classes (one whose package is not installed is left out)."""
    out = []
    for spec in FRONTENDS.values():
        module, _, name = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(cls, type) and issubclass(cls, Settings):
            out.append(cls)
    return out


def option_keys(classes: list[type[Settings]]) -> set[str]:
    """Every key a config file may use for the options of ``classes``: each spelling
    without its dashes, and each Toil name."""
    out: set[str] = set()
    for cls in classes:
        for item in declared(cls):
            out.update(flag.lstrip("-") for flag in item.option.all_flags)
            if item.option.all_flags:
                out.add(item.key)
    return out
