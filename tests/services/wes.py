"""``toil server`` as the tests meet it: a real server process on 127.0.0.1, and the WES
clients written by others, installed into the tools cache (``tests/services/toolcache.py``).

``WesServer`` starts ``toil server`` with its state under a directory, can SIGKILL it and
start it again on the same port and state; ``call`` is a tiny HTTP client for the tests'
own checks (the clients under test are the real ones: ``wes-client``, ``wes_client``,
``toil-wes-cwl-runner``, schemathesis). The spec is read where the project keeps it beside
the checkout (``../shared/specs/wes``), or from ``$MOIL_WES_SPECS``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.services import serverproc, toolcache

ROOT = Path(__file__).resolve().parents[2]
#: a one-tool CWL document the tests and the benchmark submit (input ``msg``, output ``out``)
ECHO_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [echo]
inputs:
  msg: {type: string, inputBinding: {position: 1}}
stdout: out.txt
outputs:
  out: stdout
"""
API = "/ga4gh/wes/v1"
TOKEN_ENV = "TOIL_SERVER_TOKEN"


def specs_dir() -> Path:
    """Where the WES OpenAPI files are (``$MOIL_WES_SPECS`` overrides)."""
    configured = os.environ.get("MOIL_WES_SPECS")
    return Path(configured) if configured else ROOT.parent / "shared" / "specs" / "wes"


def clients_venv() -> Path:
    """wes-service and schemathesis (installed on first use)."""
    return toolcache.python_venv("wes-clients", toolcache.WES_CLIENT_PACKAGES)


def toil_venv() -> Path:
    """Toil 9.6.0 with toil-wes-cwl-runner (installed on first use)."""
    return toolcache.python_venv("toil-wes", toolcache.TOIL_PACKAGES)


@dataclass
class WesServer:
    """A ``toil server`` process; ``work`` holds its runs and state."""

    work: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    process: serverproc.ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api(self) -> str:
        return self.url + API

    def start(self, timeout: float = 60.0) -> None:
        if not self.port:
            self.port = serverproc.free_port(self.host)
        toil = str(Path(sys.executable).parent / "toil")
        argv = [
            toil,
            "server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--work_dir",
            str(self.work / "runs"),
            *self.args,
        ]
        self.process = serverproc.launch(
            "toil-server", argv, self.work, self.host, self.port, env=self.env, timeout=timeout
        )

    def kill(self) -> None:
        """SIGKILL the server alone (its runs' processes are left as they are)."""
        assert self.process is not None and self.process.process is not None
        os.kill(self.process.process.pid, signal.SIGKILL)
        self.process.process.wait(timeout=10)
        self.process.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=40)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def call(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, Any]:
        """``(status, parsed JSON or text)`` of one request to the API."""
        merged = {**(self.headers() if auth else {}), **(headers or {})}
        request = urllib.request.Request(self.api + path, data=data, method=method, headers=merged)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body, status = response.read(), response.status
                kind = response.headers.get("content-type", "")
        except urllib.error.HTTPError as exc:
            body, status, kind = exc.read(), exc.code, exc.headers.get("content-type", "")
        if "json" in kind:
            return status, json.loads(body)
        return status, body.decode(errors="replace")

    def get(self, path: str, **kwargs: Any) -> Any:
        status, body = self.call("GET", path, **kwargs)
        assert status == 200, (path, status, body)
        return body

    def wait(
        self,
        run_id: str,
        states: tuple[str, ...] = ("COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"),
        timeout: float = 180.0,
    ) -> str:
        """Poll the run's status until it is one of ``states``; returns it."""
        deadline = time.monotonic() + timeout
        state = "?"
        while time.monotonic() < deadline:
            state = self.get(f"/runs/{run_id}/status")["state"]
            if state in states:
                return str(state)
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} still {state} after {timeout:.0f} s")


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body (``workflow_attachment`` parts for ``files``)."""
    boundary = "moil-test-boundary-7d2c"
    out = bytearray()
    for name, value in fields.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    for filename, content in files:
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="workflow_attachment"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + content
            + b"\r\n"
        )
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def submit(
    server: WesServer, fields: dict[str, Any], files: list[tuple[str, bytes]], auth: bool = True
) -> tuple[int, Any]:
    """POST /runs with ``fields`` (dicts sent as JSON) and attachments."""
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    body, kind = multipart(encoded, files)
    return server.call("POST", "/runs", data=body, headers={"Content-Type": kind}, auth=auth)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.services.wes toil-venv|clients-venv``: install (if needed) and
    print the venv's path; ``serve WORK PORT [ARGS...]``: run a server in the foreground."""
    args = sys.argv[1:] if argv is None else argv
    started = time.monotonic()
    if args[:1] in (["toil-venv"], ["clients-venv"]):
        venv = toil_venv() if args[0] == "toil-venv" else clients_venv()
        print(f"# {args[0]} ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
        print(venv)
        return 0
    print("usage: python -m tests.services.wes toil-venv|clients-venv", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
