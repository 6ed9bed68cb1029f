"""Waiting for a service to reach a state, in the services' own tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

WAIT = 120.0  # upper bound for something that should happen; never an assertion on speed


def wait_until(what: str, ready: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll ``ready`` until it returns a true value and return that value; AssertionError
    naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
