"""The ``files/`` area of a ``file:`` store: stored files and their checksums.

A mixin of FileJobStore (see its module docstring for the layout and the sharing rules, and
``backends.jobstore.filemeta`` for the checksums). Every file enters by hard link, rename or
(across file systems) copy, and is hashed once as it enters unless the caller hands over
the digest it has just computed; every read checks it cheaply.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import partial
from typing import IO

from backends.errors import NoSuchFileError
from backends.jobstore import filemeta
from backends.jobstore.base import FileID, new_file_id
from backends.jobstore.localfs import (
    AtomicWriter,
    link_or_copy,
    move_file,
    rmdir_quietly,
    unlink_missing_ok,
)

_FILE_ID = re.compile(r"([0-9a-f]{32})/([^/\x00]+)")
_UUID = re.compile(r"[0-9a-f]{32}")
#: the name a file has while it is written (``localfs.temp_name``)
_WRITING = re.compile(r"\.tmp-[0-9]+-[0-9]+$")


class StoredFiles:
    """The file methods of the JobStore contract for a store in ``self.root``."""

    root: str
    locator: str
    fsync: bool
    _records: filemeta.Records

    def _make_parents(self, path: str) -> None:
        raise NotImplementedError

    def _file_path(self, file_id: str) -> str:
        match = _FILE_ID.fullmatch(file_id)
        if match is None or match.group(2) in (".", ".."):
            raise NoSuchFileError(f"{file_id!r} is not a file ID of a file: job store")
        return f"{self.root}/files/{file_id}"

    # -- files (checksums: backends.jobstore.filemeta) -------------------------------------
    def _new_file_path(self, basename: str) -> tuple[str, str]:
        """A fresh file ID and its path, with its directory created."""
        file_id = new_file_id(basename)
        path = self._file_path(file_id)
        self._make_parents(path)
        return file_id, path

    def import_local(
        self,
        path: str,
        *,
        move: bool = False,
        basename: str | None = None,
        digest: str | None = None,
        keep_source: bool = True,
    ) -> FileID:
        file_id, dest = self._new_file_path(basename or os.path.basename(path))
        try:
            if move and not os.path.islink(path):
                copied = move_file(path, dest, fsync=self.fsync)
            else:
                copied = not link_or_copy(path, dest, fsync=self.fsync, private=True)
                if move:
                    os.unlink(path)
            info = os.stat(dest)
            source = os.path.abspath(path) if keep_source and not move else None
            record = filemeta.Record.of(
                info, digest or filemeta.sha1_file(dest), source, private=copied
            )
            self._records.write(dest, record)
        except BaseException:
            if not os.path.lexists(dest):
                rmdir_quietly(os.path.dirname(dest))
            raise
        return FileID(file_id, info.st_size, bool(info.st_mode & 0o111))

    def _checked(self, file_id: str) -> tuple[str, os.stat_result]:
        """The path of a stored file found intact, and its stat. Raises NoSuchFileError,
        StoredFileDamagedError."""
        path = self._file_path(file_id)
        try:
            return path, filemeta.check(self._records, path, file_id)
        except FileNotFoundError:
            raise NoSuchFileError(f"no file {file_id!r} in {self.locator}") from None

    def export_local(self, file_id: str, dest: str, *, symlink: bool = False) -> None:
        src, info = self._checked(file_id)
        if not info.st_mode & 0o077:  # private: made by the store, or by its maker
            record = self._records.read(src)
            if record is not None and record.private:
                os.chmod(src, filemeta.exported_mode(info))  # it leaves the store now
        if symlink:
            os.symlink(src, dest)
        else:
            link_or_copy(src, dest)

    def local_path(self, file_id: str) -> str:
        """The stored file itself: read it, link it, never write to it."""
        return self._checked(file_id)[0]

    def open_read(self, file_id: str) -> IO[bytes]:
        path, _ = self._checked(file_id)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NoSuchFileError(f"no file {file_id!r} in {self.locator}") from None

    def write_stream(self, basename: str) -> tuple[FileID, IO[bytes]]:
        file_id, path = self._new_file_path(basename)
        fid = FileID(file_id)
        return fid, AtomicWriter(path, partial(self._published, fid, path), fsync=self.fsync)

    def _published(self, file_id: FileID, path: str, size: int, digest: str) -> None:
        file_id.size = size
        self._records.write(path, filemeta.Record.of(os.stat(path), digest, private=True))

    def file_digest(self, file_id: str) -> str | None:
        path = self._file_path(file_id)
        record = self._records.read(path) if os.path.exists(path) else None
        if record is None and not os.path.exists(path):
            raise NoSuchFileError(f"no file {file_id!r} in {self.locator}")
        return None if record is None else record.digest

    def file_updated(self, file_id: str) -> None:
        path = self._file_path(file_id)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise NoSuchFileError(f"no file {file_id!r} in {self.locator}") from None
        old = self._records.read(path)
        if old is not None and old.matches(info):
            return  # not changed after all
        record = filemeta.Record.of(
            info, filemeta.sha1_file(path), None, old is not None and old.private
        )
        self._records.write(path, record)
        filemeta.forget(path)

    def file_exists(self, file_id: str) -> bool:
        try:
            return os.path.exists(self._file_path(file_id))
        except NoSuchFileError:
            return False

    def file_size(self, file_id: str) -> int:
        try:
            return os.stat(self._file_path(file_id)).st_size
        except FileNotFoundError:
            raise NoSuchFileError(f"no file {file_id!r} in {self.locator}") from None

    def list_files(self) -> Iterator[str]:
        """files/UUID/BASENAME, without the temporary names of files being written."""
        try:
            uuids = [
                e.name
                for e in os.scandir(f"{self.root}/files")
                if _UUID.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
            ]
        except FileNotFoundError:
            return
        for name in uuids:
            try:
                entries = list(os.scandir(f"{self.root}/files/{name}"))
            except FileNotFoundError:
                continue  # deleted meanwhile
            for entry in entries:
                if not _WRITING.search(entry.name) and entry.is_file(follow_symlinks=False):
                    yield f"{name}/{entry.name}"

    def delete_file(self, file_id: str) -> None:
        try:
            path = self._file_path(file_id)
        except NoSuchFileError:
            return
        unlink_missing_ok(path)
        filemeta.forget(path)
        self._records.delete(path)
        rmdir_quietly(os.path.dirname(path))
