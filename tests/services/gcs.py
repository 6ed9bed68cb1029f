"""The Google Cloud Storage emulator from PyPI (``gcp-storage-emulator`` 2026.7.19) as a real
process, for tests of ``gs://`` URLs and by hand.

It speaks GCS's JSON API (``/storage/v1/b``, ``/upload/storage/v1/b/B/o`` with
``uploadType=media|multipart|resumable``, ``/download/storage/v1/b/B/o/NAME?alt=media``) and
the path form ``/BUCKET/NAME``, keeping buckets and objects as files under its directory.
The ``google-cloud-storage`` client (3.17.1, in the services venv, not in the project's
``.venv``) reaches it through ``STORAGE_EMULATOR_HOST`` with anonymous credentials:
uploads (also resumable, in 5 MiB chunks), downloads and listings work
(tests/services/test_gcs.py).

What it does not do: preconditions (``ifGenerationMatch=0``, GCS's create-if-absent, is
ignored: the object is overwritten) and authentication (any or no token is accepted). So
it can test reading and writing ``gs://`` URLs, not a job store's atomic steps.

Usage by hand::

    python -m tests.services.gcs start DIR [HOST]     # prints export STORAGE_EMULATOR_HOST=...
    python -m tests.services.gcs stop DIR
    python -m tests.services.gcs with -- COMMAND...

No pytest import here; the fixture lives in ``tests/services/fixtures.py``.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.services import serverproc, toolcache
from tests.services.serverproc import Served

PROJECT = "moil-test"


@dataclass
class GcsServer(Served):
    """A running emulator. ``env()`` is what a client needs to reach it."""

    project: str = PROJECT

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """``STORAGE_EMULATOR_HOST`` (read by google-cloud-storage) and the project."""
        return {"STORAGE_EMULATOR_HOST": self.endpoint_url, "GOOGLE_CLOUD_PROJECT": self.project}

    def exports(self) -> dict[str, str]:
        return self.env()

    def api(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "json"
    ) -> Any:
        """One JSON API call (``path`` from ``/storage/v1`` or ``/upload/storage/v1`` on)
        with a JSON body, or media of ``content_type``; returns the decoded JSON answer
        (None for an empty one)."""
        request = urllib.request.Request(self.endpoint_url + path, data=body, method=method)
        if body is not None:
            kind = "application/json" if content_type == "json" else content_type
            request.add_header("Content-Type", kind)
        with urllib.request.urlopen(request, timeout=30) as answer:
            payload = answer.read()
        return json.loads(payload) if payload else None

    def create_bucket(self, name: str) -> None:
        body = json.dumps({"name": name}).encode()
        self.api("POST", f"/storage/v1/b?project={self.project}", body)

    def upload(self, bucket: str, name: str, data: bytes) -> dict[str, Any]:
        query = urllib.parse.urlencode({"uploadType": "media", "name": name})
        path = f"/upload/storage/v1/b/{bucket}/o?{query}"
        answer: dict[str, Any] = self.api("POST", path, data, "application/octet-stream")
        return answer

    def download(self, bucket: str, name: str) -> bytes:
        quoted = urllib.parse.quote(name, safe="")
        url = f"{self.endpoint_url}/download/storage/v1/b/{bucket}/o/{quoted}?alt=media"
        with urllib.request.urlopen(url, timeout=30) as answer:
            return bytes(answer.read())


def ensure_installed() -> None:
    """Install the emulator and client into the services venv (raises ToolUnavailable)."""
    toolcache.services_venv()


def start(
    base_dir: str | os.PathLike[str], host: str = "127.0.0.1", timeout: float = 60.0
) -> GcsServer:
    """Start the emulator on ``host`` (a free port) with its data under ``base_dir/data``.
    Raises toolcache.ToolUnavailable or serverproc.ServiceFailed."""
    base = Path(base_dir).resolve()
    data = base / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = serverproc.free_port(host)
    program = str(toolcache.venv_program("gcp-storage-emulator"))
    # The data directory must be absolute: the emulator refuses a relative one.
    argv = [program, "--data-dir", str(data), "start", "--host", host, "--port", str(port)]
    process = serverproc.launch("gcp-storage-emulator", argv, base, host, port, timeout=timeout)
    return GcsServer(process)


def _start_for_cli(kind: str, base_dir: Path, host: str) -> GcsServer:
    return start(base_dir, host)


if __name__ == "__main__":
    sys.exit(serverproc.main("gcs", ("gcp-storage-emulator",), _start_for_cli))
