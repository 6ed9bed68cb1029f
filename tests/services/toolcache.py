"""Installs the server programs the service tests start, into a cache outside the project.

The S3, FTP and GCS servers are test infrastructure, not moil's dependencies, so they stay
out of the project's ``.venv``: the Python ones go into one venv of their own and s3rver into
an npm prefix, both under ``$MOIL_SERVICES_CACHE`` (default ``~/.cache/moil/services``).
Each is named after a hash of what it holds (the pinned packages, the Python version), so
changing a pin below builds a new one beside the old, and a half-finished install (killed
mid-way) is redone: a ``.complete`` file is written last. Installs take a file lock, so two
test sessions on one machine (two worktrees, CI beside a developer) do not build the same
venv at once.

The WES tests (issue 19) add three more, built the same way: ``wes-clients`` (PyPI's
wes-service and schemathesis, ~20 s with pip's cache warm), ``toil-wes`` (Toil 9.6.0 with
its ``toil-wes-cwl-runner``, ~35 s warm) and an npm prefix with ``playwright-core`` (its
driver only: the browser is Debian's Chromium).

Versions are pinned: the capability table in ``tests/services/s3.py`` (which conditional
writes each S3 server honours) was measured on these versions and is asserted by the tests.

Measured on this machine kind (2 cores shared, load ~6): the venv (160 MB) in 46 s with an
empty pip cache, 33 s with pip's cache warm; s3rver (14 MB) in 9 s with an empty npm cache,
4 s warm; an installed cache costs nothing. ``moto[server]`` alone would take 46 s and
315 MB, pulling the dependencies of every AWS service moto mocks; ``moto[s3]`` plus Flask
and flask-cors (22 s, 140 MB) is what its server needs for S3.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.services.host import apt_install

CACHE_ENV = "MOIL_SERVICES_CACHE"

PYTHON_PACKAGES = (
    "moto[s3]==5.2.5",
    "flask>=3,<4",
    "flask-cors>=4",
    "pyftpdlib==2.2.0",
    "gcp-storage-emulator==2026.7.19",
    "google-cloud-storage==3.17.1",
)
NPM_PACKAGES = ("s3rver@3.7.1",)

_INSTALL_TIMEOUT = 900.0


class ToolUnavailable(RuntimeError):
    """A server program cannot be installed on this machine (the message says why)."""


def cache_root() -> Path:
    """Where the venv and the npm prefix live (``$MOIL_SERVICES_CACHE`` overrides)."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "moil" / "services"


def _digest(parts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


def services_venv() -> Path:
    """The venv holding moto, pyftpdlib, the GCS emulator and its client; installed on first
    use (as the user running the tests: no root needed). Raises ToolUnavailable with pip's
    output tail if pip fails (no package index reachable, say)."""
    return python_venv("venv", PYTHON_PACKAGES)


def venv_program(name: str) -> Path:
    """An executable of the services venv (``moto_server``, ``python``...)."""
    return services_venv() / "bin" / name


def node_package(name: str) -> Path:
    """The directory of npm package ``name`` (one of NPM_PACKAGES) in the npm prefix,
    installed on first use. Installs ``npm`` with apt-get where it is missing and this runs
    as root; raises ToolUnavailable otherwise or when npm fails."""
    prefix = cache_root() / f"npm-{_digest(list(NPM_PACKAGES))}"
    with _installing(prefix) as needed:
        if needed:
            npm = _npm()
            argv = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
            _run([*argv, "--loglevel=error", *NPM_PACKAGES], "npm install")
    package = prefix / "node_modules" / name
    if not package.is_dir():
        raise ToolUnavailable(f"npm package {name} is not among {NPM_PACKAGES}")
    return package


def node() -> str:
    """The ``node`` executable (installed with npm where missing)."""
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        _npm()
        found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        raise ToolUnavailable("node is missing after installing npm")
    return found


def _npm() -> str:
    found = shutil.which("npm")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise ToolUnavailable("npm is missing and apt-get cannot run here (needs root)")
    try:
        apt_install(("npm",))
    except RuntimeError as exc:
        raise ToolUnavailable(str(exc)) from None
    found = shutil.which("npm")
    if found is None:
        raise ToolUnavailable("apt-get installed npm but it is not on PATH")
    return found


@contextmanager
def _installing(target: Path) -> Iterator[bool]:
    """Hold the cache's install lock; yield whether ``target`` must be (re)built. A target
    without its ``.complete`` marker is removed first; the marker is written on success."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    marker = target / ".complete"
    if marker.exists():
        yield False
        return
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():  # another session built it while we waited
            yield False
            return
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        yield True
        marker.write_text("")


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise ToolUnavailable(f"{what} did not finish in {_INSTALL_TIMEOUT:.0f}s") from None
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-1500:]
        raise ToolUnavailable(f"{what} failed (exit {done.returncode}):\n{tail}")


#: The WES clients of the server's tests (issue 19): PyPI's wes-service (``wes-client``
#: and the ``wes_client`` library) and schemathesis, pinned; Toil 9.6.0 with its
#: ``toil-wes-cwl-runner`` (it imports ``wes_client``) in a venv of its own.
WES_CLIENT_PACKAGES = ("wes-service==5.0", "schemathesis==4.32.5")
TOIL_PACKAGES = ("toil[cwl]==9.6.0", "wes-service==5.0")
#: Playwright's driver for Debian's Chromium (no browser download: ``playwright-core``)
PLAYWRIGHT_PACKAGES = ("playwright-core@1.65.1",)


def python_venv(name: str, packages: Sequence[str]) -> Path:
    """A venv named ``name`` holding ``packages``, in the cache, installed on first use
    (as ``services_venv``). Raises ToolUnavailable with pip's output tail if pip fails."""
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    venv = cache_root() / f"{name}-{version}-{_digest([version, *packages])}"
    with _installing(venv) as needed:
        if needed:
            # The running interpreter may itself be a venv's; venv resolves its base Python.
            _run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
            _run([*pip, "--disable-pip-version-check", *packages], "pip install")
    return venv


def npm_prefix(name: str, packages: Sequence[str]) -> Path:
    """An npm prefix named ``name`` holding ``packages``, installed on first use."""
    prefix = cache_root() / f"{name}-{_digest(list(packages))}"
    with _installing(prefix) as needed:
        if needed:
            argv = [_npm(), "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
            _run([*argv, "--loglevel=error", *packages], "npm install")
    return prefix
