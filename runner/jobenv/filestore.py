"""The file store a running job sees (Toil's ``fileStore``), over the run's job store.

Toil's method names are kept for the Python API (``writeGlobalFile``, ``readGlobalFile``,
...); the snake_case methods are what the language front ends use. On one filesystem files
move by hard link or rename, never by copying bytes.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import stat
import tempfile
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import psutil

from backends import urls
from backends.jobstore.base import FileID, JobStore

log = logging.getLogger(__name__)


class FileStore:
    """Files for one job: global files in the job store, and a private local temp dir."""

    def __init__(
        self,
        store: JobStore,
        temp_root: str,
        logger: logging.Logger | None = None,
        prefix: str = "moil-",
    ) -> None:
        self.jobStore = self.store = store
        self._temp_root = temp_root
        self._prefix = prefix
        self._temp_dir: str | None = None
        self._log = logger or log
        self.messages: list[tuple[str, int]] = []
        #: empty subdirectories of the job's directory that may stay when it is recycled
        #: (a front end that makes the same ones for every job names them here)
        self.kept_subdirs: frozenset[str] = frozenset()

    @property
    def local_temp_dir(self) -> str:
        """The job's private directory, made on first use (emptied when the job ends).
        Made lazily because creating and removing a directory per job is costly on some
        filesystems and most expression jobs never need one; for the same reason a
        directory emptied by ``cleanup`` is kept for this process's next job (see
        ``_take_spare``)."""
        if self._temp_dir is None:
            self._temp_dir = _take_spare(self._temp_root, self._prefix) or tempfile.mkdtemp(
                prefix=self._prefix, dir=self._temp_root
            )
        return self._temp_dir

    @property
    def made_temp_dir(self) -> str | None:
        """The job's private directory if it was made (``local_temp_dir``), else None."""
        return self._temp_dir

    def cleanup(self) -> None:
        """Empty the job's private directory if it was made, and keep it as this process's
        spare (or remove it, if it cannot be emptied or a spare is kept already)."""
        path, self._temp_dir = self._temp_dir, None
        if path is None:
            return
        if not _spares and _empty(path, self.kept_subdirs) and _keep_spare(path, self._temp_root):
            return
        shutil.rmtree(path, ignore_errors=True)

    # -- snake_case API for front ends ---------------------------------------------------
    def write_file(self, path: str, *, move: bool = False, basename: str | None = None) -> FileID:
        """Put a local file into the job store (hard link, or rename with ``move``). A file
        of the jobs' scratch directories is not kept as the stored file's source."""
        scratch = os.path.abspath(path).startswith(os.path.join(self._temp_root, ""))
        return self.store.import_local(path, move=move, basename=basename, keep_source=not scratch)

    def read_file(self, file_id: str, dest: str, *, symlink: bool = False) -> str:
        """Make ``file_id`` available at ``dest`` (hard link or symlink when possible)."""
        self.store.export_local(file_id, dest, symlink=symlink)
        return dest

    def local_path(self, file_id: str) -> str | None:
        """The stored file's own path when the store is local (read only!), else None."""
        return self.store.local_path(file_id)

    def import_url(self, url: str) -> FileID:
        """Fetch ``url`` (a local path, ``file://``, ``http(s)://``, ``ftp://``, ``s3://``)
        into the store once."""
        return import_url(self.store, url)

    def export_url(self, file_id: str, url: str) -> None:
        """Write a stored file to ``url`` (a local path, ``file://`` or ``s3://``)."""
        export_url(self.store, file_id, url)

    # -- Toil's names --------------------------------------------------------------------
    def writeGlobalFile(self, localFileName: str, cleanup: bool = False) -> FileID:  # noqa: N802, N803
        return self.write_file(os.path.abspath(localFileName))

    def readGlobalFile(  # noqa: N802
        self,
        fileStoreID: str,  # noqa: N803
        userPath: str | None = None,  # noqa: N803
        cache: bool = True,
        mutable: bool = False,
        symlink: bool = False,
    ) -> str:
        if userPath is None:
            dest = os.path.join(
                tempfile.mkdtemp(dir=self.local_temp_dir), FileID(fileStoreID).basename
            )
        else:
            dest = os.path.abspath(userPath)
        if os.path.exists(dest):
            os.unlink(dest)
        if mutable:
            with self.store.open_read(fileStoreID) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            self.store.export_local(fileStoreID, dest, symlink=symlink)
        return dest

    def deleteGlobalFile(self, fileStoreID: str) -> None:  # noqa: N802, N803
        self.store.delete_file(fileStoreID)

    def deleteLocalFile(self, fileStoreID: str) -> None:  # noqa: N802, N803
        pass  # nothing is cached locally beyond what the job itself created

    @contextmanager
    def writeGlobalFileStream(  # noqa: N802
        self,
        cleanup: bool = False,
        basename: str | None = None,
        encoding: str | None = None,
        errors: str | None = None,
    ) -> Iterator[tuple[IO[Any], FileID]]:
        file_id, stream = self.store.write_stream(basename or "stream")
        with stream:
            if encoding is not None:
                import io

                text = io.TextIOWrapper(stream, encoding=encoding, errors=errors)
                yield text, file_id
                text.flush()
                text.detach()
            else:
                yield stream, file_id
        file_id.size = self.store.file_size(file_id)

    @contextmanager
    def readGlobalFileStream(  # noqa: N802
        self,
        fileStoreID: str,  # noqa: N803
        encoding: str | None = None,
        errors: str | None = None,
    ) -> Iterator[IO[Any]]:
        with self.store.open_read(fileStoreID) as stream:
            if encoding is not None:
                import io

                yield io.TextIOWrapper(stream, encoding=encoding, errors=errors)
            else:
                yield stream

    def getGlobalFileSize(self, fileStoreID: str) -> int:  # noqa: N802, N803
        return self.store.file_size(fileStoreID)

    def importFile(self, srcUrl: str, sharedFileName: str | None = None) -> FileID:  # noqa: N802, N803
        return self.import_url(srcUrl)

    def exportFile(self, jobStoreFileID: str, dstUrl: str) -> None:  # noqa: N802, N803
        self.export_url(jobStoreFileID, dstUrl)

    import_file = importFile  # Toil has both spellings (tutorial_requirements uses this one)
    export_file = exportFile

    def getLocalTempDir(self) -> str:  # noqa: N802
        return tempfile.mkdtemp(dir=self.local_temp_dir)

    def getLocalTempFile(self, suffix: str | None = None, prefix: str | None = None) -> str:  # noqa: N802
        fd, path = tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=self.local_temp_dir)
        os.close(fd)
        return path

    def getLocalTempFileName(self, suffix: str | None = None, prefix: str | None = None) -> str:  # noqa: N802
        path = self.getLocalTempFile(suffix, prefix)
        os.unlink(path)
        return path

    def logToMaster(self, text: str, level: int = logging.INFO) -> None:  # noqa: N802
        """Log ``text`` in the job's log and on the leader's log."""
        self._log.log(level, text)
        self.messages.append((text, level))

    log_to_leader = logToMaster


def local_path(url: str) -> str | None:
    """The local path a URL or path names, or None for a remote URL."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file"):
        return urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else url
    return None


def import_url(store: JobStore, url: str) -> FileID:
    """Bring ``url`` into ``store``: a local file by hard link (no copy), a remote one
    (``s3://``, ``http(s)://``, ``ftp://``) by one download."""
    path = local_path(url)
    if path is not None:
        return store.import_local(os.path.abspath(path))
    basename = os.path.basename(urllib.parse.urlparse(url).path) or "download"
    file_id, stream = store.write_stream(basename)
    if urls.is_s3_url(url):
        with stream:
            urls.download(url, stream)
    else:
        with stream, urllib.request.urlopen(url) as response:
            shutil.copyfileobj(response, stream)
    return FileID(file_id, store.file_size(file_id))


def export_url(store: JobStore, file_id: str, url: str) -> None:
    """Write a stored file to a local path or ``file://`` URL (hard link when possible),
    or to an ``s3://BUCKET/KEY`` URL."""
    if urls.is_s3_url(url):
        with store.open_read(file_id) as source:
            urls.upload(source, url)
        return
    path = local_path(url)
    if path is None:
        raise ValueError(f"cannot export to {url!r}: only local paths, file:// and s3:// URLs")
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    store.export_local(file_id, path)


# -- recycled job directories ------------------------------------------------------------
# Making a directory allocates an inode, the slow part of file creation on some file systems
# (~0.5 ms each for mkdir on this project's test machine, where a rename costs 0.03 ms), and
# removing it costs again. A process runs one job after another, so it keeps the directory
# of its last job, emptied (except the empty subdirectories the front end makes for every
# job, such as CWL's ``out``), under a spare name, and the next job renames it to its own
# name. At most one spare per process, named ``moil-spare-HOST-PID-...`` so that whoever
# outlives the process can remove it (``remove_spares``).

SPARE_PREFIX = "moil-spare-"
_spares: list[str] = []  # this process's spare (at most one)
SPARE_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:40] or "host"


def _forget_spares() -> None:
    _spares.clear()  # a forked child must not take its parent's spare


os.register_at_fork(after_in_child=_forget_spares)


def _take_spare(root: str, prefix: str) -> str | None:
    """This process's spare, renamed for a new job, if it has one under ``root``."""
    while _spares:
        spare = _spares.pop()
        if os.path.dirname(spare) != root:
            shutil.rmtree(spare, ignore_errors=True)
            continue
        path = f"{root}/{prefix}{uuid.uuid4().hex[:8]}"
        try:
            os.rename(spare, path)
        except OSError:
            continue  # removed by someone's sweep, or a name clash: make a new one
        return path
    return None


def _empty(path: str, kept: frozenset[str]) -> bool:
    """Remove everything in ``path`` but empty ``kept`` subdirectories; whether it worked
    and ``path`` is still a private directory of ours."""
    try:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or stat.S_IMODE(info.st_mode) != 0o700:
            return False
        if info.st_uid != os.getuid():
            return False
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name in kept and _is_plain_empty_dir(entry.path):
                        continue
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
    except OSError:
        return False
    return True


def _is_plain_empty_dir(path: str) -> bool:
    with os.scandir(path) as entries:
        if next(entries, None) is not None:
            return False
    return stat.S_IMODE(os.lstat(path).st_mode) & 0o700 == 0o700


def _keep_spare(path: str, root: str) -> bool:
    spare = f"{root}/{SPARE_PREFIX}{SPARE_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, spare)
    except OSError:
        return False
    _spares.append(spare)
    return True


def remove_spares(root: str | None = None) -> None:
    """Remove this process's spare directory, and under ``root`` (if given) the spares of
    processes of this host that are gone (pool workers end by SIGKILL, keeping theirs)."""
    while _spares:
        shutil.rmtree(_spares.pop(), ignore_errors=True)
    if root is None:
        return
    mine = f"{SPARE_PREFIX}{SPARE_HOST}-"
    try:
        with os.scandir(root) as entries:
            names = [e.name for e in entries if e.name.startswith(mine)]
    except OSError:
        return
    for name in names:
        pid = name[len(mine) :].split("-", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
