"""Files named by ``s3://BUCKET/KEY`` URLs, for imports and exports of any job store.

The client is the ``aws:`` store's (``backends.jobstore.s3client``): the same endpoint
(``TOIL_S3_HOST``, else boto3's ``AWS_ENDPOINT_URL(_S3)`` and profiles), credentials and
retries. Transfers stream through boto3's managed transfer (parallel parts, never the
whole file in memory). Other schemes (``http(s)://``, ``ftp://``, ``file://``) are urllib's,
in ``runner.jobenv.filestore``.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import IO, Any

from backends.errors import JobStoreError, NoSuchFileError


def is_s3_url(url: str) -> bool:
    return url.startswith("s3://")


def _split(url: str) -> tuple[str, str]:
    parsed = urllib.parse.urlparse(url)
    key = urllib.parse.unquote(parsed.path.lstrip("/"))
    if not parsed.netloc or not key or key.endswith("/"):
        raise JobStoreError(f"{url!r} is not an s3://BUCKET/KEY URL of a file")
    return parsed.netloc, key


def s3_client() -> Any:
    """The S3 client for URLs (the region from ``AWS_REGION``, else ``us-east-1``)."""
    from backends.jobstore.s3client import client

    return client(
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )


def download(url: str, out: IO[bytes]) -> None:
    """Write the object ``url`` names to ``out``. Raises NoSuchFileError, JobStoreError."""
    from botocore.exceptions import BotoCoreError, ClientError

    from backends.jobstore.s3client import is_missing, raise_store_error

    bucket, key = _split(url)
    s3 = s3_client()
    try:
        s3.download_fileobj(bucket, key, out)
    except ClientError as exc:
        if is_missing(exc):
            raise NoSuchFileError(
                f"no object at {url} (on the S3 endpoint {s3.meta.endpoint_url}): check the "
                "bucket and key"
            ) from None
        raise_store_error(exc, s3, bucket)
    except BotoCoreError as exc:
        raise_store_error(exc, s3, bucket)


def upload(source: IO[bytes], url: str) -> None:
    """Write ``source`` (read to its end) to ``url``. Raises JobStoreError."""
    from botocore.exceptions import BotoCoreError, ClientError

    from backends.jobstore.s3client import raise_store_error

    bucket, key = _split(url)
    s3 = s3_client()
    try:
        s3.upload_fileobj(source, bucket, key)
    except (BotoCoreError, ClientError) as exc:
        raise_store_error(exc, s3, bucket)


def split_base(url: str) -> tuple[str, str]:
    """``s3://BUCKET[/PREFIX]`` as (bucket, prefix without slashes at its ends). Raises
    InvalidLocatorError for anything else."""
    from backends.errors import InvalidLocatorError
    from backends.jobstore.s3client import parse_location

    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc or parsed.query or parsed.fragment:
        raise InvalidLocatorError(f"{url!r} is not of the form s3://BUCKET[/PREFIX]")
    location = parse_location(url, f"us-east-1:{parsed.netloc}{parsed.path}")
    return location.bucket, location.prefix.rstrip("/")


def check_bucket(url: str) -> None:
    """The bucket of ``url`` (``s3://BUCKET[/PREFIX]``) must exist and answer. Raises
    JobStoreError saying why not (a missing bucket: create it; moil never does)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from backends.jobstore.s3client import error_code, raise_store_error

    bucket, _ = split_base(url)
    s3 = s3_client()
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket"):
            raise JobStoreError(
                f"the bucket {bucket} does not exist at {s3.meta.endpoint_url}; create it "
                "first (moil never creates buckets)"
            ) from None
        raise_store_error(exc, s3, bucket)
    except BotoCoreError as exc:
        raise_store_error(exc, s3, bucket)


def call(bucket: str, operation: str, **arguments: Any) -> Any:
    """One S3 request (``put_object``, ``get_object``, ``list_objects_v2``...) on
    ``bucket``. Raises JobStoreError."""
    from botocore.exceptions import BotoCoreError, ClientError

    from backends.jobstore.s3client import raise_store_error

    s3 = s3_client()
    try:
        return getattr(s3, operation)(Bucket=bucket, **arguments)
    except (BotoCoreError, ClientError) as exc:
        raise_store_error(exc, s3, bucket)
