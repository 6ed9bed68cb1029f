"""Sizes given as numbers or strings such as ``"2G"``, ``"512Mi"``, ``"1.5 GB"``."""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "ti": 1024**4,
    "tib": 1024**4,
    "p": 1024**5,
    "pb": 1000**5,
    "pi": 1024**5,
    "pib": 1024**5,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: float | str) -> int:
    """Bytes from a number or a string like ``"2G"`` (Toil's rule: K, M, G are binary).

    Raises ValueError naming the value if it is not a size."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")  # noqa: TRY004 (callers catch ValueError)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a size cannot be negative: {value!r}")
        return int(value)
    match = _SIZE.match(str(value))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(f"not a size: {value!r} (use a number of bytes or e.g. 2G, 512M)")
    return int(float(match.group(1)) * _UNITS[unit])


_BRANDS = ("nvidia", "amd")
_APIS = ("cuda", "rocm", "opencl")


def parse_accelerators(text: str) -> tuple[dict[str, object], ...]:
    """Toil's accelerator list (``--defaultAccelerators``): comma-separated ``TYPE[:COUNT]``
    where TYPE is ``gpu`` (the default), a brand (``nvidia``, ``amd``), an API (``cuda``,
    ``rocm``, ``opencl``) or a model (``nvidia-tesla-k80``); each a GPU request
    (``{"kind": "gpu", "count": N, ...}``). Raises ValueError for a bad count."""
    out: list[dict[str, object]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, _, count_text = part.rpartition(":") if ":" in part else (part, "", "1")
        try:
            count = int(count_text)
        except ValueError:
            raise ValueError(f"{part!r}: the count after ':' must be a whole number") from None
        if count < 1:
            raise ValueError(f"{part!r}: the count must be 1 or more")
        spec: dict[str, object] = {"kind": "gpu", "count": count}
        name = kind.strip().lower() or "gpu"
        if name in _BRANDS:
            spec["brand"] = name
        elif name in _APIS:
            spec["api"] = name
        elif name != "gpu":
            spec["model"] = kind.strip()
        out.append(spec)
    return tuple(out)
