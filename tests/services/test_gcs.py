"""The GCS emulator the ``gs://`` URLs will be tested against, through its JSON API with
plain HTTP and through the google-cloud-storage client (run from the services venv)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.services import toolcache
from tests.services.gcs import GcsServer

pytestmark = pytest.mark.gcs

_CLIENT_PROGRAM = """
import os, sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.api_core.exceptions import NotFound
client = storage.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials())
bucket = client.bucket(sys.argv[1])
print(bucket.blob("from-http.txt").download_as_bytes().decode())
big = os.urandom(12 * 1024 * 1024)
blob = bucket.blob("big.bin", chunk_size=5 * 1024 * 1024)  # resumable, in 3 requests
blob.upload_from_string(big)
assert bucket.blob("big.bin").download_as_bytes() == big
bucket.blob("dir/small").upload_from_string(b"small")
print(sorted(b.name for b in client.list_blobs(sys.argv[1])))
bucket.blob("dir/small").delete()
try:
    bucket.blob("dir/small").download_as_bytes()
except NotFound:
    print("deleted")
bucket.blob("from-http.txt").upload_from_string(b"again", if_generation_match=0)
print(bucket.blob("from-http.txt").download_as_bytes().decode())
"""


def test_json_api_over_plain_http(gcs_server: GcsServer) -> None:
    gcs_server.create_bucket("plain-http")
    data = os.urandom(3 * 1024 * 1024)
    made = gcs_server.upload("plain-http", "dir/x y.bin", data)
    assert (made["name"], int(made["size"])) == ("dir/x y.bin", len(data))
    assert gcs_server.download("plain-http", "dir/x y.bin") == data
    listed = gcs_server.api("GET", "/storage/v1/b/plain-http/o?prefix=dir/")
    assert [item["name"] for item in listed["items"]] == ["dir/x y.bin"]


def test_google_cloud_storage_client(gcs_server: GcsServer) -> None:
    gcs_server.create_bucket("client")
    gcs_server.upload("client", "from-http.txt", b"hello from http")
    python = str(toolcache.venv_program("python"))
    env = {**os.environ, **gcs_server.env()}
    done = subprocess.run(
        [python, "-c", _CLIENT_PROGRAM, "client"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[:3] == [
        "hello from http",
        "['big.bin', 'dir/small', 'from-http.txt']",
        "deleted",
    ]
    # ifGenerationMatch=0 (create only if absent) is ignored: the object was overwritten.
    assert lines[3] == "again"
    assert gcs_server.download("client", "from-http.txt") == b"again"
