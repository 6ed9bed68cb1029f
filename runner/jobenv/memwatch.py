"""``--doubleMem`` on a batch system that does not enforce memory (single machine): watch
the processes a job starts and kill them when together they use more than the job asked
for, so that the leader retries the job with twice the memory.

Only the job's tools are watched (the processes it started that run a program of their
own: a CWL tool, a WDL task's command), not the worker process itself, which a pool shares
between jobs. A tool that goes over its memory for less than the sampling ``interval`` may
be missed.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Self

from runner.jobenv.peakmem import descendant_pids, descendants_rss_kib


class MemoryWatch:
    """Context manager around one job: its tools' memory is sampled every ``interval``
    seconds; over ``limit`` bytes, every descendant of this process is killed (SIGKILL)
    and ``exceeded_kib`` says how much they used."""

    def __init__(self, limit: int, interval: float = 0.1) -> None:
        self.limit_kib = max(1, limit // 1024)
        self.interval = interval
        self.exceeded_kib: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="moil-memwatch", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        pid = os.getpid()
        while not self._stop.wait(self.interval):
            used = descendants_rss_kib(pid)
            if used > self.limit_kib:
                self.exceeded_kib = used
                for child in descendant_pids(pid):
                    try:
                        os.kill(child, signal.SIGKILL)
                    except OSError:
                        continue
                return
