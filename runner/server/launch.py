"""How a run's process is started, watched and stopped.

``Launcher`` is the whole interface the scheduler uses, so another way to run (in-process
leaders, say) can replace ``SubprocessLauncher`` without touching the scheduler.
``SubprocessLauncher`` starts ``python -m runner.server.supervise RUN_DIR -- COMMAND`` in a
session of its own: the command (a moil leader) and its workers share that session's
process group, which outlives the server. The supervisor records the exit code in the run's
directory, so a server started again finds out how a run it did not see end ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Protocol

import psutil

from runner.server.config import TOKEN_ENV
from runner.server.state import RunFiles


@dataclass(frozen=True)
class Handle:
    """A started run: its supervisor's pid and start time (a reused pid has another)."""

    pid: int
    started: float

    def to_json(self) -> dict[str, float]:
        return {"pid": self.pid, "started": self.started}

    @classmethod
    def from_json(cls, data: dict[str, float]) -> Handle:
        return cls(int(data["pid"]), float(data["started"]))


class Launcher(Protocol):
    """Starts and stops runs' processes."""

    def start(
        self, files: RunFiles, argv: list[str], attempt: int, export: str | None = None
    ) -> Handle:
        """Start ``argv`` for the run in ``files`` (its outputs uploaded under ``export``
        when it succeeds); raises OSError if it cannot."""
        ...

    def running(self, handle: Handle) -> bool:
        """Whether the run's process is still there (reaps it if it is our child)."""
        ...

    def stop(self, handle: Handle) -> None:
        """Ask the run to stop (SIGTERM: the leader stops its jobs, keeps its store)."""
        ...

    def kill(self, handle: Handle) -> None:
        """Stop the run's whole process group at once (SIGKILL)."""
        ...

    def stop_leader(self, files: RunFiles) -> None:
        """Ask the leader of the run's job store to stop (``toil kill``): for a leader that
        outlived its supervisor, which no signal of ours reaches."""
        ...


class SubprocessLauncher:
    """The default launcher (see the module docstring)."""

    def __init__(self) -> None:
        self.children: dict[int, subprocess.Popen[bytes]] = {}

    def start(
        self, files: RunFiles, argv: list[str], attempt: int, export: str | None = None
    ) -> Handle:
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        env["MOIL_SERVER_ATTEMPT"] = str(attempt)
        env["WES_WORKFLOW_PARAMS"] = str(files.inputs)
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner.server.supervise",
                str(files.root),
                *(["--export", export] if export else []),
                "--",
                *argv,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=files.root,
            env=env,
            start_new_session=True,
        )
        self.children[child.pid] = child
        try:
            started = psutil.Process(child.pid).create_time()
        except psutil.Error:
            started = 0.0  # already gone: `running` says so
        return Handle(child.pid, started)

    def running(self, handle: Handle) -> bool:
        child = self.children.get(handle.pid)
        if child is not None:
            if child.poll() is None:
                return True
            del self.children[handle.pid]
            return False
        try:
            process = psutil.Process(handle.pid)
            same = abs(float(process.create_time()) - handle.started) < 1.0
            return same and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def stop(self, handle: Handle) -> None:
        if self.running(handle):
            try:
                os.kill(handle.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop_leader(self, files: RunFiles) -> None:
        toil = os.path.join(os.path.dirname(sys.executable), "toil")
        subprocess.run(
            [toil, "kill", f"file:{files.jobstore}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )

    def kill(self, handle: Handle) -> None:
        try:
            os.killpg(handle.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.running(handle)
