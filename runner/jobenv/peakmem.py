"""Peak memory of one job, measured per job even in a long-lived pool worker.

``ru_maxrss`` of a process is its peak since it started, so in a pool worker that ran many
jobs it says nothing about the current one. ``JobMemory`` measures a job as the worker
process plus the processes the job starts:

- the worker itself: Linux lets a process reset its own peak ("hiwater") RSS by writing
  ``5`` to ``/proc/self/clear_refs`` (Linux 4.0+); ``VmHWM`` then gives the job's exact peak;
- processes running at the same time: a sampling thread (``sample=True``) adds the RSS of
  the worker's live descendants to the worker's own every ``interval`` seconds (read from
  ``/proc/PID/task/*/children``, no scan of all processes). A child that was forked but has
  not yet exec'd (same command line as the worker) is skipped: it shares the worker's pages;
- tools the job waited for: ``RUSAGE_CHILDREN``'s ``ru_maxrss`` is the largest waited-for
  descendant ever. A child that is forked (or vforked) and execs inherits the worker's own
  peak as its ru_maxrss, so a growth of this figure is only trusted when it exceeds the
  worker's own peak: then it is exactly the peak of one of this job's tools, even one too
  short-lived for sampling.

Reported (``peak_kib``): ``max(sampled, own + trusted tool peak)``. Adding two peaks can overstate a job
whose worker and tool peaked at different times, never understate it (the safe side for
sizing ``memory`` requests). A tool smaller than the worker that lives less than
``interval`` may be missed. Off Linux it falls back to the worker's ``ru_maxrss``.

The tool's own peak (``tool_peak_kib``, what a user sizes a ``memory`` request by, without the
worker's ~50 MB): the sampling thread also reads each live descendant's ``VmHWM`` (its peak
since its ``exec``, so a sample taken late still sees an earlier peak), summed over the
descendants alive together, combined with the trusted ``ru_maxrss`` growth above. A job that
started no process (a Python job) is its growth over the worker's RSS when it began.
"""

from __future__ import annotations

import os
import resource
import threading
from typing import Self

_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


def _own_peak_kib() -> int:
    try:
        with open("/proc/self/status", "rb") as stream:
            for line in stream:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_own_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as stream:
            stream.write("5")
        return True
    except OSError:
        return False


def _children_of(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as stream:
                out.extend(int(p) for p in stream.read().split())
        except (OSError, ValueError):
            continue
    return out


def _cmdline(pid: int | str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            return stream.read()
    except OSError:
        return b""


def descendant_pids(pid: int) -> list[int]:
    """The live descendants of ``pid`` (children first)."""
    out: list[int] = []
    stack = _children_of(pid)
    while stack:
        child = stack.pop(0)
        if child not in out:
            out.append(child)
            stack.extend(_children_of(child))
    return out


def descendants_rss_kib(pid: int) -> int:
    """The summed RSS of the live descendants of ``pid`` that have exec'd a program of their
    own (0 where /proc cannot tell)."""
    return descendants_memory_kib(pid)[0]


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as stream:
            for line in stream:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def descendants_memory_kib(pid: int) -> tuple[int, int, int]:
    """Of the live descendants of ``pid`` that have exec'd a program of their own: their
    summed RSS, their summed peak RSS (``VmHWM``, each since its exec) and how many there
    are (zeros where /proc cannot tell)."""
    total = peaks = count = 0
    own = _cmdline(pid)
    stack = _children_of(pid)
    seen: set[int] = set()
    while stack:
        child = stack.pop()
        if child in seen:
            continue
        seen.add(child)
        stack.extend(_children_of(child))
        if _cmdline(child) == own:
            continue  # forked, not exec'd yet: its pages are the worker's
        try:
            with open(f"/proc/{child}/statm", "rb") as stream:
                total += int(stream.read().split()[1]) * _PAGE_KIB
        except (OSError, ValueError, IndexError):
            continue
        peaks += _hwm_kib(child)
        count += 1
    return total, peaks, count


def _current_rss_kib() -> int:
    try:
        with open("/proc/self/statm", "rb") as stream:
            return int(stream.read().split()[1]) * _PAGE_KIB
    except (OSError, ValueError, IndexError):
        return 0


class JobMemory:
    """Context manager around one job; ``peak_kib()`` afterwards. See the module docstring."""

    def __init__(self, sample: bool, interval: float = 0.1) -> None:
        self.sample = sample
        self.interval = interval
        self.sampled_kib = 0
        #: the largest sum of the tools' own peaks seen by the sampling thread
        self.sampled_tool_kib = 0
        self._tools_seen = False
        self._start_rss = 0
        self._tool_peak = 0
        self._reset = False
        self._children_before = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak = 0

    def __enter__(self) -> Self:
        self._reset = _reset_own_peak()
        self._start_rss = _current_rss_kib()
        self._children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if self.sample:
            self._thread = threading.Thread(
                target=self._sample_loop, name="moil-peakmem", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        self._peak = self._measure()

    def _sample_loop(self) -> None:
        pid = os.getpid()
        while True:
            rss, peaks, count = descendants_memory_kib(pid)
            self.sampled_kib = max(self.sampled_kib, _current_rss_kib() + rss)
            self.sampled_tool_kib = max(self.sampled_tool_kib, peaks)
            self._tools_seen = self._tools_seen or count > 0
            if self._stop.wait(self.interval):
                return

    def peak_kib(self) -> int:
        """The job's peak memory in KiB, as measured when the context was left (see the
        module docstring for what it counts)."""
        return self._peak

    def tool_peak_kib(self) -> int:
        """The peak memory of the job's own work in KiB, without the worker's (see the
        module docstring)."""
        return self._tool_peak

    def _measure(self) -> int:
        own = _own_peak_kib() if self._reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        # a growth up to the worker's own peak may be a fork inheriting it: not trusted
        tools = children if children > max(self._children_before, own) else 0
        if self._tools_seen or tools:
            self._tool_peak = max(self.sampled_tool_kib, tools)
        else:
            self._tool_peak = max(0, own - self._start_rss)
        return max(self.sampled_kib, own + tools)
