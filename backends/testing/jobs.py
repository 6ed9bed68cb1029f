"""Job entries for the batch-system contract suite (``backends.testing.batch``).

Each function has the worker's signature ``fn(locator, job_id)``; here ``locator`` is a
directory and a job leaves files named after its ``job_id`` there. Files are written whole
(temporary name, then rename) so a test polling for them never reads half of one.

The same jobs run as commands, for batch systems that run ``argv``::

    python -m backends.testing.jobs FUNCTION LOCATOR JOB_ID
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LONG_SLEEP = 600.0  # longer than any test waits: such a job ends only by being killed

# Set by a test in the leader before the first job, to show that forked workers see it.
LEADER_STATE = "unset"


def write_file(directory: str, name: str, text: str) -> None:
    """Write ``directory/name`` atomically."""
    target = Path(directory, name)
    temporary = target.with_name(f".{name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    temporary.rename(target)


def touch(locator: str, job_id: str) -> None:
    """Write ``job_id`` containing ``done``."""
    write_file(locator, job_id, "done")


def record_interval(locator: str, job_id: str) -> None:
    """Sleep half a second; write ``job_id.interval`` with the start and end times."""
    start = time.time()
    time.sleep(0.5)
    write_file(locator, f"{job_id}.interval", f"{start} {time.time()}")


def sleep_then_touch(locator: str, job_id: str) -> None:
    """Write ``job_id.started``, sleep a second, then write ``job_id``."""
    write_file(locator, f"{job_id}.started", str(os.getpid()))
    time.sleep(1.0)
    touch(locator, job_id)


def sleep_long(locator: str, job_id: str) -> None:
    """Write ``job_id.started`` (the process ID), then sleep until killed."""
    write_file(locator, f"{job_id}.started", str(os.getpid()))
    time.sleep(LONG_SLEEP)


def spawn_child_and_sleep(locator: str, job_id: str) -> None:
    """Start a ``sleep`` process, write its PID to ``job_id.child``, then sleep until killed."""
    child = subprocess.Popen(["sleep", str(int(LONG_SLEEP))])
    write_file(locator, f"{job_id}.child", str(child.pid))
    time.sleep(LONG_SLEEP)


def fail(locator: str, job_id: str) -> None:
    """Raise an exception."""
    raise RuntimeError(f"job {job_id} fails on purpose")


def die_by_sigkill(locator: str, job_id: str) -> None:
    """Kill the process running the job with SIGKILL."""
    os.kill(os.getpid(), signal.SIGKILL)


def exit_3(locator: str, job_id: str) -> None:
    """End the process running the job with exit code 3, skipping all cleanup."""
    os._exit(3)


def sys_exit_4(locator: str, job_id: str) -> None:
    """Call ``sys.exit(4)``."""
    sys.exit(4)


def print_noise(locator: str, job_id: str) -> None:
    """Print ``noise from JOB_ID`` on stdout, then write ``job_id``."""
    print(f"noise from {job_id}", flush=True)
    touch(locator, job_id)


def write_pid(locator: str, job_id: str) -> None:
    """Write the PID of the process running the job to ``job_id``."""
    write_file(locator, job_id, str(os.getpid()))


def write_environment(locator: str, job_id: str) -> None:
    """Write the value of ``MOIL_TEST_VALUE`` (or ``<unset>``) to ``job_id``."""
    write_file(locator, job_id, os.environ.get("MOIL_TEST_VALUE", "<unset>"))


def write_leader_state(locator: str, job_id: str) -> None:
    """Write this module's ``LEADER_STATE`` as the process running the job sees it."""
    write_file(locator, job_id, LEADER_STATE)


def main(argv: list[str]) -> int:
    """``FUNCTION LOCATOR JOB_ID``: run one job as a command."""
    if len(argv) != 3 or argv[0].startswith("_") or argv[0] == "main":
        print(
            "usage: python -m backends.testing.jobs FUNCTION LOCATOR JOB_ID",
            file=sys.stderr,
        )
        return 2
    globals()[argv[0]](argv[1], argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
