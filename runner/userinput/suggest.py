"""A "did you mean" for a misspelled name the user gave (an input, an option)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(wrong: Iterable[str], known: Iterable[str]) -> str:
    """``did you mean 'name'?`` naming, for each of ``wrong``, the closest of ``known``
    (close: difflib's ratio of at least 0.6, case ignored); "" if none is close."""
    pool = list(known)
    lowered = {name.lower(): name for name in pool}
    found: list[str] = []
    for name in wrong:
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
        if close and lowered[close[0]] not in found:
            found.append(lowered[close[0]])
    if not found:
        return ""
    return "did you mean " + " or ".join(repr(name) for name in found) + "?"
