"""What the ``aws:`` job store needs from S3: its locator, a configured boto3 client, and
S3's errors turned into the job store's.

Locator: ``aws:REGION:BUCKET`` or ``aws:REGION:BUCKET/PREFIX`` (Toil's ``aws:REGION:NAME``,
where NAME here names an existing bucket and, optionally, a key prefix inside it, so that
many stores can share one bucket). moil never creates or deletes a bucket: a missing one is
a usage error.

Endpoint, in boto3's own order: Toil's ``TOIL_S3_HOST`` (with ``TOIL_S3_PORT`` and
``TOIL_S3_USE_SSL``, default true) if set; otherwise whatever boto3 reads itself
(``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, ``endpoint_url`` in the profile of
``AWS_PROFILE``, then AWS's own endpoint for the region). Credentials come from boto3's chain
(environment, shared files, profiles, instance metadata); moil never stores them.

Requests that fail on the way (connection refused or reset, timeouts, 5xx, throttling) are
retried by botocore with exponential backoff (``standard`` mode), up to
``MOIL_S3_MAX_ATTEMPTS`` attempts (default 12: about a minute of waiting in all).

``MOIL_S3_REQUEST_LOG=PATH``: every HTTP request to S3 that this process (and every process
that inherits the variable: workers) sends is appended to PATH as one line
``OPERATION BYTES_SENT PATH`` (PATH: the URL's path, ``/BUCKET/KEY`` for a custom endpoint;
a boto3 ``request-created`` event hook: each attempt of a retried request counts), for
``bench/bench_s3.py`` and for finding out what a run costs.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, NoReturn

from backends.errors import (
    InvalidLocatorError,
    JobStoreAccessError,
    JobStoreError,
)

_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d+|[a-z0-9-]+")
# S3's rules for new bucket names (lower case, digits, dots and hyphens; 3 to 63 long).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()/\-]{1,512}")


@dataclass(frozen=True)
class S3Location:
    """Where a store lives: region, bucket and key prefix (``""`` or ending in ``/``)."""

    region: str
    bucket: str
    prefix: str

    def render(self) -> str:
        """The canonical locator (``aws:REGION:BUCKET[/PREFIX]``)."""
        tail = f"/{self.prefix.rstrip('/')}" if self.prefix else ""
        return f"aws:{self.region}:{self.bucket}{tail}"


def parse_location(locator: str, location: str) -> S3Location:
    """Split the part after ``aws:`` (``REGION:BUCKET[/PREFIX]``). Raises
    InvalidLocatorError saying what form is expected."""
    region, sep, name = location.partition(":")
    form = "aws:REGION:BUCKET or aws:REGION:BUCKET/PREFIX (e.g. aws:us-east-1:my-bucket/run1)"
    if not sep or not region or not name or ":" in name:
        raise InvalidLocatorError(f"job store locator {locator!r} is not of the form {form}")
    if not _REGION.fullmatch(region):
        raise InvalidLocatorError(f"job store locator {locator!r}: {region!r} is no AWS region")
    bucket, _, prefix = name.partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidLocatorError(
            f"job store locator {locator!r}: {bucket!r} is not a valid S3 bucket name "
            "(3-63 lower-case letters, digits, dots and hyphens)"
        )
    prefix = prefix.strip("/")
    if prefix and (
        not _PREFIX.fullmatch(prefix)
        or "//" in prefix
        or any(part in (".", "..") for part in prefix.split("/"))
    ):
        raise InvalidLocatorError(
            f"job store locator {locator!r}: the key prefix {prefix!r} may hold only letters, "
            "digits and !_.*'()/- (no empty, '.' or '..' parts)"
        )
    return S3Location(region, bucket, f"{prefix}/" if prefix else "")


def _true(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def endpoint_url() -> str | None:
    """The endpoint named by Toil's variables, or None to let boto3 decide."""
    host = os.environ.get("TOIL_S3_HOST", "").strip()
    if not host:
        return None
    scheme = "https" if _true(os.environ.get("TOIL_S3_USE_SSL", "true")) else "http"
    port = os.environ.get("TOIL_S3_PORT", "").strip()
    return f"{scheme}://{host}{':' + port if port else ''}"


_CLIENTS: dict[tuple[str | None, ...], Any] = {}
# What boto3 reads from the environment to pick an endpoint and credentials: a client made
# under other values is another client.
_CLIENT_ENV = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_CLIENTS_LOCK = threading.Lock()


def _forget_clients() -> None:
    """A forked child must not use its parent's connections (both would write to the same
    sockets: s3rver answered the interleaved requests with 400 Bad Request)."""
    global _CLIENTS_LOCK
    _CLIENTS.clear()
    _CLIENTS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_clients)


def client(region: str) -> Any:
    """A boto3 S3 client for ``region`` (one per process and endpoint: a client costs
    ~0.1-0.3 s to make and is thread-safe)."""
    url = endpoint_url()
    key = (region, url, *(os.environ.get(name) for name in _CLIENT_ENV))
    with _CLIENTS_LOCK:
        made = _CLIENTS.get(key)
        if made is None:
            made = _CLIENTS[key] = _new_client(region, url)
        return made


def _new_client(region: str, url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    # botocore tells at INFO where it found credentials and the endpoint, on every start
    for name in ("botocore.credentials", "botocore.configprovider", "botocore.tokens"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)

    attempts = int(os.environ.get("MOIL_S3_MAX_ATTEMPTS", "12") or 12)
    settings: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": attempts},
        "connect_timeout": 5,
        "read_timeout": 60,
        "max_pool_connections": 32,
        # our own sha1 guards every stored file; botocore's CRC32 trailers (aws-chunked
        # bodies) are not understood by every S3-compatible server
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    if url is not None:
        settings["s3"] = {"addressing_style": "path"}
    session = boto3.session.Session(region_name=region)
    made = session.client("s3", endpoint_url=url, config=Config(**settings))
    request_log = os.environ.get("MOIL_S3_REQUEST_LOG")
    if request_log:
        made.meta.events.register("request-created.s3", _request_logger(request_log))
    return made


def _request_logger(path: str) -> Any:
    def log_request(request: Any, operation_name: str = "", **_: Any) -> None:
        operation = operation_name or request.method
        from urllib.parse import urlsplit

        from botocore.utils import determine_content_length

        size = int(request.headers.get("Content-Length", 0) or 0)
        if not size and request.body:
            size = determine_content_length(request.body) or 0
        # one write of a short line to an O_APPEND file: lines of processes do not mix
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{operation} {size} {urlsplit(request.url).path}\n".encode())
        finally:
            os.close(fd)

    return log_request


def where(s3: Any) -> str:
    """The endpoint a client talks to, for messages."""
    return str(s3.meta.endpoint_url)


def error_code(exc: BaseException) -> str:
    """S3's error code of a ClientError (``NoSuchKey``, ``412``...), or ``""``."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    return str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def status(exc: BaseException) -> int:
    """The HTTP status of a ClientError, or 0."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_missing(exc: BaseException) -> bool:
    """Whether a ClientError says the key is not there (a missing bucket is not that)."""
    code = error_code(exc)
    if code == "NoSuchBucket":
        return False
    return code in ("NoSuchKey", "404", "NotFound") or status(exc) == 404


def is_precondition_failed(exc: BaseException) -> bool:
    return status(exc) == 412 or error_code(exc) in ("PreconditionFailed", "412")


_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "403",
    "AllAccessDisabled",
}


def raise_store_error(exc: BaseException, s3: Any, bucket: str) -> NoReturn:
    """Raise the job store's error for a botocore failure (what failed, where, what to do)."""
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    url = where(s3)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        raise JobStoreAccessError(
            f"no AWS credentials for S3 at {url}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        ) from None
    if isinstance(exc, BotoConnectionError):
        raise JobStoreAccessError(
            f"cannot reach the S3 endpoint {url} (after retries): {exc}; check "
            "AWS_ENDPOINT_URL / TOIL_S3_HOST and that the server is up"
        ) from None
    if isinstance(exc, HTTPClientError):  # a read timeout, a connection dropped mid-answer
        raise JobStoreAccessError(
            f"the S3 endpoint {url} did not answer (after retries): {exc}; check that the "
            "server is up and not overloaded, then run the command again"
        ) from None
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code == "NoSuchBucket":
            raise JobStoreAccessError(
                f"the S3 bucket {bucket!r} does not exist at {url}; create it first "
                "(moil never creates buckets)"
            ) from None
        if code in _DENIED:
            raise JobStoreAccessError(
                f"S3 at {url} refused access to the bucket {bucket!r} ({code}); check the "
                "credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE) and the bucket's policy"
            ) from None
        raise JobStoreError(f"S3 at {url}, bucket {bucket!r}: {code}: {exc}") from None
    raise exc
