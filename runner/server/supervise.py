"""``python -m runner.server.supervise RUN_DIR [--export URL] -- COMMAND...``: run one WES
run's command and record how it ended.

The server starts this, not the command itself, so that the command's exit code is kept
even when the server is gone: the command's stdout and stderr go straight to
``RUN_DIR/stdout.txt`` and ``stderr.txt`` (appended: a resumed run keeps what the first
attempt said), and when it ends ``RUN_DIR/exit.json`` gets ``{"exit_code": N}`` (negative
for a signal, as ``subprocess`` reports it) and the time, written atomically. SIGTERM and
SIGINT are passed to the command (moil's runners stop in order and keep their job store
for ``--restart``). The command runs in this process's session, so the server can stop
the whole tree (the leader and its workers) by the session's process group.

``--export URL`` (the server's ``--dest_bucket_base``): when the command exits 0, its
outputs are uploaded under ``URL`` (``runner.server.s3state.export_outputs``) before the
exit is recorded; if that fails, the reason goes to ``stderr.txt`` and the exit is
recorded as 1 with ``export_failed``.

Imports nothing heavy: it lives as long as its run, one per run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import IO

ATTEMPT_MARK = "--- moil server: attempt {n} at {when}: {argv}\n"


def main(argv: list[str]) -> int:
    export = None
    if len(argv) > 3 and argv[1] == "--export":
        export, argv = argv[2], [argv[0], *argv[3:]]
    if len(argv) < 3 or argv[1] != "--":
        print(
            "usage: python -m runner.server.supervise RUN_DIR [--export URL] -- COMMAND...",
            file=sys.stderr,
        )
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
    if code == 0 and export and not _export(run_dir, export, stderr):
        _record(run_dir, 1, started=True, export_failed=True)
        return 0
    _record(run_dir, code, started=True)
    return 0


def _export(run_dir: str, url: str, stderr: IO[bytes]) -> bool:
    """Upload the run's outputs under ``url``; False (the reason on ``stderr``) if that
    fails."""
    from backends.errors import BackendError
    from runner.server.s3state import export_outputs

    try:
        done = export_outputs(Path(run_dir), url)
    except (BackendError, OSError) as exc:
        stderr.write(f"moil server: cannot upload the outputs to {url}: {exc}\n".encode())
        stderr.flush()
        return False
    stderr.write(f"moil server: {len(done)} output file(s) uploaded to {url}\n".encode())
    stderr.flush()
    return True


def _record(run_dir: str, code: int, *, started: bool, export_failed: bool = False) -> None:
    path = os.path.join(run_dir, "exit.json")
    temp = path + ".tmp"
    data = {"exit_code": code, "started": started, "time": time.time()}
    if export_failed:
        data["export_failed"] = True
    with open(temp, "w") as stream:
        json.dump(data, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
