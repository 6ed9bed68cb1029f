"""A real FTP server process (pyftpdlib 2.2.0) serving one directory, for tests of
``ftp://`` inputs and by hand.

The server runs from the services venv (``tests/services/toolcache.py``) with the small
program below: anonymous users may list and read (``ftp://HOST:PORT/path``), the user
``FtpServer.user`` with ``FtpServer.password`` may also write, rename and delete
(``ftp://moil:PASSWORD@HOST:PORT/path``). Passive mode only needs the one address the server
listens on (127.0.0.1 unless told otherwise, e.g. an ``other_host`` veth address).

Usage by hand::

    python -m tests.services.ftp start DIR [HOST]     # serves DIR/root; prints export lines
    python -m tests.services.ftp stop DIR
    python -m tests.services.ftp with -- COMMAND...

No pytest import here; the fixture lives in ``tests/services/fixtures.py``.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.services import serverproc, toolcache
from tests.services.serverproc import Served

USER = "moil"

# Run by the services venv's Python: argv = root host port user password.
_SERVER_PROGRAM = """
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
root, host, port, user, password = sys.argv[1:6]
logging.basicConfig(level=logging.INFO)
authorizer = DummyAuthorizer()
authorizer.add_anonymous(root, perm="elr")
authorizer.add_user(user, password, root, perm="elradfmwMT")
handler = FTPHandler
handler.authorizer = authorizer
handler.banner = "moil test FTP server ready"
handler.auth_failed_timeout = 0.1  # pyftpdlib waits 3 s after a wrong password
FTPServer((host, int(port)), handler).serve_forever()
"""


@dataclass
class FtpServer(Served):
    """A running FTP server; ``root`` is the directory it serves (put files there)."""

    root: Path
    password: str
    user: str = USER

    def url(self, path: str = "", *, login: bool = False) -> str:
        """``ftp://`` URL of ``path`` under the root, anonymous or with the user's login."""
        auth = f"{self.user}:{self.password}@" if login else ""
        return f"ftp://{auth}{self.host}:{self.port}/{path.lstrip('/')}"

    def exports(self) -> dict[str, str]:
        return {
            "MOIL_TEST_FTP_URL": self.url(),
            "MOIL_TEST_FTP_USER": self.user,
            "MOIL_TEST_FTP_PASSWORD": self.password,
            "MOIL_TEST_FTP_ROOT": str(self.root),
        }


def ensure_installed() -> None:
    """Install pyftpdlib into the services venv if missing (raises ToolUnavailable)."""
    toolcache.services_venv()


def start(
    base_dir: str | os.PathLike[str], host: str = "127.0.0.1", timeout: float = 60.0
) -> FtpServer:
    """Serve ``base_dir/root`` over FTP on ``host`` (a free port) and wait for its banner.
    Raises toolcache.ToolUnavailable or serverproc.ServiceFailed."""
    base = Path(base_dir).resolve()
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(8)
    port = serverproc.free_port(host)
    python = str(toolcache.venv_program("python"))
    argv = [python, "-c", _SERVER_PROGRAM, str(root), host, str(port), USER, password]
    ready = serverproc.banner_answers(b"220")
    process = serverproc.launch("pyftpdlib", argv, base, host, port, ready=ready, timeout=timeout)
    return FtpServer(process, root, password)


def _start_for_cli(kind: str, base_dir: Path, host: str) -> FtpServer:
    return start(base_dir, host)


if __name__ == "__main__":
    sys.exit(serverproc.main("ftp", ("pyftpdlib",), _start_for_cli))
