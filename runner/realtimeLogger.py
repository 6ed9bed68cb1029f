# noqa: N999 (Toil's module name: a script changes only the package in its import)
"""``from runner.realtimeLogger import RealtimeLogger``: Toil's module path
(``toil.realtimeLogger``) with only the package changed (see ``runner.jobenv.realtime``)."""

from runner.jobenv.realtime import RealtimeLogger

__all__ = ["RealtimeLogger"]
