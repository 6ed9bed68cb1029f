"""Scatter: the input objects of a scattered step's instances and the shape of its outputs.

``dotproduct`` pairs the i-th elements of every scattered input; ``flat_crossproduct``
takes every combination, in order, as one flat list; ``nested_crossproduct`` takes every
combination as a list nested one level per scattered input. An empty input gives empty
outputs (of the right nesting).
"""

from __future__ import annotations

import itertools
from typing import Any

from languages.cwl.expressions import ExpressionFailed


def expand(
    io: dict[str, Any], keys: list[str], method: str | None
) -> tuple[list[dict[str, Any]], list[int]]:
    """The input object of each instance, and the output dimensions (one unless nested)."""
    arrays = []
    for key in keys:
        value = io.get(key)
        if not isinstance(value, list):
            name = key.rsplit("/", 1)[-1].rsplit("#", 1)[-1]
            raise ExpressionFailed(f"scatter input '{name}' is not an array: {value!r}")
        arrays.append(value)
    method = method or "dotproduct"
    if method == "dotproduct":
        lengths = {len(a) for a in arrays}
        if len(lengths) > 1:
            raise ExpressionFailed(
                "the input arrays of a dotproduct scatter must have equal lengths"
            )
        count = lengths.pop() if lengths else 0
        combos: list[tuple[int, ...]] = [(i,) * len(keys) for i in range(count)]
        dims = [count]
    elif method in ("flat_crossproduct", "nested_crossproduct"):
        combos = list(itertools.product(*(range(len(a)) for a in arrays)))
        dims = [len(a) for a in arrays]
        if method == "flat_crossproduct":
            dims = [len(combos)]
    else:
        raise ExpressionFailed(f"unknown scatterMethod {method!r}")
    elements = []
    for combo in combos:
        element = dict(io)
        for key, array, index in zip(keys, arrays, combo, strict=True):
            element[key] = array[index]
        elements.append(element)
    return elements, dims


def reshape(flat: list[Any], dims: list[int]) -> list[Any]:
    """``flat`` (row-major) as a list nested ``len(dims)`` levels deep."""
    if len(dims) <= 1:
        return list(flat)
    inner = 1
    for d in dims[1:]:
        inner *= d
    return [reshape(flat[i * inner : (i + 1) * inner], dims[1:]) for i in range(dims[0])]
