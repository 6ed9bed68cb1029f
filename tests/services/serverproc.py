"""A network server run as a child process for tests: start, wait until it answers, stop,
start again on the same address, freeze and thaw; plus the ``start|stop|with`` command line
the service modules (s3, ftp, gcs) share.

A server's state directory holds its log (``server.log``) and ``server.json`` (pid, address,
what started it), so ``stop DIR`` from another process finds it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tests.services.host import alive, kill_and_wait

STATE_FILE = "server.json"
LOG_FILE = "server.log"


class ServiceFailed(RuntimeError):
    """An installed server did not start or answer (the message holds its log's tail)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (another process may take it before it is used)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def http_answers(host: str, port: int) -> bool:
    """Whether an HTTP server on ``host:port`` sends a status line for ``GET /``."""
    return _first_bytes(host, port, b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n").startswith(b"HTTP/")


def banner_answers(prefix: bytes) -> Callable[[str, int], bool]:
    """A readiness probe for a server that greets first (FTP's ``220``)."""
    return lambda host, port: _first_bytes(host, port, b"").startswith(prefix)


def _first_bytes(host: str, port: int, request: bytes) -> bytes:
    try:
        with socket.create_connection((host, port), timeout=1.0) as conn:
            if request:
                conn.sendall(request)
            return conn.recv(16)
    except OSError:
        return b""


@dataclass
class ServerProcess:
    """One server program, started by ``start`` and stopped by ``stop`` (both repeatable:
    a restart reuses the same host, port and state directory, so a server that keeps its
    data on disk comes back with it). ``ready(host, port)`` says when it answers."""

    name: str
    argv: list[str]
    base_dir: Path
    host: str
    port: int
    ready: Callable[[str, int], bool] = http_answers
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Spawn the server and wait until it answers. Raises ServiceFailed with its log's
        tail if it exits or stays silent for ``timeout`` seconds (nothing is left running)."""
        if self.running:
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        log = self.base_dir / LOG_FILE
        with open(log, "ab") as out:
            out.write(f"--- {time.strftime('%H:%M:%S')} start: {self.argv}\n".encode())
            # Its own session: a test's Ctrl-C does not reach it before stop() runs.
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self.env,
                cwd=self.base_dir,
                start_new_session=True,
            )
        state = {"name": self.name, "pid": self.process.pid, "host": self.host, "port": self.port}
        (self.base_dir / STATE_FILE).write_text(json.dumps(state))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.running:
            if self.ready(self.host, self.port):
                return
            time.sleep(0.05)
        code = self.process.poll()
        self.stop()
        why = f"exited with {code}" if code is not None else f"did not answer in {timeout:.0f}s"
        raise ServiceFailed(f"{self.name} on {self.host}:{self.port} {why}:\n{log_tail(log)}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns once the port is free."""
        if self.process is None:
            return
        self.resume()
        kill_and_wait([self.process.pid], grace=grace)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.process = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.ready(self.host, self.port):
            time.sleep(0.05)

    def restart(self, timeout: float = 60.0) -> None:
        self.stop()
        self.start(timeout)

    def stop_for(self, seconds: float) -> threading.Thread:
        """Stop now and start again after ``seconds`` in a background thread (returned,
        already started: join it to wait until the server is back). The outage a test of
        retries wants: connections are refused meanwhile."""
        self.stop()
        thread = threading.Thread(target=self._start_after, args=(seconds,), daemon=True)
        thread.start()
        return thread

    def _start_after(self, seconds: float) -> None:
        time.sleep(seconds)
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections are accepted by the kernel but never
        answered, as with a hung server; its memory is kept."""
        if self.running and self.process is not None:
            os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a server frozen by ``pause``."""
        if self.running and self.process is not None:
            os.killpg(self.process.pid, signal.SIGCONT)


@dataclass
class Served:
    """Base of the running-server handles (S3, FTP, GCS): where it listens, and its
    process's life: stop (state directory kept), start again on the same address, an
    outage of some seconds, freeze and thaw."""

    process: ServerProcess

    @property
    def host(self) -> str:
        return self.process.host

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def base_dir(self) -> Path:
        return self.process.base_dir

    @property
    def running(self) -> bool:
        return self.process.running

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process.start()

    def restart(self) -> None:
        self.process.restart()

    def stop_for(self, seconds: float) -> threading.Thread:
        """Stop now, start again after ``seconds`` (see ``ServerProcess.stop_for``)."""
        return self.process.stop_for(seconds)

    def pause(self) -> None:
        """Freeze the server: requests hang until ``resume``; its memory is kept."""
        self.process.pause()

    def resume(self) -> None:
        self.process.resume()


def launch(
    name: str,
    argv: list[str],
    base_dir: Path,
    host: str,
    port: int,
    *,
    ready: Callable[[str, int], bool] = http_answers,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> ServerProcess:
    """Start ``argv`` (a server listening on ``host:port``, state under ``base_dir``) and
    wait until ``ready``; raises ServiceFailed with its log's tail otherwise."""
    process = ServerProcess(name, argv, base_dir, host, port, ready, env or dict(os.environ))
    process.start(timeout)
    return process


def log_tail(path: Path, size: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"


def stop_dir(base_dir: str | os.PathLike[str]) -> None:
    """Stop a server started earlier under ``base_dir`` (possibly by another process): the
    pid in its ``server.json``, if that process still names the directory (a stale file's
    pid may belong to an unrelated process by now)."""
    base = Path(base_dir).resolve()
    try:
        pid = int(json.loads((base / STATE_FILE).read_text())["pid"])
        cwd = Path(f"/proc/{pid}/cwd").resolve()
    except (OSError, ValueError, KeyError):
        return
    if cwd == base and alive(pid):
        try:
            os.killpg(pid, signal.SIGCONT)
        except ProcessLookupError:
            return
        kill_and_wait([pid], grace=10.0)


class Service(Protocol):
    """What the command line needs of a started server."""

    def exports(self) -> dict[str, str]: ...

    def stop(self) -> None: ...


def main(
    module: str,
    kinds: Sequence[str],
    start: Callable[[str, Path, str], Service],
    argv: list[str] | None = None,
) -> int:
    """``python -m MODULE start [KIND] DIR [HOST] | stop DIR | with [KIND] -- COMMAND...``.

    ``start`` leaves the server running and prints ``export`` lines for a shell; ``with``
    starts one in a temporary directory, runs COMMAND with those variables, stops it and
    returns COMMAND's exit code. ``start(kind, base_dir, host)`` starts one server."""
    args = sys.argv[1:] if argv is None else argv
    kind_given = len(args) > 1 and args[1] in kinds
    kind = args[1] if kind_given else kinds[0]
    rest = args[2:] if kind_given else args[1:]
    if args[:1] == ["with"] and rest[:1] == ["--"] and len(rest) > 1:
        base = Path(tempfile.mkdtemp(prefix=f"moil-{module}-", dir="/tmp"))
        started = time.monotonic()
        service = start(kind, base, "127.0.0.1")
        print(f"# {module} {kind} up in {time.monotonic() - started:.2f}s", file=sys.stderr)
        try:
            env = {**os.environ, **service.exports()}
            return subprocess.run(rest[1:], env=env, check=False).returncode
        finally:
            service.stop()
            shutil.rmtree(base, ignore_errors=True)
    if args[:1] == ["start"] and len(rest) in (1, 2):
        started = time.monotonic()
        service = start(kind, Path(rest[0]).resolve(), rest[1] if len(rest) == 2 else "127.0.0.1")
        print(f"# {module} {kind} up in {time.monotonic() - started:.2f}s under {rest[0]}")
        for name, value in service.exports().items():
            print(f"export {name}={value}")
        # Leave it running: the Popen is dropped without killing; stop DIR ends it.
        return 0
    if args[:1] == ["stop"] and len(args) == 2:
        stop_dir(args[1])
        print(f"# stopped the {module} server under {args[1]}")
        return 0
    usage = f"start [{'|'.join(kinds)}] DIR [HOST] | stop DIR | with [KIND] -- COMMAND..."
    print(f"usage: python -m tests.services.{module} {usage}", file=sys.stderr)
    return 2
