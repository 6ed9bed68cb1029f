"""The ``aws:`` job store: a whole run in S3 (or an S3-compatible server).

Locator ``aws:REGION:BUCKET[/PREFIX]``; endpoint and credentials as in
``backends.jobstore.s3client``. The bucket must exist; the store is the keys under
``PREFIX/`` (ROOT below), so many stores can share a bucket. Layout::

    ROOT/moil-job-store.json          marker: format and creation token
    ROOT/lease                        the leader's lease object (backends.jobstore.s3lease)
    ROOT/shared/NAME                  small named blobs (config, stats, flags): one PUT each
    ROOT/journal/GEN/SEQ              one journal frame per append (framing: .journal)
    ROOT/in/ID                        a job's input, written by the leader, with an attempt
                                      token in its metadata (x-amz-meta-attempt)
    ROOT/out/ID/ATTEMPT               a result written alone (``write_job_result``)
    ROOT/logs/ID/ATTEMPT              the log of that attempt; the worker's ``finish_job``
                                      puts the result at its head (its length in
                                      x-amz-meta-result): one PUT and one GET per job
    ROOT/running/ID                   a worker's mark that it runs the job, once it has
                                      run a second (backends.jobstore.s3lease.RunningMark)
    ROOT/files/UUID/BASENAME          a stored file (backends.jobstore.s3files)

Names (job IDs, shared names) are percent-encoded into one key segment. Nothing a restart
needs lives on the leader's disk: a leader on another host resumes from S3 alone.

Atomicity comes from S3 itself: a PUT is all or nothing and S3 reads are strongly
consistent. The journal is a sequence of objects (one per ``append_records`` batch,
``SEQ`` counting up in generation ``GEN``); ``replace_records`` writes generation GEN+1 as
one object and then deletes the older ones, and readers use the highest generation. One
result per attempt: each ``write_job_input`` gives the job a fresh attempt token, a worker
writes its result under the token of the input it read, and the leader reads only the
result of the attempt it issued, so a straggler of an earlier attempt can never be taken
for the current one.

Conditional writes (``If-None-Match: *``) make store creation and the lease atomic on S3;
on a server that ignores them (s3rver), creation and the lease read their object back and
compare a random token (see ``s3lease``): a lost race is detected, not prevented.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from io import BytesIO
from typing import IO, Any, ParamSpec, TypeVar

from backends.errors import (
    JobStoreError,
    JobStoreExistsError,
    NoSuchFileError,
    NoSuchJobStoreError,
)
from backends.jobstore import journal
from backends.jobstore.base import FileID, JobStore
from backends.jobstore.lease import Lease, LeaseHolder
from backends.jobstore.s3client import (
    client,
    is_missing,
    is_precondition_failed,
    parse_location,
    raise_store_error,
)
from backends.jobstore.s3files import S3Files
from backends.jobstore.s3lease import LeaseObject, RunningMark, is_running

log = logging.getLogger(__name__)

MARKER = "moil-job-store.json"
FORMAT_VERSION = 1
_LAYOUT = (MARKER, "lease", "shared/", "journal/", "in/", "out/", "logs/", "running/", "files/")
_NO_ATTEMPT = "none"  # a result written for a job that had no input
_DELETE_BATCH = 1000  # S3's limit for one DeleteObjects
_CLEAN_ROUND = 50_000  # keys of one area listed before they are deleted (memory stays small)
_PARALLEL = 16
_BODY_ATTEMPTS = 6
_PIECE = 179
_LOG_WITH_RESULT = 4 << 20  # a longer log is uploaded on its own

P = ParamSpec("P")
R = TypeVar("R")


def _s3_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Turn botocore's failures into the job store's errors (one line, what to do)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(*args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            store = args[0]
            assert isinstance(store, S3JobStore)
            raise_store_error(exc, store.s3, store.bucket)

    return wrapper


def _encode(name: str) -> str:
    """A job ID or shared name as key segments: percent-encoded, in pieces of at most 180
    characters (s3rver keeps an object as a file: its name must fit in 255 bytes), each
    piece but the last ending in ``%`` (which an encoded name never ends in), so that no
    key is both an object and a "directory" of others (as s3rver would need)."""
    if not name:
        raise ValueError("a job ID or shared name must not be empty")
    encoded = urllib.parse.quote(name, safe="")
    if len(encoded) <= _PIECE + 1:
        return encoded
    pieces = [encoded[i : i + _PIECE] for i in range(0, len(encoded), _PIECE)]
    return "/".join([*(piece + "%" for piece in pieces[:-1]), pieces[-1]])


def _decode(segments: Sequence[str]) -> str:
    """The name that ``_encode`` made these key segments of."""
    return urllib.parse.unquote("".join([*(s[:-1] for s in segments[:-1]), segments[-1]]))


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class S3JobStore(JobStore):
    """A job store in an S3 bucket (see the module docstring)."""

    kind = "aws"
    flag_poll_seconds = 2.0  # a HEAD each: at 0.5 s, 0.4 requests per job of a fast scatter
    clear_together = 300  # one DeleteObjects (1000 keys) for 300 jobs

    @classmethod
    def parse_location(cls, locator: str, rest: str) -> str:
        """``REGION:BUCKET[/PREFIX]``, checked and made canonical (no I/O)."""
        return parse_location(locator, rest).render().removeprefix("aws:")

    def __init__(self, locator: str, location: str) -> None:
        where = parse_location(locator, location)
        super().__init__(where.render(), where.render().removeprefix("aws:"))
        self.region = where.region
        self.bucket = where.bucket
        self.root = where.prefix
        self._client: Any = None
        self._pid = 0
        self._files: S3Files | None = None
        self._journal_at: tuple[int, int] | None = None  # (generation, next sequence)
        self._attempts: dict[str, str] = {}  # job ID -> attempt of the input written/read
        self._result_keys: dict[str, list[str]] = {}  # found by list_job_results
        self._logs: dict[str, bytes] = {}  # job ID -> log read with its result, until cleared

    def __repr__(self) -> str:
        return f"S3JobStore({self.locator!r})"

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def s3(self) -> Any:
        """This process's client (a store object inherited through fork gets a new one)."""
        if self._client is None or self._pid != os.getpid():
            self._client = client(self.region)
            self._pid = os.getpid()
            self._files = None
        return self._client

    @property
    def files(self) -> S3Files:
        s3 = self.s3  # first: a fork drops the files' client too
        if self._files is None:
            self._files = S3Files(
                s3, self.bucket, self.root + "files/", self.cache_dir, self.locator
            )
        return self._files

    @property
    def cache_dir(self) -> str:
        """This host's directory for the store's cached files and log targets."""
        base = os.environ.get("MOIL_S3_CACHE") or tempfile.gettempdir()
        place = f"{self.s3.meta.endpoint_url} {self.bucket} {self.root}".encode()
        name = hashlib.sha256(place).hexdigest()[:20]
        return os.path.join(base, f"moil-s3-cache-{os.getuid()}", name)

    def _get_object(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        """The object's bytes and metadata, or None if it is missing. Every object we write
        carries the sha1 of its body (``_put``); a body that does not match it, or that is
        cut off on the way, is asked for again a few times before that is an error:
        botocore retries requests, not the reading of their bodies, and a server whose
        PUT replaces an object in place (s3rver) lets a reader see it half-written."""
        from botocore.exceptions import ResponseStreamingError

        for attempt in range(_BODY_ATTEMPTS):
            try:
                response = self.s3.get_object(Bucket=self.bucket, Key=key)
            except self.s3.exceptions.ClientError as exc:
                if is_missing(exc):
                    return None
                raise
            meta: dict[str, str] = response.get("Metadata", {})
            try:
                data: bytes = response["Body"].read()
            except ResponseStreamingError:
                data, meta = b"", {"sha1": "cut off"}
            if meta.get("sha1", _sha1(data)) == _sha1(data):
                return data, meta
            time.sleep(0.02 * 2**attempt)
        raise JobStoreError(
            f"the object s3://{self.bucket}/{key} of the job store {self.locator} does not "
            f"match its checksum ({_BODY_ATTEMPTS} reads): it is damaged; rerun in a new store"
        )

    def _get(self, key: str) -> bytes | None:
        found = self._get_object(key)
        return None if found is None else found[0]

    def _put(self, key: str, data: bytes, meta: dict[str, str] | None = None, **extra: Any) -> str:
        """PUT ``data`` with its sha1 in the metadata (checked by ``_get_object``)."""
        response = self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            Metadata={**(meta or {}), "sha1": _sha1(data)},
            **extra,
        )
        return str(response["ETag"])

    def _list(self, prefix: str) -> Iterator[str]:
        """Every key under ROOT/``prefix``, in key order (one request per 1000 keys)."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.root + prefix
        )
        for page in pages:
            for item in page.get("Contents", ()):
                yield str(item["Key"])

    def _delete_keys(self, keys: Sequence[str]) -> None:
        """Delete keys in batches of 1000, several batches at once. The keys a
        DeleteObjects answers with an error (S3 may: InternalError, SlowDown) are asked for
        again a few times, then that is a JobStoreError."""
        batches = [keys[i : i + _DELETE_BATCH] for i in range(0, len(keys), _DELETE_BATCH)]

        def delete(batch: Sequence[str]) -> None:
            for attempt in range(_BODY_ATTEMPTS):
                response = self.s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
                errors = [e for e in response.get("Errors", ()) if e.get("Code") != "NoSuchKey"]
                if not errors:
                    return
                batch = [str(e["Key"]) for e in errors]
                time.sleep(0.1 * 2**attempt)
            raise JobStoreError(
                f"S3 at {self.s3.meta.endpoint_url} did not delete {len(batch)} objects of the "
                f"job store {self.locator} (s3://{self.bucket}/{batch[0]}: "
                f"{errors[0].get('Code')} {errors[0].get('Message', '')}); run the command again"
            )

        if len(batches) <= 1:
            for batch in batches:
                delete(batch)
            return
        with ThreadPoolExecutor(min(_PARALLEL, len(batches))) as pool:
            list(pool.map(delete, batches))

    # -- life cycle ---------------------------------------------------------------------------
    def _marker(self) -> dict[str, Any] | None:
        data = self._get(self.root + MARKER)
        if data is None:
            return None
        try:
            marker: dict[str, Any] = json.loads(data)
        except ValueError:
            return {}
        return marker

    @_s3_errors
    def exists(self) -> bool:
        return self._marker() is not None

    @_s3_errors
    def create(self) -> None:
        self._check_empty()
        self._write_marker()

    def _check_empty(self) -> None:
        if self._marker() is not None:
            raise JobStoreExistsError(
                f"a job store already exists at {self.locator}; use another name"
            )
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.root, MaxKeys=1)
        if listing.get("KeyCount", 0) or listing.get("Contents"):
            where = f"s3://{self.bucket}/{self.root}"
            raise JobStoreExistsError(
                f"{where} is not empty and holds no job store (a creation cut short leaves "
                f"objects there: `toil clean {self.locator}`); use an empty bucket or prefix"
            )

    def _write_marker(self) -> None:
        token = uuid.uuid4().hex
        body = json.dumps(
            {
                "kind": "moil s3 job store",
                "format": FORMAT_VERSION,
                "token": token,
                "created": time.time(),
            }
        ).encode()
        try:
            self._put(self.root + MARKER, body, IfNoneMatch="*")
        except self.s3.exceptions.ClientError as exc:
            if not is_precondition_failed(exc):
                raise
            token = ""
        marker = self._marker()  # the fallback for servers that ignore If-None-Match
        if marker is None or marker.get("token") != token:
            raise JobStoreExistsError(
                f"a job store already exists at {self.locator} (made by another process "
                "just now); use another name"
            )

    @_s3_errors
    def create_leased(self, owner: str) -> Lease:
        self._check_empty()
        lease = self._lease_object().take(owner)  # before the marker: no leader can be first
        try:
            self._write_marker()
        except BaseException:
            lease.release()
            raise
        return lease

    @_s3_errors
    def open(self) -> None:
        marker = self._marker()
        if marker is None:
            raise NoSuchJobStoreError(f"no job store at {self.locator}")
        if marker.get("format", 0) > FORMAT_VERSION:
            raise NoSuchJobStoreError(
                f"the job store {self.locator} was made by a newer moil (format "
                f"{marker.get('format')}); use that version"
            )

    @_s3_errors
    def destroy(self) -> None:
        """Delete every key of this store's layout (the marker last) and this host's cache;
        keys of others that share the bucket or prefix are left alone.

        In rounds until a listing finds nothing: list the areas in parallel (files/ split by
        the first digit of the file's UUID), then delete what they hold, 1000 keys a
        DeleteObjects, 16 at once. Listing and deleting never overlap: moto's server
        iterates a bucket's keys for a listing while another thread deletes from them, and
        answers 500 (seen at 100,000 objects)."""
        areas = [
            *(f"files/{digit}" for digit in "0123456789abcdef"),
            *(area for area in _LAYOUT if area.endswith("/") and area != "files/"),
        ]
        before: set[str] = set()
        try:
            while True:
                with ThreadPoolExecutor(_PARALLEL) as pool:
                    found = [key for keys in pool.map(self._list_area, areas) for key in keys]
                found += self._list_area("files/", skip_uuids=True)
                if not found:
                    break
                if before.issuperset(found):
                    raise JobStoreError(
                        f"S3 at {self.s3.meta.endpoint_url} still lists {len(found)} deleted "
                        f"objects of the job store {self.locator} (s3://{self.bucket}/"
                        f"{found[0]}); run the command again"
                    )
                before = set(found)
                self._delete_keys(found)
        except self.s3.exceptions.NoSuchBucket:
            return
        self._delete_keys([self.root + "lease"])
        self._delete_keys([self.root + MARKER])
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        self._journal_at = None

    def _list_area(self, area: str, skip_uuids: bool = False) -> list[str]:
        """The keys under ROOT/``area``, up to _CLEAN_ROUND of them (the rest: next round);
        with ``skip_uuids``, those the split listings of files/ found already."""
        found: list[str] = []
        start = len(self.root) + len("files/")
        for key in self._list(area):
            if skip_uuids and key[start : start + 1] in "0123456789abcdef":
                continue
            found.append(key)
            if len(found) >= _CLEAN_ROUND:
                break
        return found

    # -- the lease ------------------------------------------------------------------------------
    def _lease_object(self) -> LeaseObject:
        return LeaseObject(self.s3, self.bucket, self.root + "lease", self.locator)

    @_s3_errors
    def acquire_lease(self, owner: str) -> Lease:
        if self._marker() is None:
            raise NoSuchJobStoreError(f"no job store at {self.locator}")
        return self._lease_object().take(owner)

    @_s3_errors
    def lease_holder(self) -> LeaseHolder | None:
        return self._lease_object().live_holder()

    # -- shared blobs -----------------------------------------------------------------------------
    @_s3_errors
    def write_shared(self, name: str, data: bytes) -> None:
        self._put(self.root + "shared/" + _encode(name), bytes(data))

    @_s3_errors
    def read_shared(self, name: str) -> bytes:
        data = self._get(self.root + "shared/" + _encode(name))
        if data is None:
            raise NoSuchFileError(f"no shared file {name!r} in {self.locator}")
        return data

    @_s3_errors
    def shared_exists(self, name: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self.root + "shared/" + _encode(name))
        except self.s3.exceptions.ClientError as exc:
            if is_missing(exc):
                return False
            raise
        return True

    @_s3_errors
    def delete_shared(self, name: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.root + "shared/" + _encode(name))

    # -- journal ------------------------------------------------------------------------------------
    def _journal_keys(self) -> dict[int, list[str]]:
        """Journal keys by generation, each list in sequence order."""
        found: dict[int, list[str]] = {}
        start = len(self.root) + len("journal/")
        for key in self._list("journal/"):
            gen, _, _seq = key[start:].partition("/")
            if gen.isdigit():
                found.setdefault(int(gen), []).append(key)
        return found

    def _journal_key(self, gen: int, seq: int) -> str:
        return f"{self.root}journal/{gen:010d}/{seq:012d}"

    def _position(self) -> tuple[int, int]:
        if self._journal_at is None:
            generations = self._journal_keys()
            gen = max(generations, default=0)
            last = generations.get(gen, [])
            seq = int(last[-1].rsplit("/", 1)[1]) + 1 if last else 0
            self._journal_at = (gen, seq)
        return self._journal_at

    @_s3_errors
    def append_records(self, records: Sequence[bytes]) -> None:
        if not records:
            return
        gen, seq = self._position()
        # If-None-Match: a second writer (a leader whose lease was taken over) cannot
        # overwrite a frame of the new one on S3
        self._put(self._journal_key(gen, seq), journal.encode_batch(records), IfNoneMatch="*")
        self._journal_at = (gen, seq + 1)

    @_s3_errors
    def read_records(self) -> Iterator[bytes]:
        generations = self._journal_keys()
        if not generations:
            return iter(())
        keys = generations[max(generations)]
        with ThreadPoolExecutor(min(_PARALLEL, len(keys))) as pool:
            bodies = list(pool.map(self._get, keys))
        records: list[bytes] = []
        for key, body in zip(keys, bodies, strict=True):
            if body is None:
                continue  # deleted by a compaction since it was listed
            for _end, batch in journal.scan(BytesIO(body), functools.partial(_damaged, key)):
                records.extend(batch)
        return iter(records)

    @_s3_errors
    def replace_records(self, records: Sequence[bytes]) -> None:
        generations = self._journal_keys()
        gen = max(generations, default=0) + 1
        self._put(self._journal_key(gen, 0), journal.encode_many(records))
        self._journal_at = (gen, 1)
        self._delete_keys([key for old in generations.values() for key in old])

    # -- the hand-off of one job ---------------------------------------------------------------------
    def _in_key(self, job_id: str) -> str:
        return f"{self.root}in/{_encode(job_id)}"

    def _out_key(self, job_id: str, attempt: str) -> str:
        return f"{self.root}out/{_encode(job_id)}/{attempt}"

    @_s3_errors
    def write_job_input(self, job_id: str, data: bytes) -> None:
        attempt = f"{time.time_ns():016x}{uuid.uuid4().hex[:16]}"  # later attempts sort later
        self._put(self._in_key(job_id), bytes(data), {"attempt": attempt})
        self._attempts[job_id] = attempt

    @_s3_errors
    def read_job_input(self, job_id: str) -> bytes:
        found = self._get_object(self._in_key(job_id))
        if found is None:
            raise NoSuchFileError(f"no input for job {job_id!r} in {self.locator}")
        self._attempts[job_id] = found[1].get("attempt", _NO_ATTEMPT)
        return found[0]

    def _attempt(self, job_id: str) -> str:
        """The attempt of the job's input: remembered, else read from the input object."""
        attempt = self._attempts.get(job_id)
        if attempt is None:
            try:
                head = self.s3.head_object(Bucket=self.bucket, Key=self._in_key(job_id))
            except self.s3.exceptions.ClientError as exc:
                if not is_missing(exc):
                    raise
                return _NO_ATTEMPT
            attempt = str(head.get("Metadata", {}).get("attempt", _NO_ATTEMPT))
            self._attempts[job_id] = attempt
        return attempt

    @_s3_errors
    def write_job_result(self, job_id: str, data: bytes) -> None:
        self._put(self._out_key(job_id, self._attempt(job_id)), bytes(data))

    @_s3_errors
    def finish_job(self, job_id: str, result: bytes, log_path: str) -> None:
        """The result and the log in one object (a long log: two)."""
        if os.path.getsize(log_path) > _LOG_WITH_RESULT:
            super().finish_job(job_id, result, log_path)
            return
        with open(log_path, "rb") as stream:
            text = stream.read()
        self._put(
            self._log_key(job_id, self._attempt(job_id)),
            bytes(result) + text,
            {"result": str(len(result))},
        )
        self._drop_log_target(local_path=log_path)

    @_s3_errors
    def read_job_result(self, job_id: str) -> bytes | None:
        attempt = self._attempt(job_id)
        found = self._get_object(self._log_key(job_id, attempt))
        if found is not None and "result" in found[1]:
            data, size = found[0], int(found[1]["result"])
            self._logs[job_id] = data[size:]
            return data[:size]
        return self._get(self._out_key(job_id, attempt))

    def clear_job_io(self, job_id: str) -> None:
        self.clear_jobs_io([job_id])

    @_s3_errors
    def clear_jobs_io(self, job_ids: Sequence[str]) -> None:
        """One DeleteObjects for up to 1000 keys: the inputs and lone results (a result at
        the head of a log stays with the log)."""
        keys: set[str] = set()
        for job_id in job_ids:
            keys.update((self._in_key(job_id), self._running_key(job_id)))
            keys.update(self._result_keys.pop(job_id, ()))
            attempt = self._attempts.pop(job_id, None)
            if attempt is not None:
                keys.add(self._out_key(job_id, attempt))
            self._logs.pop(job_id, None)
        self._delete_keys(sorted(keys))

    def _job_ids(self, area: str, attempts: bool) -> Iterator[tuple[str, str]]:
        """(job ID, key) of each key in ``area`` (``in/``, ``out/``, ``logs/``), whose keys
        end in an attempt segment if ``attempts``."""
        start = len(self.root) + len(area)
        for key in self._list(area):
            segments = key[start:].split("/")
            yield _decode(segments[:-1] if attempts else segments), key

    @_s3_errors
    def list_job_results(self) -> list[str]:
        """Jobs with a lone result, or with a log holding one whose input is not cleared
        (three listings; ``read_job_result`` then checks the attempt)."""
        self._result_keys = {}
        for job_id, key in self._job_ids("out/", True):
            self._result_keys.setdefault(job_id, []).append(key)
        inputs = {job_id for job_id, _ in self._job_ids("in/", False)}
        logged = {job_id for job_id, _ in self._job_ids("logs/", True)}
        return sorted(set(self._result_keys) | (logged & inputs))

    def _running_key(self, job_id: str) -> str:
        return f"{self.root}running/{_encode(job_id)}"

    def job_running_lock(self, job_id: str) -> AbstractContextManager[object]:
        return RunningMark(self.s3, self.bucket, self._running_key(job_id))

    @_s3_errors
    def job_is_running(self, job_id: str) -> bool:
        """True once the job has run ``s3lease.JOB_MARK_AFTER`` seconds (1), while its
        worker lives."""
        return is_running(self.s3, self.bucket, self._running_key(job_id))

    # -- logs ---------------------------------------------------------------------------------------
    def _log_dir(self) -> str:
        path = os.path.join(self.cache_dir, "logs")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def job_log_target(self, job_id: str) -> str:
        """A fresh local file; ``save_job_log`` uploads it and removes it."""
        fd, path = tempfile.mkstemp(prefix="job-", suffix=".log", dir=self._log_dir())
        os.close(fd)
        return path

    def _log_key(self, job_id: str, attempt: str) -> str:
        return f"{self.root}logs/{_encode(job_id)}/{attempt}"

    def _drop_log_target(self, local_path: str) -> None:
        if os.path.dirname(os.path.abspath(local_path)) == self._log_dir():
            os.unlink(local_path)

    @_s3_errors
    def save_job_log(self, job_id: str, local_path: str) -> None:
        self.s3.upload_file(local_path, self.bucket, self._log_key(job_id, self._attempt(job_id)))
        self._drop_log_target(local_path)

    @_s3_errors
    def read_job_log(self, job_id: str) -> bytes | None:
        """The log read with the job's result, else that of its latest attempt (one
        listing and one GET)."""
        if job_id in self._logs:
            return self._logs[job_id]
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.root}logs/{_encode(job_id)}/"
        )
        keys = [str(item["Key"]) for page in pages for item in page.get("Contents", ())]
        for key in sorted(keys, reverse=True):
            found = self._get_object(key)
            if found is not None:
                return found[0][int(found[1].get("result", 0)) :]
        return None

    def job_log_location(self, job_id: str) -> str:
        attempt = self._attempts.get(job_id)
        where = f"s3://{self.bucket}/{self.root}logs/{_encode(job_id)}/"
        return where + attempt if attempt else where

    # -- files ----------------------------------------------------------------------------------------
    @_s3_errors
    def import_local(
        self,
        path: str,
        *,
        move: bool = False,
        basename: str | None = None,
        digest: str | None = None,
        keep_source: bool = True,
    ) -> FileID:
        return self.files.import_local(path, move, basename, digest)

    @_s3_errors
    def export_local(self, file_id: str, dest: str, *, symlink: bool = False) -> None:
        self.files.export(file_id, dest, symlink)

    @_s3_errors
    def local_path(self, file_id: str) -> str | None:
        return self.files.local_path(file_id)

    @_s3_errors
    def open_read(self, file_id: str) -> IO[bytes]:
        return self.files.open_read(file_id)

    def write_stream(self, basename: str) -> tuple[FileID, IO[bytes]]:
        return self.files.write_stream(basename)

    @_s3_errors
    def file_digest(self, file_id: str) -> str | None:
        return self.files.digest(file_id)

    @_s3_errors
    def file_exists(self, file_id: str) -> bool:
        return self.files.exists(file_id)

    @_s3_errors
    def file_size(self, file_id: str) -> int:
        return int(self.files.head(file_id)["ContentLength"])

    @_s3_errors
    def delete_file(self, file_id: str) -> None:
        self.files.delete(file_id)

    @_s3_errors
    def list_files(self) -> Iterator[str]:
        start = len(self.root) + len("files/")
        return iter([key[start:] for key in self._list("files/")])


def _damaged(key: str, offset: int, length: int) -> None:
    log.warning(
        "the job store's journal object %s is damaged at byte %d: %d bytes skipped",
        key,
        offset,
        length,
    )
