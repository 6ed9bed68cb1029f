"""The S3 servers the job store will be tested against, checked with real boto3 calls: the
basics it needs, and each row of the capability table in tests/services/s3.py, asserted in
both directions (a server said to honour a condition must refuse; one said not to must
accept), so the table cannot drift from the servers' behaviour."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.services.s3 import S3Server

pytestmark = pytest.mark.s3

MIB = 1024 * 1024


def _status(call: Callable[[], Any]) -> int:
    """The HTTP status a boto3 call ends with (200 when it succeeds)."""
    try:
        call()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


def _body(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_put_get_metadata_range_and_odd_keys(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    keys = ["plain", "dir/sub/file.txt", "spaces and +plus", "ünïcödé/ключ", "pct%2Fslash"]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=f"body {i}".encode(), Metadata={"n": str(i)})
    for i, key in enumerate(keys):
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == f"body {i}".encode()
        assert got["Metadata"] == {"n": str(i)}
    ranged = s3.get_object(Bucket=bucket, Key="plain", Range="bytes=2-5")["Body"].read()
    assert ranged == b"dy 0"
    assert sorted(_keys(s3, bucket)) == sorted(keys)
    assert _status(lambda: s3.get_object(Bucket=bucket, Key="absent")) == 404
    assert _status(lambda: s3.head_object(Bucket="moil-no-such-bucket", Key="x")) == 404


def test_multipart_upload_of_20_mib_in_parallel_5_mib_parts(s3_server: S3Server) -> None:
    s3 = s3_server.client(max_pool_connections=8)
    bucket = s3_server.new_bucket()
    data = os.urandom(20 * MIB)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    in_flight, most, lock = [0], [0], threading.Lock()
    all_started = threading.Barrier(4, timeout=60)

    def part(number: int) -> dict[str, Any]:
        all_started.wait()  # four requests on the wire together
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        chunk = data[(number - 1) * 5 * MIB : number * 5 * MIB]
        done = s3.upload_part(
            Bucket=bucket, Key="big", UploadId=upload, PartNumber=number, Body=chunk
        )
        with lock:
            in_flight[0] -= 1
        return {"PartNumber": number, "ETag": done["ETag"]}

    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(part, range(1, 5)))
    assert most[0] > 1
    if s3_server.capabilities.lists_parts:
        listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload)["Parts"]
        sizes = [(p["PartNumber"], p["Size"]) for p in listed]
        assert sizes == [(n, 5 * MIB) for n in range(1, 5)]
    else:
        assert _status(lambda: s3.list_parts(Bucket=bucket, Key="big", UploadId=upload)) == 405
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert _body(s3, bucket, "big") == data
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == 20 * MIB
    md5s = b"".join(
        hashlib.md5(data[i : i + 5 * MIB]).digest() for i in range(0, 20 * MIB, 5 * MIB)
    )
    s3_form = f'"{hashlib.md5(md5s).hexdigest()}-4"'
    assert (done["ETag"] == s3_form) == s3_server.capabilities.multipart_etag_s3_form
    # boto3's transfer manager, as a job store uses it: parallel parts up, ranged reads down.
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_fileobj(io.BytesIO(data), bucket, "managed", Config=config)
    sink = io.BytesIO()
    s3.download_fileobj(bucket, "managed", sink, Config=config)
    assert sink.getvalue() == data


def test_abandoned_multipart_uploads(s3_server: S3Server) -> None:
    """What a store's clean-up can do with uploads a killed writer left behind."""
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    upload = s3.create_multipart_upload(Bucket=bucket, Key="left")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="left", UploadId=upload, PartNumber=1, Body=b"x")

    def listing() -> Any:
        return s3.list_multipart_uploads(Bucket=bucket)

    def abort() -> Any:
        return s3.abort_multipart_upload(Bucket=bucket, Key="left", UploadId=upload)

    if s3_server.capabilities.lists_multipart_uploads:
        assert [u["UploadId"] for u in listing()["Uploads"]] == [upload]
    else:
        assert _status(listing) == 501
    if s3_server.capabilities.aborts_multipart_uploads:
        assert _status(abort) == 200
        assert s3_server.capabilities.lists_multipart_uploads and not listing().get("Uploads")
    else:
        assert _status(abort) == 405
    assert _status(lambda: s3.head_object(Bucket=bucket, Key="left")) == 404


def test_create_bucket_that_exists(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    status = _status(lambda: s3.create_bucket(Bucket=bucket))
    assert status == (409 if s3_server.capabilities.create_existing_bucket_refused else 200)
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    assert _status(lambda: s3.delete_bucket(Bucket=bucket)) == 409  # BucketNotEmpty


@pytest.mark.slow  # 1100 PUTs: 5-9 s per server here
def test_listing_pages_and_batch_delete_of_1100_keys(s3_server: S3Server) -> None:
    s3 = s3_server.client(max_pool_connections=16)
    bucket = s3_server.new_bucket()
    keys = [f"jobs/{i:05d}" for i in range(1100)] + ["other/x"]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="jobs/"))
    assert [p["KeyCount"] for p in pages] == [1000, 100]
    assert pages[0]["IsTruncated"] and not pages[1]["IsTruncated"]
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys[:1100]
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["jobs/", "other/"]
    deleted = 0
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        done = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": False})
        assert not done.get("Errors")
        deleted += len(done["Deleted"])
    assert deleted == len(keys)
    assert _keys(s3, bucket) == []


def test_delete_objects_of_more_than_1000_keys(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    batch = [{"Key": f"k{i}"} for i in range(1001)]  # deleting absent keys succeeds on S3
    status = _status(lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": batch}))
    assert status == (400 if s3_server.capabilities.limits_delete_objects else 200)


def test_put_if_none_match(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    assert _status(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")) == 200
    again = _status(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*"))
    if s3_server.capabilities.put_if_none_match:
        assert (again, _body(s3, bucket, "k")) == (412, b"1")
    else:
        assert (again, _body(s3, bucket, "k")) == (200, b"2")


def test_put_if_match(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["ETag"]
    right = _status(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfMatch=etag))
    assert (right, _body(s3, bucket, "k")) == (200, b"2")
    wrong = _status(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch=etag))
    absent = _status(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"4", IfMatch=etag))
    if s3_server.capabilities.put_if_match:
        assert (wrong, absent, _body(s3, bucket, "k")) == (412, 404, b"2")
    else:
        assert (wrong, absent, _body(s3, bucket, "k")) == (200, 200, b"3")


def _multipart(s3: Any, bucket: str, key: str, body: bytes, **conditions: str) -> int:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=body)
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    return _status(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload, MultipartUpload=parts, **conditions
        )
    )


def test_complete_multipart_upload_if_none_match(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    assert _multipart(s3, bucket, "k", b"first", IfNoneMatch="*") == 200
    again = _multipart(s3, bucket, "k", b"second", IfNoneMatch="*")
    if s3_server.capabilities.complete_multipart_if_none_match:
        assert (again, _body(s3, bucket, "k")) == (412, b"first")
    else:
        assert (again, _body(s3, bucket, "k")) == (200, b"second")


def test_delete_if_match(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    status = _status(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch='"0123abcd"'))
    still_there = _status(lambda: s3.head_object(Bucket=bucket, Key="k")) == 200
    assert (status, still_there) == (
        (412, True) if s3_server.capabilities.delete_if_match else (200, False)
    )


def test_copy_if_none_match(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    s3.put_object(Bucket=bucket, Key="source", Body=b"source")
    s3.put_object(Bucket=bucket, Key="target", Body=b"target")
    source = {"Bucket": bucket, "Key": "source"}
    status = _status(
        lambda: s3.copy_object(Bucket=bucket, Key="target", CopySource=source, IfNoneMatch="*")
    )
    if s3_server.capabilities.copy_if_none_match:
        assert (status, _body(s3, bucket, "target")) == (412, b"target")
    else:
        assert (status, _body(s3, bucket, "target")) == (200, b"source")


def test_get_conditions(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["ETag"]
    other = _status(lambda: s3.get_object(Bucket=bucket, Key="k", IfMatch='"0123abcd"'))
    assert other == (412 if s3_server.capabilities.get_if_match else 200)
    current = _status(lambda: s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag))
    assert current == (304 if s3_server.capabilities.get_if_none_match else 200)
    assert _status(lambda: s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)) == 200


def test_racing_creators_of_one_key(s3_server: S3Server) -> None:
    """Eight writers create one key at once with If-None-Match, ten times over. Where the
    server honours the condition, every loser gets 412 and the object holds a winner's
    body; where it does not, all eight succeed. (Whether two can win is what
    ``conditional_create_atomic`` says: by moto's code they could, so that is not asserted.)"""
    s3 = s3_server.client(max_pool_connections=8)
    bucket = s3_server.new_bucket()
    for round_ in range(10):
        key = f"lease-{round_}"
        start = threading.Barrier(8, timeout=60)

        def create(writer: int, key: str = key, start: threading.Barrier = start) -> int:
            start.wait()
            body = f"writer {writer}".encode()
            return _status(
                lambda: s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            )

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(create, range(8)))
        winners = [w for w, status in enumerate(statuses) if status == 200]
        assert set(statuses) <= {200, 412}
        assert _body(s3, bucket, key) in {f"writer {w}".encode() for w in winners}
        if s3_server.capabilities.put_if_none_match:
            assert winners, statuses
        else:
            assert len(winners) == 8


def test_checksums(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        value = request.headers.get("x-amz-checksum-sha256", b"")
        sent.append(value.decode() if isinstance(value, bytes) else value)

    s3.meta.events.register("before-send.s3.PutObject", record)
    body = b"checked body"
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    stored = got.get("ChecksumSHA256")
    assert (stored == sent[0] and bool(stored)) == s3_server.capabilities.stores_checksums
    wrong = "A" * 43 + "="
    status = _status(lambda: s3.put_object(Bucket=bucket, Key="w", Body=body, ChecksumSHA256=wrong))
    assert sent[-1] == wrong  # boto3 sent the wrong value as given
    assert status == (400 if s3_server.capabilities.verifies_sent_checksum else 200)


def test_a_subprocess_reaches_it_through_boto3_configuration_alone(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    s3_server.client().put_object(Bucket=bucket, Key="from-test", Body=b"hello")
    code = (
        "import boto3, sys; s3 = boto3.client('s3'); b = sys.argv[1]; "
        "s3.put_object(Bucket=b, Key='from-child', Body=b'child'); "
        "print(s3.get_object(Bucket=b, Key='from-test')['Body'].read().decode())"
    )
    env = s3_server.env({**os.environ, "AWS_PROFILE": "someone-elses", "HOME": "/nonexistent"})
    done = subprocess.run(
        [sys.executable, "-c", code, bucket],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello"
    assert _body(s3_server.client(), bucket, "from-child") == b"child"
    assert s3_server.toil_env()["TOIL_S3_PORT"] == str(s3_server.port)


_NO_RETRIES = {"retries": {"total_max_attempts": 1}, "connect_timeout": 1, "read_timeout": 1}


@pytest.mark.parametrize("kind", ["moto", "s3rver"])
def test_restart_on_the_same_port(kind: str, s3_server_factory: Callable[..., S3Server]) -> None:
    server = s3_server_factory(kind)
    bucket = server.new_bucket()
    server.client().put_object(Bucket=bucket, Key="k", Body=b"kept?")
    port = server.port
    server.restart()
    assert server.running and server.port == port
    s3 = server.client()
    kept = _status(lambda: s3.get_object(Bucket=bucket, Key="k")) == 200
    assert kept == server.capabilities.restart_keeps_data
    if kept:
        assert _body(s3, bucket, "k") == b"kept?"
    fresh = server.new_bucket()
    s3.put_object(Bucket=fresh, Key="after", Body=b"restart")
    assert _body(s3, fresh, "after") == b"restart"


@pytest.mark.parametrize("kind", ["moto", "s3rver"])
def test_an_outage_refuses_requests_until_the_server_is_back(
    kind: str, s3_server_factory: Callable[..., S3Server]
) -> None:
    from botocore.exceptions import EndpointConnectionError

    server = s3_server_factory(kind)
    bucket = server.new_bucket()
    s3 = server.client(**_NO_RETRIES)
    back = server.stop_for(1.5)
    with pytest.raises(EndpointConnectionError):
        s3.list_buckets()
    back.join(timeout=60)
    assert server.running
    fresh = server.new_bucket()
    s3.put_object(Bucket=fresh, Key="k", Body=b"back")
    assert _body(s3, fresh, "k") == b"back"
    has_bucket = _status(lambda: s3.head_bucket(Bucket=bucket)) == 200
    assert has_bucket == server.capabilities.restart_keeps_data


@pytest.mark.parametrize("kind", ["moto", "s3rver"])
def test_a_paused_server_hangs_requests_and_keeps_its_data(
    kind: str, s3_server_factory: Callable[..., S3Server]
) -> None:
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    server = s3_server_factory(kind)
    bucket = server.new_bucket()
    s3 = server.client(**_NO_RETRIES)
    s3.put_object(Bucket=bucket, Key="k", Body=b"frozen")
    server.pause()
    try:
        with pytest.raises((ReadTimeoutError, ConnectTimeoutError)):
            s3.get_object(Bucket=bucket, Key="k")
    finally:
        server.resume()
    assert _body(s3, bucket, "k") == b"frozen"
