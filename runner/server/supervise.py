"""``python -m runner.server.supervise RUN_DIR -- COMMAND...``: run one WES run's command and
record how it ended.

The server starts this, not the command itself, so that the command's exit code is kept
even when the server is gone: the command's stdout and stderr go straight to
``RUN_DIR/stdout.txt`` and ``stderr.txt`` (appended: a resumed run keeps what the first
attempt said), and when it ends ``RUN_DIR/exit.json`` gets ``{"exit_code": N}`` (negative
for a signal, as ``subprocess`` reports it) and the time, written atomically. SIGTERM and
SIGINT are passed to the command (moil's runners stop in order and keep their job store
for ``--restart``). The command runs in this process's session, so the server can stop
the whole tree (the leader and its workers) by the session's process group.

Imports nothing heavy: it lives as long as its run, one per run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from types import FrameType

ATTEMPT_MARK = "--- moil server: attempt {n} at {when}: {argv}\n"


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m runner.server.supervise RUN_DIR -- COMMAND...", file=sys.stderr)
        return 2
    run_dir, command = argv[0], argv[2:]
    stdout = open(os.path.join(run_dir, "stdout.txt"), "ab")  # noqa: SIM115 (the child's)
    stderr = open(os.path.join(run_dir, "stderr.txt"), "ab")  # noqa: SIM115
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    stderr.write(
        ATTEMPT_MARK.format(
            n=os.environ.get("MOIL_SERVER_ATTEMPT", "1"), when=when, argv=" ".join(command)
        ).encode()
    )
    stderr.flush()
    try:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=run_dir
        )
    except OSError as exc:
        stderr.write(f"moil server: cannot start {command[0]}: {exc.strerror}\n".encode())
        _record(run_dir, 127, started=False)
        return 127

    def forward(signum: int, frame: FrameType | None) -> None:
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    _record(run_dir, code, started=True)
    return 0


def _record(run_dir: str, code: int, *, started: bool) -> None:
    path = os.path.join(run_dir, "exit.json")
    temp = path + ".tmp"
    with open(temp, "w") as stream:
        json.dump({"exit_code": code, "started": started, "time": time.time()}, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
