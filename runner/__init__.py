"""moil's execution core, and the Python job API with Toil's names.

``from runner import Job, Toil`` works like ``from toil.job import Job`` and
``from toil.common import Toil``; ``from runner.realtimeLogger import RealtimeLogger`` (or
``from runner import RealtimeLogger``) like ``from toil.realtimeLogger import RealtimeLogger``.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["FileID", "Job", "Promise", "PromisedRequirement", "RealtimeLogger", "Toil"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``python -m runner.worker`` in a fresh process stays cheap.
    if name == "Job":
        from runner.api.job import Job

        return Job
    if name == "Toil":
        from runner.api.toil import Toil

        return Toil
    if name in ("Promise", "PromisedRequirement"):
        from runner.model import promise

        return getattr(promise, name)
    if name == "RealtimeLogger":
        from runner.jobenv.realtime import RealtimeLogger

        return RealtimeLogger
    if name == "FileID":
        from backends.jobstore.base import FileID

        return FileID
    raise AttributeError(name)
