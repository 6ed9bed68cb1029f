"""Small file system helpers for stores that keep their state in local files.

Each helper costs as few system calls as it can: they sit on the per-job hot path. Files
they create for a store are private to its owner (0600, 0700 if executable): a store holds
a run's inputs and logs. The umask can only take bits away from that.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import itertools
import os
import stat
from collections.abc import Callable
from types import TracebackType

_COUNTER = itertools.count()
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: Errors that mean "a hard link cannot be made here", after which a copy is the way.
LINK_FAILURES = frozenset(
    {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
)
_CHUNK = 1 << 30


def temp_name(path: str) -> str:
    """A name next to ``path`` that no other process or thread picks at the same time."""
    return f"{path}.tmp-{os.getpid()}-{next(_COUNTER)}"


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``; the first ``os.write`` normally takes it all in one call."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_all(path: str) -> bytes:
    """The whole content of ``path`` (FileNotFoundError if it is missing), in one read
    sized by fstat plus the read that confirms the end."""
    fd = os.open(path, os.O_RDONLY | O_CLOEXEC)
    try:
        chunks = [os.read(fd, os.fstat(fd).st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 20))
        return chunks[0] if len(chunks) == 2 else b"".join(chunks)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Make a rename or creation inside directory ``path`` survive a power loss."""
    fd = os.open(path, os.O_RDONLY | O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: str, data: bytes, *, fsync: bool = False, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` in place (create or truncate; fail if ``exclusive`` and it
    exists). Not atomic: a reader may see part of it."""
    flags = os.O_WRONLY | os.O_CREAT | O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers see the old content or all of the new.

    FileNotFoundError if the directory is missing (callers create it lazily and retry).
    """
    temp = temp_name(path)
    try:
        write_new(temp, data, fsync=fsync, exclusive=True)
        os.replace(temp, path)
    except BaseException:
        _unlink_quietly(temp)
        raise
    if fsync:
        fsync_dir(os.path.dirname(path))


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def unlink_missing_ok(path: str) -> None:
    """Remove ``path``; a missing file is not an error."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _copy_fd(src: int, dst: int) -> None:
    """Copy all bytes from ``src`` to ``dst`` in the kernel (a reflink where the file
    system can), falling back to plain reads and writes."""
    try:
        while os.copy_file_range(src, dst, _CHUNK):
            pass
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while True:
        block = os.read(src, 1 << 20)
        if not block:
            return
        write_all(dst, block)


def copy_file(src: str, dest: str, *, fsync: bool = False, private: bool = False) -> os.stat_result:
    """Copy ``src`` to a new file ``dest`` (FileExistsError if it exists), keeping the
    executable bits; ``private``: readable by the owner only (a copy into a store). Returns
    the stat of the copy."""
    src_fd = os.open(src, os.O_RDONLY | O_CLOEXEC)
    try:
        mode = stat.S_IMODE(os.fstat(src_fd).st_mode)
        dest_mode = 0o777 if mode & 0o111 else 0o666  # the umask trims it as for any new file
        if private:
            dest_mode &= 0o700
        dest_fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_CLOEXEC, dest_mode)
        try:
            _copy_fd(src_fd, dest_fd)
            if fsync:
                os.fsync(dest_fd)
            return os.fstat(dest_fd)
        except BaseException:
            _unlink_quietly(dest)
            raise
        finally:
            os.close(dest_fd)
    finally:
        os.close(src_fd)


def link_or_copy(src: str, dest: str, *, fsync: bool = False, private: bool = False) -> bool:
    """Make ``dest`` a hard link to ``src``, or a copy (``private``: see ``copy_file``) if
    the file system cannot link them. Returns True for a link. FileExistsError if ``dest``
    exists."""
    try:
        os.link(src, dest)
        return True
    except OSError as exc:
        if exc.errno not in LINK_FAILURES:
            raise
    copy_file(src, dest, fsync=fsync, private=private)
    return False


def rmdir_quietly(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass  # already gone, or a writer's temp file is still in it


def is_linked_as(fd: int, path: str) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_ino, held.st_dev) == (now.st_ino, now.st_dev)


def is_flocked(path: str) -> bool:
    """Whether a process holds flock(LOCK_EX) on ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY | O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        # LOCK_SH so that two probes at once do not see each other as a running worker.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def move_file(src: str, dest: str, *, fsync: bool) -> bool:
    """Rename ``src`` to ``dest``; across file systems, copy (private) then remove the
    original. Returns True for a copy."""
    try:
        os.rename(src, dest)
        return False
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_file(src, dest, fsync=fsync, private=True)
        os.unlink(src)
        return True


def ignore_missing(
    function: object, path: str, exc_info: tuple[type, BaseException, object]
) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags | O_CLOEXEC, 0o600)


class AtomicWriter(io.BufferedWriter):
    """Writes a new private file under a temporary name, hashing what it writes; ``close``
    publishes it by rename and calls ``on_publish(size, "sha1$HEX")``. Leaving a ``with``
    block by an exception discards the file."""

    def __init__(self, path: str, on_publish: Callable[[int, str], None], *, fsync: bool) -> None:
        self._final = path
        self._temp = temp_name(path)
        self._on_publish = on_publish
        self._fsync = fsync
        self._hash = hashlib.sha1()
        self._hashed = 0  # bytes hashed as they were written, in order
        self._in_order = True
        super().__init__(io.FileIO(self._temp, "xb", opener=_private_opener))

    def write(self, data: bytes) -> int:  # type: ignore[override]  # any buffer, as io's
        self._hash.update(data)
        self._hashed += memoryview(data).nbytes
        return super().write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self._in_order = False  # what is hashed may not be what the file holds: rehash
        return super().seek(offset, whence)

    def _digest(self, size: int) -> str:
        if self._in_order and size == self._hashed:
            return f"sha1${self._hash.hexdigest()}"
        digest = hashlib.sha1()
        with open(self._temp, "rb") as stream:  # written around write(): read it back
            while block := stream.read(1 << 20):
                digest.update(block)
        return f"sha1${digest.hexdigest()}"

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
            if self._fsync:
                os.fsync(self.fileno())
            size = self.tell()
        except BaseException:
            self._discard()
            raise
        super().close()
        digest = self._digest(size)
        os.replace(self._temp, self._final)
        self._on_publish(size, digest)

    def _discard(self) -> None:
        try:
            super().close()
        except OSError:
            pass
        unlink_missing_ok(self._temp)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._discard()
        else:
            self.close()
