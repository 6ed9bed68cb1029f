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
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn


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
    try:
        code = _code(main())
    except SystemExit as exc:
        code = _code(exc.code)
    except KeyboardInterrupt:
        code = 130
    _exit(code)


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
