"""The ``aws:`` store through the real commands, on both S3 servers: a workflow runs with
everything in the bucket, and each unusable place is one line, exit 2, nothing left in S3.

The store's own promises (the shared contract) are in ``test_jobstore_contract.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.services.s3 import S3Server

pytestmark = pytest.mark.s3

REPO = Path(__file__).resolve().parents[2]
RUNNER = str(Path(sys.executable).with_name("toil-cwl-runner"))
WORKFLOW = [
    str(REPO / "examples/workflow/greet.cwl"),
    str(REPO / "examples/workflow/greet-job.yaml"),
]


def _run(
    server: S3Server, tmp_path: Path, locator: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = server.env(os.environ)
    environ["MOIL_S3_CACHE"] = str(tmp_path / "cache")
    environ.update(env or {})
    return subprocess.run(
        [RUNNER, "--jobStore", locator, "--outdir", str(tmp_path / "out"), *extra, *WORKFLOW],
        check=False,
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=300,
    )


def _keys(server: S3Server, bucket: str) -> list[str]:
    listing = server.client().list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_a_workflow_runs_in_the_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    s3_server.client().put_object(Bucket=bucket, Key="someone-else/data", Body=b"theirs")
    done = _run(
        s3_server, tmp_path, f"aws:{s3_server.region}:{bucket}/runs/one", "--clean", "never"
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "greetings.txt").read_text().count("Hello") == 4
    keys = _keys(s3_server, bucket)
    assert "runs/one/moil-job-store.json" in keys and "someone-else/data" in keys
    assert any(k.startswith("runs/one/journal/") for k in keys)
    assert any(k.startswith("runs/one/files/") for k in keys)
    assert not any(k.startswith("runs/one/in/") for k in keys)  # every hand-off cleared
    clean = subprocess.run(
        [
            str(Path(sys.executable).with_name("toil")),
            "clean",
            f"aws:{s3_server.region}:{bucket}/runs/one",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=s3_server.env(os.environ),
        timeout=120,
    )
    assert clean.returncode == 0, clean.stderr
    assert _keys(s3_server, bucket) == ["someone-else/data"]  # not ours: left alone


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-bucket", "the S3 bucket 'moil-no-such-bucket' does not exist at http://"),
        ("unreachable", "cannot reach the S3 endpoint http://127.0.0.1:9"),
        ("bad-locator", "is not a valid S3 bucket name"),
    ],
)
def test_an_unusable_place_is_one_line_exit_2(
    s3_server: S3Server, tmp_path: Path, case: str, message: str
) -> None:
    bucket = s3_server.new_bucket()
    locator = f"aws:{s3_server.region}:{bucket}/run"
    env: dict[str, str] = {}
    if case == "no-bucket":
        locator = f"aws:{s3_server.region}:moil-no-such-bucket"
    elif case == "unreachable":
        env = {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
            "MOIL_S3_MAX_ATTEMPTS": "2",
        }
    elif case == "bad-locator":
        locator = f"aws:{s3_server.region}:Not_A_Bucket"
    _refused(s3_server, tmp_path, bucket, locator, env, message)


def _refused(
    server: S3Server, tmp_path: Path, bucket: str, locator: str, env: dict[str, str], message: str
) -> None:
    done = _run(server, tmp_path, locator, env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert _keys(server, bucket) == []
    assert not (tmp_path / "out").exists()


def test_refused_credentials_are_one_line_exit_2(s3rver_s3: S3Server, tmp_path: Path) -> None:
    """On s3rver (moto accepts every key pair: it has no accounts). s3rver checks the key's
    ID, not the signature."""
    bucket = s3rver_s3.new_bucket()
    env = {"AWS_ACCESS_KEY_ID": "nobody-we-know", "AWS_SECRET_ACCESS_KEY": "wrong"}
    _refused(
        s3rver_s3,
        tmp_path,
        bucket,
        f"aws:{s3rver_s3.region}:{bucket}/run",
        env,
        "refused access to the bucket",
    )


def test_toil_endpoint_variables(moto_s3: S3Server, tmp_path: Path) -> None:
    """TOIL_S3_HOST/PORT/USE_SSL name the endpoint when boto3's own variables do not."""
    bucket = moto_s3.new_bucket()
    environ = moto_s3.toil_env(os.environ)
    environ["MOIL_S3_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run(
        [
            RUNNER,
            "--jobStore",
            f"aws:{moto_s3.region}:{bucket}",
            "--outdir",
            str(tmp_path / "out"),
            "--clean",
            "never",
            *WORKFLOW,
        ],
        check=False,
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "moil-job-store.json" in _keys(moto_s3, bucket)


GRAPH200 = REPO / "tests" / "runner" / "scripts" / "graph200.py"


def _graph_leader(
    server: S3Server, tmp_path: Path, bucket: str, done: int
) -> tuple[subprocess.Popen[str], list[str], dict[str, str], Path]:
    """graph200.py (200 jobs, each leaving a file in RUNS) on an aws: store, once ``done``
    jobs have run: (leader, its argv, its environment, RUNS)."""
    import time

    runs = tmp_path / "runs"
    runs.mkdir()
    environ = server.env(os.environ)
    environ["MOIL_S3_CACHE"] = str(tmp_path / "cache")
    argv = [
        sys.executable,
        str(GRAPH200),
        f"aws:{server.region}:{bucket}/graph",
        str(runs),
        "--logLevel",
        "WARNING",
    ]
    leader = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ
    )
    deadline = time.monotonic() + 180
    while len(os.listdir(runs)) < done and time.monotonic() < deadline:
        assert leader.poll() is None, leader.communicate()
        time.sleep(0.01)
    return leader, argv, environ, runs


@pytest.mark.slow
def test_sigkill_leader_then_restart_on_aws(moto_s3: S3Server, tmp_path: Path) -> None:
    """As on file: (tests/runner/test_restart.py): the restart starts at once (the dead
    leader's lease object is freed: it ran on this host and its process is gone) and no
    finished job runs again. On moto only (s3rver has the outage test below), to keep
    ``make test`` short."""
    s3_server = moto_s3
    import signal

    import psutil

    bucket = s3_server.new_bucket()
    leader, argv, environ, runs = _graph_leader(s3_server, tmp_path, bucket, 60)
    workers = psutil.Process(leader.pid).children(recursive=True)
    leader.send_signal(signal.SIGKILL)
    leader.wait()
    assert 0 < len(os.listdir(runs)) < 200, "the kill must land in the middle of the run"
    psutil.wait_procs(workers, timeout=30)
    assert "graph/lease" in _keys(s3_server, bucket)  # what the killed leader left

    result = subprocess.run(
        [*argv, "--restart"], capture_output=True, text=True, env=environ, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "TOTAL 180" in result.stdout
    names = [name.split(".")[0] for name in os.listdir(runs)]
    assert len(set(names)) == 200 and len(names) == 200, "a finished job ran again"
    assert _keys(s3_server, bucket) == []  # the store is gone after the successful restart


@pytest.mark.slow
def test_the_server_stopped_for_20_s_mid_run(s3_server_factory: Any, tmp_path: Path) -> None:
    """s3rver (it keeps its data over a restart) stopped for 20 s while the run goes on:
    requests are retried with backoff and the run finishes with the right result."""
    server: S3Server = s3_server_factory("s3rver")
    leader, _argv, _environ, runs = _graph_leader(server, tmp_path, server.new_bucket(), 40)
    back = server.stop_for(20)
    out, err = leader.communicate(timeout=600)
    back.join()
    assert leader.returncode == 0, err
    assert "TOTAL 180" in out
    assert len({name.split(".")[0] for name in os.listdir(runs)}) == 200


def _status_requests(server: S3Server, tmp_path: Path, items: int) -> list[str]:
    """The S3 requests of one ``toil status`` of a finished scatter of ``items`` jobs."""
    bucket = server.new_bucket()
    locator = f"aws:{server.region}:{bucket}/scatter"
    job = tmp_path / f"job-{items}.json"
    job.write_text(json.dumps({"names": [f"n{i}" for i in range(items)]}))
    environ = server.env(os.environ)
    environ["MOIL_S3_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run(
        [
            RUNNER,
            "--jobStore",
            locator,
            "--clean",
            "never",
            "--outdir",
            str(tmp_path / f"out-{items}"),
            WORKFLOW[0],
            str(job),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    request_log = tmp_path / f"status-{items}.requests"
    environ["MOIL_S3_REQUEST_LOG"] = str(request_log)
    status = subprocess.run(
        [str(Path(sys.executable).with_name("toil")), "status", locator],
        check=False,
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert f"{items + 4} in all" in status.stdout, status.stdout
    return sorted(line.split()[0] for line in request_log.read_text().splitlines())


def test_toil_status_costs_the_same_requests_for_2_or_30_jobs(
    moto_s3: S3Server, tmp_path: Path
) -> None:
    """``toil status`` of an aws: store reads a few blobs, never one object per job."""
    few, many = (_status_requests(moto_s3, tmp_path, n) for n in (2, 30))
    assert few == many and len(few) <= 8, (few, many)


def test_destroy_never_lists_while_it_deletes(
    moto_s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``toil clean`` of 100,000 objects on moto failed (500 on ListObjectsV2) when one area
    was listed while another was deleted: the server iterates the bucket's keys while
    another thread deletes from them. Every DeleteObjects error is also checked."""
    import threading
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from backends.jobstore.s3 import S3JobStore

    bucket = moto_s3.new_bucket()
    for name, value in moto_s3.env({}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MOIL_S3_CACHE", str(tmp_path / "cache"))
    store = S3JobStore("aws", f"{moto_s3.region}:{bucket}/big")
    store.create()
    s3 = moto_s3.client(max_pool_connections=32)
    keys = [f"big/files/{uuid.uuid4().hex}/f.txt" for _ in range(1200)]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b"x"), keys))
    s3.put_object(Bucket=bucket, Key="big-not-ours/x", Body=b"theirs")
    lock, busy, overlaps = threading.Lock(), {"list": 0, "delete": 0}, []

    def hook(kind: str, other: str, step: int) -> Any:
        def note(**_: Any) -> None:
            with lock:
                if step > 0 and busy[other]:
                    overlaps.append(kind)
                busy[kind] += step

        return note

    events = store.s3.meta.events
    for operation, kind, other in (
        ("ListObjectsV2", "list", "delete"),
        ("DeleteObjects", "delete", "list"),
    ):
        events.register(f"before-call.s3.{operation}", hook(kind, other, 1))
        events.register(f"after-call.s3.{operation}", hook(kind, other, -1))
    store.destroy()
    assert overlaps == []
    assert _keys(moto_s3, bucket) == ["big-not-ours/x"]


def test_a_cached_file_is_read_with_no_request(
    moto_s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written or read once on a host is read again there from the cache, without
    even a HEAD (a stored file never changes); a damaged cached copy is fetched again."""
    from backends.jobstore.s3 import S3JobStore

    bucket = moto_s3.new_bucket()
    for name, value in moto_s3.env({}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MOIL_S3_CACHE", str(tmp_path / "cache"))
    writer = S3JobStore("aws", f"{moto_s3.region}:{bucket}")
    writer.create()
    file_id, stream = writer.write_stream("a.txt")
    with stream:
        stream.write(b"cached bytes")
    reader = S3JobStore("aws", f"{moto_s3.region}:{bucket}")
    sent: list[str] = []
    reader.s3.meta.events.register("before-call.s3", lambda model, **_: sent.append(model.name))
    for _ in range(3):
        with reader.open_read(file_id) as got:
            assert got.read() == b"cached bytes"
    assert sent == []
    path = reader.local_path(file_id)
    assert path is not None
    os.chmod(path, 0o600)
    with open(path, "ab") as damaged:  # a consumer wrote into a hard link of the copy
        damaged.write(b"!")
    with reader.open_read(file_id) as got:
        assert got.read() == b"cached bytes"
    assert sent == ["HeadObject", "GetObject"]
