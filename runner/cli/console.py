"""Process start and end for the console scripts (``toil-cwl-runner``, ``toil-wdl-runner``).

A run of one small CWL tool is mostly interpreter work around the engine: importing cwltool
and schema-salad (~0.5 s here), then, at exit, the interpreter's teardown of the ~600 modules
and the schemas they loaded (0.1-0.3 s of garbage collection and deallocation). Two things
cut that:

- ``freeze_heap()`` once the long-lived objects exist (modules, loaded documents, schemas):
  the collector no longer walks them at every full collection, and forked workers do not
  touch (and so copy) their pages when it runs. Until then the collector may be off
  (``run(main, defer_gc=True)``): what is built before is nearly all kept.
- ``run(main)`` ends the process with ``os._exit`` once ``main`` has returned and everything
  a normal exit would do that matters has been done: other non-daemon threads joined, atexit
  handlers run, logging flushed and closed, stdout and stderr flushed. Only the teardown of
  objects the process is about to drop anyway is skipped.

``main`` functions stay plain functions returning an exit code, so tests call them in-process.

``run`` also makes SIGTERM raise ``Terminated`` (exit 143) as SIGINT raises
KeyboardInterrupt (exit 130), so that a run stopped before or after its leader's loop cleans
up and says so in one line, as one stopped inside it does. The helpers below give the one
line a command prints for an interruption or an OSError (a full disk, a permission).
"""

from __future__ import annotations

import atexit
import errno
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from runner.errors import Terminated


def freeze_heap() -> None:
    """Move every object alive now out of the collector's sight (see the module doc), and
    turn the collector back on if ``run(..., defer_gc=True)`` turned it off.

    No collection first: it would cost 40-100 ms here and, after loading a document, finds
    nothing to free (measured: 0 objects), so nothing is kept alive that should go."""
    gc.freeze()
    gc.enable()


def run(main: Callable[[], int | None], *, defer_gc: bool = False) -> NoReturn:
    """Call ``main`` and end the process with its exit code, skipping the teardown.

    ``defer_gc``: no garbage collection until ``main`` calls ``freeze_heap``. Importing
    cwltool and schema-salad makes ~80,000 long-lived objects, and the collections that
    triggers find nothing to free while costing ~10% of the import time."""
    if defer_gc:
        gc.disable()
    catch_sigterm()
    try:
        code = _code(main())
    except SystemExit as exc:
        code = _code(exc.code)
    except KeyboardInterrupt as exc:
        code = interrupted_code(exc)
    _exit(code)


def catch_sigterm() -> None:
    """Make SIGTERM raise ``Terminated`` where it would otherwise end the process at once
    (a handler someone else installed is left alone; only the main thread may set one)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_terminated)


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated("terminated (SIGTERM)")


def interrupted_code(exc: BaseException) -> int:
    """The exit code of an interruption: 143 for SIGTERM, 130 for SIGINT."""
    return int(getattr(exc, "exit_code", 130))


def interrupted_message(exc: BaseException) -> str:
    """The line a command prints when it is interrupted outside the leader's loop."""
    what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (SIGINT)"
    return f"{what} before the run finished"


_HINTS = {
    errno.ENOSPC: "free some space there, or put it elsewhere",
    errno.EDQUOT: "free some space there (disk quota), or put it elsewhere",
    errno.EACCES: "check its permissions, or put it elsewhere",
    errno.EPERM: "check its permissions, or put it elsewhere",
    errno.EROFS: "the file system is read-only: put it elsewhere",
    errno.EMFILE: "raise the limit on open files (ulimit -n)",
}


def os_error_message(
    exc: OSError, job_store: str | None = None, work: str | None = None, *, run: bool = True
) -> str:
    """One line for an OSError that reached a command: what failed, on which path, and
    what to do ("No space left on device: /tmp/x; free some space there, ..."). An error
    of a run (``run``) that names no path (a write to an open file) names its job store
    (``--jobStore``, if given) and work directory (``--workDir`` or the default) as where
    it happened."""
    text = exc.strerror or str(exc)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if paths:
        text += ": " + " -> ".join(paths)
    elif run:
        from runner.jobenv.tempdirs import work_dir

        places = ([f"the job store {job_store}"] if job_store else []) + [
            f"the work directory {work_dir(work)}"
        ]
        text += " in " + " or ".join(places)
    hint = _HINTS.get(exc.errno or 0)
    return f"{text}; {hint}" if hint else text


def _code(value: object) -> int:
    """An exit code from what ``main`` returned or gave ``sys.exit``, as Python reads it."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _exit(code: int) -> NoReturn:
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what the interpreter does first at exit (CPython, all versions)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            # Closed or broken pipe (e.g. piped into `head`): Python would exit 120 here.
            code = code or 120
    os._exit(code)
