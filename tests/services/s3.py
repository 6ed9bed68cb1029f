"""Two independent S3-compatible servers as real processes, for tests and by hand.

- **moto** in server mode (``moto_server``, Python, moto 5.2.5): keeps everything in memory.
- **s3rver** (npm 3.7.1, Node.js): keeps buckets and objects as files under its directory.

Both are installed on first use into a cache outside the project (``tests/services/
toolcache.py``), listen on one address (127.0.0.1 unless told otherwise, e.g. the host side
of a veth pair from ``tests/services/netns.py``) on a port picked free at start, and keep
their state under the server's directory. ``S3Server.env()`` gives the variables through
which boto3's own configuration chain reaches the server (a worker process needs no code of
ours to find it); ``S3Server.toil_env()`` gives Toil's ``TOIL_S3_HOST/PORT/USE_SSL`` instead.

What each server does with what the S3 job store relies on (measured on these versions by
``tests/services/test_s3_servers.py``, which asserts every row for both servers, so this
table cannot drift from the servers' behaviour)::

    behaviour (S3 API)                                        moto 5.2.5   s3rver 3.7.1
    PutObject If-None-Match: * on an existing key -> 412      yes          no (overwrites)
    PutObject If-Match: ETAG, other ETag -> 412, absent -> 404 yes         no (overwrites)
    CompleteMultipartUpload If-None-Match: * existing -> 412  yes          no (overwrites)
    DeleteObject If-Match: other ETag -> 412                  yes          no (deletes)
    CopyObject If-None-Match: * on an existing key -> 412     no           no
    GetObject If-Match: other ETag -> 412                     yes          no (returns it)
    GetObject If-None-Match: current ETag -> 304              yes          yes
    conditional create atomic under concurrent writers        not by code  -
    multipart ETag in S3's form (md5 of part md5s, "-N")      yes          no (md5 of all)
    stores and returns x-amz-checksum-* (ChecksumMode)        yes          no
    refuses a wrong x-amz-checksum-sha256 on PutObject        no           no
    refuses DeleteObjects of more than 1000 keys (S3 does)    no           no
    ListObjectsV2 pages of 1000 with continuation tokens      yes          yes (*)
    ListParts / ListMultipartUploads / AbortMultipartUpload   yes          no (405/501)
    CreateBucket of an existing bucket -> 409                 no (200)     yes
    restart on the same port keeps the data                   no           yes

"Not by code": moto checks the condition and then writes in two steps with no lock between
them (``moto/s3/responses.py``, ``put_object``), so two racing creators could both win;
300 rounds of 8 racing creators never showed two winners here, but nothing guarantees it.
Real S3 makes these conditional writes atomic. The S3 job store therefore can count on
create-if-absent (leader lease, one result per attempt) only on moto among these two, and
must say what it does on a server without it (s3rver accepts the headers and ignores them).

(*) s3rver makes continuation tokens with DES, which Node.js 17+ (OpenSSL 3) has only in its
legacy provider: without ``--openssl-legacy-provider`` (which ``start`` passes) a listing of
more than one page fails with InternalError ``ERR_OSSL_EVP_UNSUPPORTED``.

Restart with data: moto's server keeps its state in memory. Its recorder
(``MOTO_ENABLE_RECORDING``, then ``/moto-api/recorder/replay-recording`` on a new server)
cannot stand in: it appends each request as a JSON line and a newline in two writes with no
lock, so parallel part uploads interleave lines (seen with 4 parallel 5 MiB parts; the replay
then stops at the first broken line with a JSONDecodeError). So ``restart()`` of moto gives
an empty server (``capabilities.restart_keeps_data`` is False); for "the server stopped for
20 s and started again" use s3rver, or ``pause()``/``resume()`` (SIGSTOP/SIGCONT: requests
hang instead of being refused, and any server keeps its memory).

Usage by hand::

    python -m tests.services.s3 start [moto|s3rver] DIR [HOST]   # prints export lines
    python -m tests.services.s3 stop DIR
    python -m tests.services.s3 with [moto|s3rver] -- COMMAND...   # start, run, stop

No pytest import here; the fixtures live in ``tests/services/fixtures.py``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.services import serverproc, toolcache
from tests.services.serverproc import Served

KINDS = ("moto", "s3rver")
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Capabilities:
    """What one server does where S3 implementations differ (see the module's table)."""

    put_if_none_match: bool
    """PutObject with ``If-None-Match: *`` fails with 412 when the key exists."""
    put_if_match: bool
    """PutObject with ``If-Match: ETAG`` fails with 412 on another ETag, 404 on no key."""
    complete_multipart_if_none_match: bool
    """CompleteMultipartUpload with ``If-None-Match: *`` fails with 412 when the key exists."""
    delete_if_match: bool
    """DeleteObject with ``If-Match`` fails with 412 on another ETag."""
    copy_if_none_match: bool
    """CopyObject with ``If-None-Match: *`` fails with 412 when the target exists."""
    get_if_match: bool
    """GetObject with ``If-Match`` fails with 412 on another ETag."""
    get_if_none_match: bool
    """GetObject with ``If-None-Match`` on the current ETag answers 304."""
    conditional_create_atomic: bool
    """Create-if-absent holds under concurrent writers by construction (as on S3)."""
    multipart_etag_s3_form: bool
    """A multipart object's ETag is the md5 of its parts' md5s with ``-N`` (as on S3)."""
    stores_checksums: bool
    """``x-amz-checksum-*`` values are kept and returned with ``ChecksumMode=ENABLED``."""
    verifies_sent_checksum: bool
    """A PutObject whose ``x-amz-checksum-sha256`` does not match its body is refused."""
    limits_delete_objects: bool
    """DeleteObjects of more than 1000 keys is refused (S3 refuses it with MalformedXML)."""
    lists_parts: bool
    """ListParts of an unfinished multipart upload works (else 405 MethodNotAllowed)."""
    lists_multipart_uploads: bool
    """ListMultipartUploads works (else 501 NotImplemented)."""
    aborts_multipart_uploads: bool
    """AbortMultipartUpload works (else 405 MethodNotAllowed: the parts stay on disk)."""
    create_existing_bucket_refused: bool
    """CreateBucket of a bucket that exists fails with 409 (S3 in us-east-1 answers 200 to
    its owner, so CreateBucket is no create-if-absent there either)."""
    restart_keeps_data: bool
    """After ``restart()`` on the same port, buckets and objects are still there."""


CAPABILITIES: dict[str, S3Capabilities] = {
    "moto": S3Capabilities(
        put_if_none_match=True,
        put_if_match=True,
        complete_multipart_if_none_match=True,
        delete_if_match=True,
        copy_if_none_match=False,
        get_if_match=True,
        get_if_none_match=True,
        conditional_create_atomic=False,
        multipart_etag_s3_form=True,
        stores_checksums=True,
        verifies_sent_checksum=False,
        limits_delete_objects=False,
        lists_parts=True,
        lists_multipart_uploads=True,
        aborts_multipart_uploads=True,
        create_existing_bucket_refused=False,
        restart_keeps_data=False,
    ),
    "s3rver": S3Capabilities(
        put_if_none_match=False,
        put_if_match=False,
        complete_multipart_if_none_match=False,
        delete_if_match=False,
        copy_if_none_match=False,
        get_if_match=False,
        get_if_none_match=True,
        conditional_create_atomic=False,
        multipart_etag_s3_form=False,
        stores_checksums=False,
        verifies_sent_checksum=False,
        limits_delete_objects=False,
        lists_parts=False,
        lists_multipart_uploads=False,
        aborts_multipart_uploads=False,
        create_existing_bucket_refused=True,
        restart_keeps_data=True,
    ),
}

# moto accepts any key pair; s3rver checks signatures against this one only.
_CREDENTIALS = {"moto": ("moil-test", "moil-test-secret"), "s3rver": ("S3RVER", "S3RVER")}


@dataclass
class S3Server(Served):
    """A running S3-compatible server. Stop, restart (same address), pause and resume it
    through the methods of ``Served``; ``capabilities`` says what it honours (whether a
    restart keeps its data too)."""

    kind: str
    access_key: str
    secret_key: str
    region: str = REGION
    _client: Any = field(default=None, repr=False)

    @property
    def capabilities(self) -> S3Capabilities:
        return CAPABILITIES[self.kind]

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The variables through which boto3 (and so a worker process) reaches this server:
        ``AWS_ENDPOINT_URL`` (and ``_S3``), the key pair, the region, a config file with
        path-style addressing, an empty credentials file, no instance metadata lookups.
        With ``base``, the result is ``base`` with its other ``AWS_*`` and ``TOIL_S3_*``
        variables removed (a developer's own profile must not leak in) plus these."""
        settings = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            **self._credential_env(),
        }
        return settings if base is None else {**_without_aws(base), **settings}

    def toil_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Like ``env`` but naming the endpoint with Toil's ``TOIL_S3_HOST``,
        ``TOIL_S3_PORT`` and ``TOIL_S3_USE_SSL`` instead of ``AWS_ENDPOINT_URL``."""
        settings = {
            "TOIL_S3_HOST": self.host,
            "TOIL_S3_PORT": str(self.port),
            "TOIL_S3_USE_SSL": "False",
            **self._credential_env(),
        }
        return settings if base is None else {**_without_aws(base), **settings}

    def exports(self) -> dict[str, str]:
        return self.env()

    def _credential_env(self) -> dict[str, str]:
        config, credentials = self.base_dir / "aws-config", self.base_dir / "aws-credentials"
        if not config.exists():
            config.write_text(
                f"[default]\nregion = {self.region}\ns3 =\n    addressing_style = path\n"
            )
            credentials.write_text("")
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server; ``config`` goes to ``botocore.config.Config``
        (``retries``, ``connect_timeout``, ``max_pool_connections``...). Without ``config``,
        one client shared by every caller (boto3 clients are thread-safe; making one costs
        ~0.1-0.3 s here)."""
        if not config:
            if self._client is None:
                self._client = self._new_client({})
            return self._client
        return self._new_client(config)

    def _new_client(self, config: dict[str, Any]) -> Any:
        import boto3
        from botocore.config import Config

        settings: dict[str, Any] = {"s3": {"addressing_style": "path"}, **config}
        session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        return session.client("s3", endpoint_url=self.endpoint_url, config=Config(**settings))

    def new_bucket(self, prefix: str = "moil-test") -> str:
        """Create a bucket with a name of its own and return the name (tests sharing one
        server each take their own bucket)."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


def _without_aws(base: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in base.items() if not k.startswith(("AWS_", "TOIL_S3_"))}


def ensure_installed(kind: str) -> None:
    """Install the server program of ``kind`` if missing (raises toolcache.ToolUnavailable)."""
    if kind == "moto":
        toolcache.venv_program("moto_server")
    else:
        toolcache.node_package("s3rver")


def start(
    kind: str,
    base_dir: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 60.0,
) -> S3Server:
    """Start a ``kind`` server (``moto`` or ``s3rver``) on ``host`` with its state under
    ``base_dir`` and wait until it answers. Raises toolcache.ToolUnavailable if it cannot be
    installed, serverproc.ServiceFailed (with its log's tail) if it does not come up."""
    if kind not in KINDS:
        raise ValueError(f"unknown S3 server {kind!r}; known: {', '.join(KINDS)}")
    base = Path(base_dir).resolve()
    (base / "tmp").mkdir(parents=True, exist_ok=True)
    port = port or serverproc.free_port(host)
    # moto spills large objects to temporary files: keep them under the server's directory.
    env = {**os.environ, "TMPDIR": str(base / "tmp")}
    if kind == "moto":
        argv = [str(toolcache.venv_program("moto_server")), "-H", host, "-p", str(port)]
    else:
        script = toolcache.node_package("s3rver") / "bin" / "s3rver.js"
        (base / "data").mkdir(exist_ok=True)
        argv = [toolcache.node(), "--openssl-legacy-provider", str(script)]
        argv += ["--address", host, "--port", str(port), "--directory", str(base / "data")]
        argv += ["--silent"]
    process = serverproc.launch(kind, argv, base, host, port, env=env, timeout=timeout)
    access_key, secret_key = _CREDENTIALS[kind]
    return S3Server(process, kind, access_key, secret_key)


if __name__ == "__main__":
    sys.exit(serverproc.main("s3", KINDS, start))
