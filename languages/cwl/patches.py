"""Narrow fixes to cwltool's cost on large inputs, applied once per process by ``apply()``.

Each fix keeps cwltool's results exactly as they were; only work whose result is thrown away
is skipped.

- ``Builder.bind_input`` binds each element of an array input with ``copy.deepcopy(binding)``
  while ``binding["datum"]`` still holds the *whole* array, then replaces ``datum`` with the
  element at once. Binding an N-element ``File[]`` (a gather) thus copies N arrays of N
  files: O(N^2), about 11 s of CPU for N = 1000. Here the copy keeps that ``datum`` list as
  it is (through deepcopy's memo), so each element costs one small copy.
"""

from __future__ import annotations

import copy
import types
from collections.abc import MutableMapping
from typing import Any

_applied = False


def deepcopy_sharing_datum(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy``, except that a binding's ``datum`` list is shared, not copied."""
    if isinstance(value, MutableMapping):
        datum = value.get("datum")
        if isinstance(datum, list):
            memo = {} if memo is None else memo
            memo[id(datum)] = datum
    return copy.deepcopy(value, memo)


def apply() -> None:
    """Install the fixes into the imported cwltool modules (idempotent)."""
    global _applied
    if _applied:
        return
    from cwltool import builder

    # builder.py deep-copies only its bindings and schemas: give that module a ``copy`` whose
    # deepcopy shares the datum (schemas have no datum key: copied as before)
    builder.copy = types.SimpleNamespace(  # type: ignore[attr-defined,assignment] # stand-in module
        copy=copy.copy, deepcopy=deepcopy_sharing_datum
    )
    _applied = True
