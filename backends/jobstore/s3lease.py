"""The lease of an ``aws:`` store: one object, taken and renewed with conditional writes.

The lease object (``ROOT/lease``) holds the holder's JSON and a random token. It is taken
with ``If-None-Match: *`` when absent, or with ``If-Match: ETAG`` of the expired object that
was read; the holder renews it every ``RENEW_EVERY`` seconds with ``If-Match`` on its own
ETag and deletes it on release. Expiry is judged by the server's clock: the object's
``Last-Modified`` against the ``Date`` of the response that read it, so a reader's clock
does not matter. A holder that ran on this host and whose process is gone (SIGKILL) frees
its lease at once: a ``--restart`` on the same host need not wait for the expiry. On S3 (and moto) the conditions make taking and renewing atomic.

The fallback, for S3-compatible servers that accept the conditional headers and ignore them
(s3rver): every take is followed by a read-back, and every renewal and release by a read
first, comparing the token. Two leaders racing within one round trip on such a server can
still both believe they won for a moment; the read-back makes the later writer's rival
notice at its next renewal (LeaseLostError) instead of never. Real S3 needs none of this.

A worker's mark that it runs a job (``RunningMark``) is a lease of the same kind without
conditions: only its worker writes it.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any, Self

from backends.errors import JobStoreLeasedError, LeaseLostError
from backends.jobstore.lease import Lease, LeaseHolder
from backends.jobstore.s3client import is_missing, is_precondition_failed

log = logging.getLogger(__name__)

#: Seconds a lease lasts past its last renewal (by the server's clock).
TTL = 60.0
#: Seconds between renewals: a holder may miss two and still keep its lease.
RENEW_EVERY = 15.0


def _server_now(response: dict[str, Any]) -> float:
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            pass
    return time.time()


class LeaseObject:
    """Reads and writes the lease object of one store (``s3``: a boto3 client)."""

    def __init__(self, s3: Any, bucket: str, key: str, locator: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.key = key
        self.locator = locator

    def read(self) -> tuple[LeaseHolder, str, str, bool] | None:
        """``(holder, token, etag, live)`` of the lease object, or None if there is none.
        A body that is no lease is read again a few times first (s3rver replaces objects in
        place, so a reader may catch one half-written)."""
        for attempt in range(5):
            found = self._read_once()
            if found is None or found[1] or attempt == 4:
                return found
            time.sleep(0.02 * 2**attempt)
        return None

    def _read_once(self) -> tuple[LeaseHolder, str, str, bool] | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except self.s3.exceptions.ClientError as exc:
            if is_missing(exc):
                return None
            raise
        body = response["Body"].read()
        age = _server_now(response) - response["LastModified"].timestamp()
        try:
            data = json.loads(body)
            holder = LeaseHolder.from_json(data["holder"])
            token = str(data["token"])
            ttl = float(data.get("ttl", TTL))
        except (KeyError, TypeError, ValueError):  # a torn or foreign object: not a lease
            return LeaseHolder("", "?", 0, 0.0), "", str(response["ETag"]), False
        return holder, token, str(response["ETag"]), age <= ttl

    def live_holder(self) -> LeaseHolder | None:
        found = self.read()
        return found[0] if found is not None and found[3] and not _died_here(found[0]) else None

    def _put(self, body: bytes, **condition: str) -> str:
        response = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, **condition)
        return str(response["ETag"])

    def take(self, owner: str) -> S3Lease:
        """Take the lease or raise JobStoreLeasedError naming its live holder."""
        now = time.time()
        holder = LeaseHolder(owner, socket.gethostname(), os.getpid(), now, now + TTL)
        token = uuid.uuid4().hex
        found = self.read()
        if found is not None and found[3] and not _died_here(found[0]):
            self._refuse(found[0])
        condition = {"IfNoneMatch": "*"} if found is None else {"IfMatch": found[2]}
        try:
            etag = self._put(_body(holder, token), **condition)
        except self.s3.exceptions.ClientError as exc:
            if is_precondition_failed(exc) or is_missing(exc):
                self._refuse(self.live_holder())
            raise
        again = self.read()  # the fallback for servers that ignore the conditions
        if again is None or again[1] != token:
            self._refuse(None if again is None else again[0])
        return S3Lease(self, holder, token, etag)

    def _refuse(self, holder: LeaseHolder | None) -> None:
        who = f" ({holder.describe()})" if holder is not None else ""
        raise JobStoreLeasedError(
            f"the job store {self.locator} is in use by a running leader{who}", holder
        )


def _died_here(holder: LeaseHolder) -> bool:
    """Whether the holder ran on this host and its process is gone (a leader killed with
    SIGKILL): its lease is free at once rather than after its expiry. A pid that was
    reused since counts as alive, so the lease is then waited out: never taken early."""
    if holder.host != socket.gethostname() or holder.pid <= 0:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _body(holder: LeaseHolder, token: str) -> bytes:
    return json.dumps({"holder": holder.to_json(), "token": token, "ttl": TTL}).encode()


class S3Lease(Lease):
    """A lease object held by this process; renewed by ``keep()`` (see the module)."""

    renew_every = RENEW_EVERY

    def __init__(self, owner: LeaseObject, holder: LeaseHolder, token: str, etag: str) -> None:
        super().__init__(holder)
        self._object = owner
        self._token = token
        self._etag = etag
        self._released = False

    def renew(self) -> None:
        lease = self._object
        found = lease.read()
        if found is None or found[1] != self._token:
            raise LeaseLostError(f"the lease on {lease.locator} lapsed and was taken over")
        now = time.time()
        holder = LeaseHolder(
            self.holder.owner, self.holder.host, self.holder.pid, self.holder.since, now + TTL
        )
        try:
            self._etag = lease._put(_body(holder, self._token), IfMatch=self._etag)
        except lease.s3.exceptions.ClientError as exc:
            if is_precondition_failed(exc) or is_missing(exc):
                raise LeaseLostError(
                    f"the lease on {lease.locator} lapsed and was taken over"
                ) from None
            raise
        self.holder = holder

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        lease = self._object
        try:
            found = lease.read()
            if found is not None and found[1] == self._token:
                lease.s3.delete_object(Bucket=lease.bucket, Key=lease.key, IfMatch=found[2])
        except Exception as exc:  # noqa: BLE001 (lost or unreachable: it lapses by itself)
            log.info(
                "could not release the lease on %s (%s); it lapses within %d s",
                lease.locator,
                exc,
                int(TTL),
            )


#: A job is marked running once it has run this long (a job shorter than that costs no
#: request for it), then the mark is renewed every JOB_RENEW_EVERY seconds; a mark not
#: renewed for TTL seconds (a worker that died) no longer counts.
JOB_MARK_AFTER = 1.0
JOB_RENEW_EVERY = 20.0


class RunningMark:
    """A worker's mark that it runs a job (``ROOT/running/ID``), as a context manager: a
    thread writes it once the job has run ``JOB_MARK_AFTER`` seconds and renews it; leaving
    deletes it if it was written. ``is_running`` reads it (one HEAD)."""

    def __init__(self, s3: Any, bucket: str, key: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.key = key
        self.stop = threading.Event()
        self.written = False
        self.thread = threading.Thread(target=self._mark, name="moil-running-mark", daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def _mark(self) -> None:
        wait = JOB_MARK_AFTER
        meta = {"host": socket.gethostname(), "pid": str(os.getpid())}
        while not self.stop.wait(wait):
            try:
                self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=b"", Metadata=meta)
                self.written = True
            except Exception as exc:  # noqa: BLE001 (a lost mark only hides the job from status)
                log.warning("could not mark s3://%s/%s running: %s", self.bucket, self.key, exc)
            wait = JOB_RENEW_EVERY

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        if self.written:
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=self.key)
            except Exception as error:  # noqa: BLE001 (it expires; the leader deletes it too)
                log.warning("could not delete s3://%s/%s: %s", self.bucket, self.key, error)


def is_running(s3: Any, bucket: str, key: str) -> bool:
    """Whether the mark at ``key`` is there, renewed within TTL (by the server's clock), and
    not left by a process of this host that is gone."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if is_missing(exc):
            return False
        raise
    meta = head.get("Metadata", {})
    pid = int(meta.get("pid", "0") or 0)
    if _died_here(LeaseHolder("", str(meta.get("host", "")), pid, 0.0, 0.0)):
        return False
    return bool(_server_now(head) - head["LastModified"].timestamp() <= TTL)
