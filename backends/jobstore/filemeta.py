"""Checksums of the files in a ``file:`` store, and their check on read.

Each stored file ``files/UUID/NAME`` has a *record*: the sha1 of its bytes (``sha1$HEX``
outside, CWL's ``checksum`` form), the size, modification time and inode it had when it was
hashed, and whether the store made the file itself (a stream or a copy: then it is private,
0600, until it is exported); and, for a file linked or copied in from a user's file, that
file's path (its *source*). The record is an extended attribute of the file's own directory
(``user.moil``, 45 bytes: small enough to live in the directory's inode, so it costs no disk
block), the source another one (``user.moil.src``, which does); no file is created for
them, and the stored file itself, which may be the very inode of a user's input (a hard
link), is never touched. Where the file system has no user xattrs, both are the file
``files/UUID.sum``.

The check on read: a file whose size, mtime and inode are those it had when it was hashed
is intact (rsync's and git's quick check: a write changes the mtime, a truncation the size,
a replacement the inode); one that differs is hashed again, and other bytes than those
recorded are damage. A damaged file whose source still holds the recorded bytes is put
back from there; otherwise StoredFileDamagedError. Each process remembers the files it found
intact (by path, size, mtime and inode): a file is looked at once per process, and a
2 GiB file passed through three steps is hashed once, when it enters the store.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import struct
from dataclasses import dataclass

from backends.errors import StoredFileDamagedError
from backends.jobstore.localfs import (
    O_CLOEXEC,
    link_or_copy,
    read_all,
    temp_name,
    unlink_missing_ok,
    write_atomic,
)

log = logging.getLogger(__name__)

XATTR = "user.moil"
SOURCE_XATTR = "user.moil.src"
SIDECAR = ".sum"
#: flags, sha1, size, mtime_ns, inode
_CORE = struct.Struct("<B20sQqQ")
_PRIVATE, _HAS_SOURCE = 1, 2
#: errors of setxattr/getxattr that mean "no user xattrs here (for this record)"
_NO_XATTR = frozenset(
    {errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.E2BIG, errno.ENOSPC, errno.ERANGE}
)
_TOO_BIG = frozenset({errno.E2BIG, errno.ENOSPC, errno.ERANGE})
_CACHE_LIMIT = 100_000
#: path -> (size, mtime_ns, inode) of the stored files this process found intact
_intact: dict[str, tuple[int, int, int]] = {}


def sha1_file(path: str) -> str:
    """``sha1$HEX`` of a local file's bytes."""
    with open(path, "rb", buffering=0) as stream:
        digest = hashlib.file_digest(stream, "sha1")
    return f"sha1${digest.hexdigest()}"


@dataclass(frozen=True)
class Record:
    """What a stored file was when it entered the store (see the module docstring).
    ``source`` is only known to the writer; a reader asks ``Records.source``."""

    digest: str
    size: int
    mtime_ns: int
    ino: int
    private: bool = False
    has_source: bool = False
    source: str | None = None

    @classmethod
    def of(
        cls, info: os.stat_result, digest: str, source: str | None = None, private: bool = False
    ) -> Record:
        return cls(
            digest, info.st_size, info.st_mtime_ns, info.st_ino, private, source is not None, source
        )

    def matches(self, info: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.ino) == (info.st_size, info.st_mtime_ns, info.st_ino)

    def encode(self) -> bytes:
        """The 45 bytes of the record, without the source."""
        flags = (_PRIVATE if self.private else 0) | (_HAS_SOURCE if self.has_source else 0)
        raw = bytes.fromhex(self.digest.removeprefix("sha1$"))
        return _CORE.pack(flags, raw, self.size, self.mtime_ns, self.ino)

    @classmethod
    def decode(cls, data: bytes) -> Record | None:
        """The record of ``encode`` (more bytes after it are ignored); None if damaged."""
        if len(data) < _CORE.size:
            return None  # a damaged record: the file cannot be checked
        flags, raw, size, mtime_ns, ino = _CORE.unpack_from(data)
        return cls(
            f"sha1${raw.hex()}",
            size,
            mtime_ns,
            ino,
            bool(flags & _PRIVATE),
            bool(flags & _HAS_SOURCE),
        )


class Records:
    """The records of one store's files. ``xattrs``: whether this file system takes them
    (None until the first try)."""

    def __init__(self, *, fsync: bool) -> None:
        self.fsync = fsync
        self.xattrs: bool | None = None

    def write(self, path: str, record: Record) -> None:
        """Record ``record`` (and its source, if any) for the stored file at ``path``."""
        directory = os.path.dirname(path)
        core = record.encode()
        source = os.fsencode(record.source) if record.source is not None else b""
        if self.xattrs is not False:
            try:
                if source:
                    os.setxattr(directory, SOURCE_XATTR, source)
                os.setxattr(directory, XATTR, core)
                self.xattrs = True
                return
            except OSError as exc:
                if exc.errno not in _NO_XATTR:
                    raise
                if exc.errno not in _TOO_BIG:  # else only this record goes to the side
                    self.xattrs = False
        write_atomic(directory + SIDECAR, core + source, fsync=self.fsync)

    def read(self, path: str) -> Record | None:
        """The record of the stored file at ``path``; None if it has none."""
        data, _ = self._read(path, XATTR)
        return None if data is None else Record.decode(data)

    def source(self, path: str) -> str | None:
        """Where the stored file at ``path`` came from, if that was recorded."""
        data, in_sidecar = self._read(path, SOURCE_XATTR)
        if data is not None and in_sidecar:
            data = data[_CORE.size :]
        return os.fsdecode(data) if data else None

    def _read(self, path: str, name: str) -> tuple[bytes | None, bool]:
        """The xattr ``name`` of the file's directory, else the sidecar (then True)."""
        directory = os.path.dirname(path)
        if self.xattrs is not False:
            try:
                return os.getxattr(directory, name), False
            except OSError as exc:
                if exc.errno in _NO_XATTR:
                    self.xattrs = False
                elif exc.errno != errno.ENODATA:
                    raise
        try:
            return read_all(directory + SIDECAR), True
        except FileNotFoundError:
            return None, False

    @staticmethod
    def delete(path: str) -> None:
        unlink_missing_ok(os.path.dirname(path) + SIDECAR)


def check(records: Records, path: str, file_id: str) -> os.stat_result:
    """Check the stored file at ``path`` (see the module docstring); its stat. Raises
    FileNotFoundError, StoredFileDamagedError."""
    info = os.stat(path)
    key = (info.st_size, info.st_mtime_ns, info.st_ino)
    if _intact.get(path) == key:
        return info
    record = records.read(path)
    if (
        record is not None
        and not record.matches(info)
        and (info.st_size != record.size or sha1_file(path) != record.digest)
    ):
        info = _repair(records, path, file_id, record, info)
    if len(_intact) >= _CACHE_LIMIT:
        _intact.clear()
    _intact[path] = (info.st_size, info.st_mtime_ns, info.st_ino)
    return info


def forget(path: str) -> None:
    """Drop what this process knows of a stored file (it is being replaced or deleted)."""
    _intact.pop(path, None)


def _repair(
    records: Records, path: str, file_id: str, record: Record, info: os.stat_result
) -> os.stat_result:
    """Put the recorded bytes back from the file's source, or raise StoredFileDamagedError."""
    source = records.source(path) if record.has_source else None
    if source and _holds(source, record):
        temp = temp_name(path)
        link_or_copy(source, temp, private=True)
        os.replace(temp, path)
        fresh = os.stat(path)
        records.write(path, Record.of(fresh, record.digest, source, record.private))
        log.warning("the stored file %s was damaged; put it back from %s", file_id, source)
        return fresh
    name = file_id.rsplit("/", 1)[-1]
    if info.st_size != record.size:
        what = f"it holds {info.st_size} bytes where {record.size} were stored"
    else:
        what = f"its bytes changed since it was stored (its sha1 was {record.digest[5:]})"
    if source and os.path.exists(source):
        todo = f"put the bytes back in {source}, which it came from, and retry"
    else:
        todo = "it cannot be re-created from a source: rerun the workflow in a new job store"
    raise StoredFileDamagedError(
        f"the stored file {name} ({path}) is damaged: {what}; {todo}", file_id
    )


def _holds(source: str, record: Record) -> bool:
    """Whether ``source`` holds the recorded bytes."""
    try:
        fd = os.open(source, os.O_RDONLY | O_CLOEXEC)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_size != record.size:
            return False
    finally:
        os.close(fd)
    try:
        return sha1_file(source) == record.digest
    except OSError:
        return False


def exported_mode(info: os.stat_result) -> int:
    """The mode a private stored file gets when it leaves the store: what a new file gets
    under this process's umask, executable if the stored file is. (Reading the umask means
    setting it: only private files, which few are, pay the two calls.)"""
    umask = os.umask(0o077)
    os.umask(umask)
    mode = 0o777 if info.st_mode & 0o100 else 0o666
    return mode & ~umask
