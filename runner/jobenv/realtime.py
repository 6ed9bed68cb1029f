"""Toil's ``RealtimeLogger``: a job's log lines reach the leader's log while the job runs.

As in Toil (``toil.realtimeLogger``), the leader runs a small UDP server for the length of
the run (``serve``) and tells workers where it is in the environment variables
``TOIL_RT_LOGGING_ADDRESS`` (``HOST:PORT``) and ``TOIL_RT_LOGGING_LEVEL``; in a job,
``RealtimeLogger.info(...)`` (any method of ``logging.Logger``) sends each record as one
JSON datagram, and the leader logs it under the logger ``runner.realtime`` with the job's
name and ID in front, so ``grep JOBID`` on the ``--logFile`` finds it too. Without a server
(a job run outside a leader) the messages go to the job's own log only, as Toil's are
dropped below CRITICAL.

The level is the leader's ``--logLevel`` with ``--realTimeLogging``, INFO without (Toil's
rule): a job's ``RealtimeLogger.info`` shows on a default run.

UDP, as Toil's: a record that does not fit in one datagram (64 KiB) or a leader that is
gone loses that line, never the job.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ADDRESS = "TOIL_RT_LOGGING_ADDRESS"
LEVEL = "TOIL_RT_LOGGING_LEVEL"
#: the variables workers are given (``runner.engine.handoff.WORKER_VARIABLES``)
VARIABLES = (ADDRESS, LEVEL)

leader_log = logging.getLogger("runner.realtime")
_lock = threading.RLock()
#: the job this process runs now ("NAME JOBID"), sent with each record
_current_job = ""


def set_current_job(label: str) -> None:
    """Name the job this process runs now (the worker, before each job)."""
    global _current_job
    _current_job = label


class _JsonDatagramHandler(logging.handlers.DatagramHandler):
    """Each record as one JSON datagram: the message formatted here, with the job's label."""

    def makePickle(self, record: logging.LogRecord) -> bytes:  # noqa: N802 (logging's name)
        fields = {
            "name": record.name,
            "levelno": record.levelno,
            "levelname": record.levelname,
            "msg": record.getMessage(),
            "created": record.created,
            "job": _current_job,
        }
        return json.dumps(fields).encode("utf-8", "replace")


class _Meta(type):
    def __getattr__(cls, name: str) -> Any:
        return getattr(RealtimeLogger.getLogger(), name)


class RealtimeLogger(metaclass=_Meta):
    """``RealtimeLogger.info("...")`` in a job logs on the leader at once (module doc)."""

    _logger: logging.Logger | None = None
    _address: str | None = None

    @classmethod
    def getLogger(cls) -> logging.Logger:  # noqa: N802 (Toil's name)
        """The logger whose records go to the leader (set up on first use in a process,
        and again if the leader's address changed: a pool worker serves several runs)."""
        address = os.environ.get(ADDRESS)
        with _lock:
            if cls._logger is None or address != cls._address:
                logger = logging.getLogger("moil-rt")
                for old in list(logger.handlers):
                    if isinstance(old, _JsonDatagramHandler):
                        logger.removeHandler(old)
                        old.close()
                if address:
                    host, _, port = address.rpartition(":")
                    logger.addHandler(_JsonDatagramHandler(host, int(port)))
                    logger.setLevel(_level(os.environ.get(LEVEL, "")))
                else:
                    logger.setLevel(logging.INFO)  # the job's log only
                cls._logger, cls._address = logger, address
            return cls._logger


def _level(text: str) -> int:
    """A level given as a number or a name (Toil gives names); INFO if neither."""
    if text.strip().isdigit():
        return int(text)
    named = logging.getLevelName(text.strip().upper())
    return named if isinstance(named, int) else logging.INFO


class _Receiver(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request[0]
        try:
            fields = json.loads(data.decode("utf-8"))
            level = int(fields["levelno"])
            job = str(fields.get("job") or "a job")
            text = str(fields["msg"])
        except (ValueError, KeyError, TypeError):
            leader_log.warning("a malformed real-time log message from %s", self.client_address[0])
            return
        leader_log.log(level, "%s: %s", job, text)


def _advertised_host(local_only: bool) -> str:
    """The address workers reach the leader at: the loopback one for workers on this host,
    else this host's address on the route out (no packet is sent to find it)."""
    if local_only:
        return "127.0.0.1"
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the interface
        return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostbyname(socket.gethostname())
    finally:
        probe.close()


@contextmanager
def serve(level: int, *, local_only: bool) -> Iterator[None]:
    """Receive workers' real-time records at ``level`` while the block runs; the workers
    learn where from the environment (``VARIABLES``), set here and removed after."""
    try:
        server = socketserver.ThreadingUDPServer(
            ("127.0.0.1" if local_only else "0.0.0.0", 0), _Receiver
        )
    except OSError as exc:
        leader_log.warning("real-time logging is off: no UDP socket (%s)", exc)
        yield
        return
    server.daemon_threads = True
    # serve_forever looks for shutdown() once per poll_interval (0.5 s by default): at the
    # default, every run waited up to half a second at its end (a one-tool CWL run took 0.83 s
    # instead of 0.37 s); 10 ms costs a hundred idle wake-ups a second
    thread = threading.Thread(
        target=server.serve_forever, args=(0.01,), name="realtime-log", daemon=True
    )
    thread.start()
    port = server.server_address[1]
    saved = {key: os.environ.get(key) for key in VARIABLES}
    os.environ[ADDRESS] = f"{_advertised_host(local_only)}:{port}"
    os.environ[LEVEL] = str(level)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.shutdown()
        server.server_close()
        thread.join()
