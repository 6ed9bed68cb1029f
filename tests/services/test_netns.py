"""The "other host" for workers: it reaches an S3 server only over its veth pair, never
this host's 127.0.0.1, cannot see hidden directories, loses the server when cut off, and
leaves nothing behind (also after a failure or a crashed earlier run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.services import netns
from tests.services.netns import Host
from tests.services.s3 import S3Server

pytestmark = [pytest.mark.netns, pytest.mark.s3]

# Run on the other host: GET one object through boto3's configuration (AWS_ENDPOINT_URL),
# try a second endpoint given on the command line, look for a file; print what happened.
_PROBE = """
import json, os, sys
import boto3
from botocore.config import Config
config = Config(connect_timeout=2, read_timeout=2, retries={"total_max_attempts": 1})
def get(endpoint=None):
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, config=config)
        return s3.get_object(Bucket=sys.argv[1], Key="k")["Body"].read().decode()
    except Exception as exc:
        return type(exc).__name__
print(json.dumps({
    "own": get(),
    "loopback": get(sys.argv[2]) if sys.argv[2] != "-" else None,
    "marker": os.path.exists(sys.argv[3]),
}))
"""


def _probe(
    host: Host, server: S3Server, bucket: str, loopback: str, marker: Path
) -> dict[str, object]:
    argv = [sys.executable, "-c", _PROBE, bucket, loopback, str(marker)]
    done = host.run(argv, env=server.env(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.slow  # a server start, three Python starts there, a 2 s timeout: ~5 s
def test_reaches_s3_over_the_veth_only_and_not_when_cut(
    other_host: Host,
    s3_server_factory: Callable[..., S3Server],
    moto_s3: S3Server,
    tmp_path: Path,
) -> None:
    server = s3_server_factory("moto", host=other_host.address)
    bucket = server.new_bucket()
    server.client().put_object(Bucket=bucket, Key="k", Body=b"over the veth")
    local_bucket = moto_s3.new_bucket()  # same name not needed: it must not be reached at all
    marker = tmp_path / "job-store-marker"
    marker.write_text("the leader's")
    seen = _probe(other_host, server, bucket, moto_s3.endpoint_url, marker)
    assert seen == {"own": "over the veth", "loopback": "EndpointConnectionError", "marker": False}
    assert local_bucket  # the 127.0.0.1 server is up: it is the other host that cannot reach it

    other_host.cut()
    try:
        cut_off = _probe(other_host, server, bucket, "-", marker)
        assert cut_off["own"] in {"ConnectTimeoutError", "EndpointConnectionError"}
        # This host still reaches the server at the same address.
        assert server.client().get_object(Bucket=bucket, Key="k")["Body"].read() == b"over the veth"
    finally:
        other_host.restore()
    assert _probe(other_host, server, bucket, "-", marker)["own"] == "over the veth"


def test_hidden_and_visible_directories(tmp_path: Path) -> None:
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"no other host: {reason}; to enable, run the tests as root with iproute2")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "secret").write_text("leader only")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "input").write_text("for both\n")
    with netns.other_host(hidden=[tmp_path], visible=[tmp_path / "shared"]) as host:
        done = host.run(
            ["sh", "-c", "ls -A .; cat shared/input; echo x > own; ls -A"], cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split("\n") == ["shared", "for both", "own", "shared", ""]
        assert host.run(["cat", str(tmp_path / "store" / "secret")]).returncode != 0
        assert host.run(["pwd"], cwd=tmp_path / "store").returncode != 0
    assert not (tmp_path / "own").exists()  # the other host wrote on its own tmpfs
    assert (tmp_path / "store" / "secret").read_text() == "leader only"


def _namespaces() -> list[str]:
    return subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout.split()


def _link_exists(name: str) -> bool:
    return (
        subprocess.run(["ip", "link", "show", name], capture_output=True, check=False).returncode
        == 0
    )


def test_cleanup_after_a_failure_and_of_a_crashed_run() -> None:
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"no other host: {reason}; to enable, run the tests as root with iproute2")
    # A crashed run's leftovers: a namespace and link named after a process that is gone.
    gone = subprocess.Popen(["true"])
    gone.wait()
    crashed_ns, crashed_link = f"moilh-{gone.pid}-1", f"mh{gone.pid}-1"
    subprocess.run(["ip", "netns", "add", crashed_ns], check=True)
    subprocess.run(
        [
            "ip",
            "link",
            "add",
            crashed_link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            crashed_ns,
        ],
        check=True,
    )
    sleeper = None
    with pytest.raises(RuntimeError, match="the test failed"), netns.other_host([]) as host:
        assert crashed_ns not in _namespaces() and not _link_exists(crashed_link)
        sleeper = host.popen(["sleep", "600"])
        assert host.name in _namespaces() and _link_exists(host.link)
        raise RuntimeError("the test failed")
    assert sleeper is not None and sleeper.wait(timeout=10) != 0
    assert host.name not in _namespaces() and not _link_exists(host.link)
