"""Stored files of an ``aws:`` store, and this host's cache of them.

Each file is one object ``ROOT/files/UUID/BASENAME`` (its ID is ``UUID/BASENAME``) whose
metadata holds the sha1 of its bytes (``x-amz-meta-sha1``) and whether it is executable.
Files are written once and never changed.

Transfers: files below ``MULTIPART_THRESHOLD`` go up in one PutObject; larger ones through
boto3's managed transfer (s3transfer's TransferManager), which streams a file from disk in
``PART_SIZE`` parts, several in flight at once, and downloads in parallel ranged GETs into
the destination file: memory stays at a few parts per transfer whatever the file's size.
We use it rather than our own multipart code because it already handles part sizing (S3's
10,000-part limit), retries of single parts, and aborting a failed upload.

The per-host cache: every file read on this host is downloaded once into
``CACHE/files/UUID/BASENAME`` (CACHE: ``$MOIL_S3_CACHE`` or the temp dir, one directory per
store), its sha1 checked against the object's while it arrives, and a sidecar
``UUID.etag`` records the object's ETag with the cached file's size and mtime. A later read
costs no request: a stored file is never changed (its ID names one upload), so the cached
copy is used while its size and mtime are those recorded (a consumer that wrote into a
hard link of it makes it a miss, and it is downloaded again). A file
written on this host (``write_stream``, ``import_local(move=True)``) enters the cache as it
is uploaded, so the next job on the host reads it without a download. A file deleted on
another host stays readable from this host's copy (IDs are never reused, so it is still
that file's bytes); ``delete`` drops this host's copy, ``destroy`` of the store the whole
cache directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from typing import IO, Any

from backends.errors import NoSuchFileError, StoredFileDamagedError
from backends.jobstore.base import FileID, new_file_id
from backends.jobstore.filemeta import sha1_file
from backends.jobstore.localfs import AtomicWriter, copy_file, temp_name, unlink_missing_ok
from backends.jobstore.s3client import is_missing

MULTIPART_THRESHOLD = 64 << 20
PART_SIZE = 16 << 20
PARALLEL_PARTS = 8
_FILE_ID = re.compile(r"[0-9a-f]{32}/[^/\x00]+")


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=PART_SIZE,
        max_concurrency=PARALLEL_PARTS,
        use_threads=True,
    )


def valid_file_id(file_id: str) -> bool:
    return bool(_FILE_ID.fullmatch(file_id)) and file_id.rsplit("/", 1)[1] not in (".", "..")


class S3Files:
    """The files of one store: ``s3`` a boto3 client, keys under ``prefix`` (``ROOT/files/``),
    the cache under ``cache_dir``."""

    def __init__(self, s3: Any, bucket: str, prefix: str, cache_dir: str, locator: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.cache_dir = cache_dir
        self.locator = locator

    def key(self, file_id: str) -> str:
        return self.prefix + file_id

    def _cache_path(self, file_id: str) -> str:
        return os.path.join(self.cache_dir, "files", file_id)

    def _sidecar(self, file_id: str) -> str:
        return os.path.join(self.cache_dir, "files", file_id.split("/", 1)[0] + ".etag")

    # -- reading ---------------------------------------------------------------------------
    def head(self, file_id: str) -> dict[str, Any]:
        """The object's HEAD response. Raises NoSuchFileError."""
        if not valid_file_id(file_id):
            raise NoSuchFileError(f"no file {file_id!r} in {self.locator}")
        try:
            response: dict[str, Any] = self.s3.head_object(
                Bucket=self.bucket, Key=self.key(file_id)
            )
        except self.s3.exceptions.ClientError as exc:
            if is_missing(exc):
                raise NoSuchFileError(f"no file {file_id!r} in {self.locator}") from None
            raise
        return response

    def exists(self, file_id: str) -> bool:
        try:
            self.head(file_id)
        except NoSuchFileError:
            return False
        return True

    def digest(self, file_id: str) -> str | None:
        value = self.head(file_id).get("Metadata", {}).get("sha1")
        return str(value) if value else None

    def _cached(self, file_id: str) -> str | None:
        """The cached copy, if it is still the one the sidecar recorded (same size and
        mtime: a consumer that wrote into a hard link of it makes it a miss)."""
        path = self._cache_path(file_id)
        try:
            with open(self._sidecar(file_id)) as stream:
                recorded = stream.read().split()
            info = os.stat(path)
        except (OSError, ValueError):
            return None
        if recorded[1:] == [str(info.st_size), str(info.st_mtime_ns)]:
            return path
        return None

    def _remember(self, file_id: str, etag: str) -> None:
        info = os.stat(self._cache_path(file_id))
        sidecar = self._sidecar(file_id)
        temp = temp_name(sidecar)
        with open(temp, "x") as stream:
            stream.write(f"{etag} {info.st_size} {info.st_mtime_ns}\n")
        os.replace(temp, sidecar)

    def local_path(self, file_id: str) -> str:
        """The cached copy of the file, downloaded (and checked) if it is not here yet.
        A copy in the cache costs no request: a stored file never changes (its ID names
        one upload), so the copy checked when it arrived is still its bytes. Raises
        NoSuchFileError, StoredFileDamagedError."""
        if valid_file_id(file_id):
            cached = self._cached(file_id)
            if cached is not None:
                return cached
        head = self.head(file_id)
        etag = str(head["ETag"])
        path = self._cache_path(file_id)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        temp = temp_name(path)
        try:
            self._download(file_id, head, temp)
            os.replace(temp, path)
        finally:
            unlink_missing_ok(temp)
        self._remember(file_id, etag)
        return path

    def _download(self, file_id: str, head: dict[str, Any], temp: str) -> None:
        meta = head.get("Metadata", {})
        mode = 0o700 if meta.get("executable") == "1" else 0o600
        size = int(head["ContentLength"])
        key = self.key(file_id)
        if size >= MULTIPART_THRESHOLD:
            self.s3.download_file(self.bucket, key, temp, Config=_transfer_config())
            os.chmod(temp, mode)
            got = sha1_file(temp)
        else:
            digest = hashlib.sha1()
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as out:
                body = self.s3.get_object(Bucket=self.bucket, Key=key)
                for block in body["Body"].iter_chunks(1 << 20):
                    digest.update(block)
                    out.write(block)
            got = f"sha1${digest.hexdigest()}"
        want = meta.get("sha1")
        held = os.path.getsize(temp)
        if (want and got != want) or held != size:
            raise StoredFileDamagedError(
                f"the stored file {file_id} in {self.locator} is damaged: its bytes "
                f"({held} bytes, {got}) are not those stored ({size} bytes, {want}); rerun "
                "the workflow in a new job store",
                file_id,
            )

    def open_read(self, file_id: str) -> IO[bytes]:
        return open(self.local_path(file_id), "rb")

    def export(self, file_id: str, dest: str, symlink: bool) -> None:
        """A symlink to the cached copy if asked, else a copy of it (a copy-on-write clone
        where the file system makes one): the cached copy must stay as it is."""
        source = self.local_path(file_id)
        if symlink:
            os.symlink(source, dest)
        else:
            copy_file(source, dest)

    # -- writing ---------------------------------------------------------------------------
    def _upload(self, file_id: str, path: str, digest: str, executable: bool) -> str:
        """Upload ``path`` as ``file_id``; returns the new object's ETag."""
        meta = {"sha1": digest, "executable": "1" if executable else "0"}
        key = self.key(file_id)
        if os.path.getsize(path) < MULTIPART_THRESHOLD:
            with open(path, "rb") as body:
                response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=meta)
            return str(response["ETag"])
        self.s3.upload_file(
            path, self.bucket, key, ExtraArgs={"Metadata": meta}, Config=_transfer_config()
        )
        return str(self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"])

    def import_local(
        self, path: str, move: bool, basename: str | None, digest: str | None
    ) -> FileID:
        info = os.stat(path)
        executable = bool(info.st_mode & 0o111)
        file_id = new_file_id(basename or os.path.basename(path))
        digest = digest or sha1_file(path)
        etag = self._upload(file_id, path, digest, executable)
        if move:
            self._adopt(file_id, path, etag)
        return FileID(file_id, info.st_size, executable)

    def _adopt(self, file_id: str, path: str, etag: str) -> None:
        """Move a file just uploaded into the cache (or drop it if it cannot move there)."""
        target = self._cache_path(file_id)
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError:  # another file system: the upload was the copy that mattered
            unlink_missing_ok(path)
            return
        self._remember(file_id, etag)

    def write_stream(self, basename: str) -> tuple[FileID, IO[bytes]]:
        file_id = FileID(new_file_id(basename))
        target = self._cache_path(file_id)
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        return file_id, AtomicWriter(target, self._publisher(file_id), fsync=False)

    def _publisher(self, file_id: FileID) -> Callable[[int, str], None]:
        def publish(size: int, digest: str) -> None:
            try:
                etag = self._upload(file_id, self._cache_path(file_id), digest, False)
            except BaseException:
                unlink_missing_ok(self._cache_path(file_id))
                raise
            self._remember(file_id, etag)
            file_id.size = size

        return publish

    def delete(self, file_id: str) -> None:
        if not valid_file_id(file_id):
            return
        self.s3.delete_object(Bucket=self.bucket, Key=self.key(file_id))
        self.forget(file_id)

    def forget(self, file_id: str) -> None:
        unlink_missing_ok(self._sidecar(file_id))
        shutil.rmtree(os.path.dirname(self._cache_path(file_id)), ignore_errors=True)
