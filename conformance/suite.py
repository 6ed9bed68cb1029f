"""Finding a conformance suite: the shared checkout, a local path, or a downloaded archive.

A suite is named by a directory, by its test-list file, or by the URL of a tarball or zip of
it. Archives are downloaded once into a cache directory (``$MOIL_CONFORMANCE_CACHE``, else
``$XDG_CACHE_HOME/moil/conformance``, else ``~/.cache/moil/conformance``) and extracted with
path checks; a later run with the same URL reuses the extraction.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

from conformance.gate import HarnessError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The project's root; the shared suites live at ``REPO_ROOT/../shared/conformance``."""

SHARED_CONFORMANCE = REPO_ROOT.parent / "shared" / "conformance"

_COMPLETE_MARK = ".moil-complete"


def cache_root() -> Path:
    """The directory that holds downloaded suites."""
    explicit = os.environ.get("MOIL_CONFORMANCE_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "moil" / "conformance"


def is_url(spec: str) -> bool:
    """True for ``http(s)://``, ``ftp://`` and ``file://`` specs."""
    return spec.split("://", 1)[0] in {"http", "https", "ftp", "file"} and "://" in spec


def _extract(archive: Path, dest: Path) -> None:
    """Extract a tar (any compression) or zip `archive` into `dest`, refusing unsafe paths."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                target = (dest / name).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise HarnessError(f"{archive}: member {name!r} escapes the extraction dir")
            zipped.extractall(dest)
        return
    try:
        with tarfile.open(archive) as tarred:
            # The "data" filter refuses absolute paths, links out of dest and device files.
            tarred.extractall(dest, filter="data")
    except tarfile.TarError as exc:
        raise HarnessError(f"{archive}: neither a zip nor a tar archive ({exc})") from exc


def fetch_archive(url: str, cache: Path | None = None) -> Path:
    """Download and extract the suite archive at `url` once; return the extraction directory.

    Raises `HarnessError` when the download or the extraction fails.
    """
    root = cache or cache_root()
    dest = root / hashlib.sha256(url.encode()).hexdigest()[:16]
    if (dest / _COMPLETE_MARK).exists():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="fetch-", dir=root))
    try:
        archive = staging / "archive"
        logger.info("downloading %s", url)
        try:
            with urllib.request.urlopen(url, timeout=120) as response, archive.open("wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:
            raise HarnessError(f"cannot download the suite from {url}: {exc}") from exc
        tree = staging / "tree"
        tree.mkdir()
        _extract(archive, tree)
        (tree / _COMPLETE_MARK).write_text(url + "\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        tree.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def find_list_file(root: Path, names: Sequence[str]) -> Path:
    """Return the shallowest file under `root` named one of `names` (earlier names win ties).

    Raises `HarnessError` when there is none.
    """
    candidates = [path for name in names for path in root.rglob(name) if path.is_file()]
    if not candidates:
        raise HarnessError(f"no {' or '.join(names)} under {root}")
    return min(candidates, key=lambda p: (len(p.relative_to(root).parts), names.index(p.name)))


def resolve_list_file(spec: str | None, default_dir: Path, names: Sequence[str]) -> Path:
    """Turn a ``--suite`` value into the path of the suite's test-list file.

    `spec` may be None (use `default_dir`), a directory, a list file, or an archive URL.
    """
    if spec is None:
        root = default_dir
    elif is_url(spec):
        root = fetch_archive(spec)
    else:
        root = Path(spec).expanduser()
        if root.is_file():
            return root.resolve()
    if not root.is_dir():
        raise HarnessError(f"suite directory {root} does not exist; give --suite PATH or URL")
    return find_list_file(root.resolve(), names)


def find_executable(name: str) -> str | None:
    """Absolute path of command `name`: on PATH, as a path, or beside this Python (a venv's
    ``bin``, where the project's own commands are installed)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    return os.path.abspath(found) if found else None
