"""The traceback of a failed Python job as its author wants it: their own frames.

A job's exception passes through moil's frames (the executor, the Python API's ``run``)
before it reaches the user's function; those say nothing about the user's mistake and are
left out unless the run logs at DEBUG (``--logDebug``), where they may be moil's own bug.
Frames of other libraries (the ones the user called) stay: they are part of the story.
"""

from __future__ import annotations

import os
import traceback

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: the directories of moil's own packages
_OWN_DIRS = tuple(os.path.join(_ROOT, name, "") for name in ("runner", "backends", "languages"))


def _is_own(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_OWN_DIRS)


def _trim(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = [f for f in te.stack if not _is_own(f.filename)]
    if frames:  # an exception raised in moil itself keeps its frames
        te.stack = traceback.StackSummary.from_list(frames)
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _trim(linked, seen)


def format_job_traceback(exc: BaseException, *, own_frames: bool) -> str:
    """``exc``'s traceback (with its causes), without moil's frames unless ``own_frames``."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    if not own_frames:
        _trim(te, set())
    return "".join(te.format())
