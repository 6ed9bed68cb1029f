"""Each run's persisted record, the WES states, and the layout of a run's directory.

A run's record (``RunRecord``) is one JSON file, ``STATE_DIR/runs/ID.json``, replaced
atomically (write, fsync, rename) at every change of state, so a server killed at any moment
finds each run as it last said it was. The run's files live in ``WORK_DIR/ID/``
(``RunFiles``): the request's attachments (``workflow/``), the job store (``jobstore``), the
jobs' work dir (``tmp/``), the outputs (``out/``), the command's stdout and stderr, and
``exit.json``, written by ``runner.server.supervise`` when the command ends.

States (WES 1.1): QUEUED (accepted, waiting for one of ``--workers``), INITIALIZING (its
process started; the leader has not started running jobs), RUNNING, then COMPLETE (exit 0),
EXECUTOR_ERROR (the engine exited non-zero: a tool failed, exit 1; an unsupported
requirement, 33; invalid inputs, 2), SYSTEM_ERROR (the run could not be started or its
leader died of a signal nobody sent), CANCELING (asked to stop, its process is ending),
CANCELED.
"""

from __future__ import annotations

import enum
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class State(enum.StrEnum):
    """A run's WES state."""

    UNKNOWN = "UNKNOWN"
    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    EXECUTOR_ERROR = "EXECUTOR_ERROR"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    CANCELED = "CANCELED"
    CANCELING = "CANCELING"
    PREEMPTED = "PREEMPTED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({State.COMPLETE, State.EXECUTOR_ERROR, State.SYSTEM_ERROR, State.CANCELED})
ACTIVE = frozenset({State.INITIALIZING, State.RUNNING, State.CANCELING})


def iso_time(stamp: float | None) -> str | None:
    """WES's time format, ``%Y-%m-%dT%H:%M:%SZ`` (UTC), or None."""
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


@dataclass
class RunRecord:
    """What the server remembers of one run (the JSON file's fields).

    ``request`` is the RunRequest as accepted (workflow_params parsed, engine parameters
    as given); ``argv`` the command the run executes (fixed at submission); ``process``
    the supervisor's pid and start time while it runs (to tell it from a reused pid);
    ``attempts`` how many times the command was started (a resume after the server's death
    starts it again with ``--restart``); ``resume`` is set when the server stopped the
    process itself on its way out (the next server resumes it)."""

    run_id: str
    state: State
    request: dict[str, Any]
    workflow_type: str
    argv: list[str] = field(default_factory=list)
    submitted: float = field(default_factory=time.time)
    start_time: float | None = None
    end_time: float | None = None
    exit_code: int | None = None
    process: dict[str, float] | None = None
    attempts: int = 0
    resume: bool = False
    cancel_requested: bool = False
    system_logs: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = str(self.state)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["state"] = State(known.get("state", "UNKNOWN"))
        return cls(**known)


@dataclass(frozen=True)
class RunFiles:
    """The paths of one run's directory (nothing is created by making this)."""

    root: Path

    @property
    def workflow(self) -> Path:
        """The attachments (the request's files), and the inputs JSON the server writes."""
        return self.root / "workflow"

    @property
    def inputs(self) -> Path:
        """The request's ``workflow_params``, beside the attachments (relative input
        paths name attachments)."""
        return self.workflow / ".moil-wes-inputs.json"

    @property
    def jobstore(self) -> Path:
        return self.root / "jobstore"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def outdir(self) -> Path:
        return self.root / "out"

    @property
    def stdout(self) -> Path:
        return self.root / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.root / "stderr.txt"

    @property
    def exit_file(self) -> Path:
        return self.root / "exit.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON: readers see the old or the new file, and the
    new one survives a crash once this returns."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as stream:
        json.dump(data, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temp, path)


class StateStore:
    """The records of all runs, in a directory (``STATE_DIR/runs``). Not thread-safe: the
    scheduler serialises access."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir

    def create(self) -> None:
        self.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def save(self, record: RunRecord) -> None:
        write_json_atomic(self.runs_dir / f"{record.run_id}.json", record.to_json())

    def load_all(self) -> list[RunRecord]:
        """Every run's record, oldest submission first; a file that cannot be read is
        skipped (and named in the server's log by the caller)."""
        out = []
        for path in self.runs_dir.glob("*.json"):
            try:
                out.append(RunRecord.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, TypeError, KeyError):
                continue
        out.sort(key=lambda r: (r.submitted, r.run_id))
        return out
