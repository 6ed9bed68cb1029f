"""A progress bar on stderr (rich) when it is a terminal and not turned off.

The bar is drawn on the console log lines go through (``runner.cli.logs.stderr_console``),
never on stdout, which holds only the workflow's output JSON; it does not capture stdout or
stderr (rich's ``redirect_stdout``), so a worker forked while it is up writes where it would
without it. It leaves nothing behind when it stops (transient).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.model.state import StateMachine


class Progress:
    """Jobs done / total, running and failed; silent unless stderr is a terminal."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0

    def start(self, state: StateMachine) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        from runner.cli.logs import stderr_console

        self._bar = RichProgress(
            TextColumn("[bold]jobs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            transient=True,
            console=stderr_console(),
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("jobs", total=len(state.jobs), detail="")

    def update(self, state: StateMachine, running: int) -> None:
        """Show the state's counts and ``running``: the jobs the batch system runs now
        (not those it holds queued). At most ten times a second."""
        if self._bar is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        done = sum(1 for j in state.jobs.values() if j.done)
        detail = f"running {running}" + (f", failed {len(state.failed)}" if state.failed else "")
        self._bar.update(self._task, completed=done, total=len(state.jobs), detail=detail)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
