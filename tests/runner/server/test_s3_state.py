"""``toil server --state_store s3://... --dest_bucket_base s3://...`` against the real local S3
servers (moto and s3rver, ``s3_server``): the runs' records live in the bucket, a SIGKILLed
server started again (on an empty state directory) knows every run from them, a queued run
still runs, and the finished runs' outputs are uploaded and named by their S3 URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runner.server.test_api import SLEEPS, cwl
from tests.services.s3 import S3Server
from tests.services.wes import ECHO_TOOL, WesServer, submit

pytestmark = [pytest.mark.wes, pytest.mark.s3]


def _objects(s3: S3Server, bucket: str, prefix: str) -> dict[str, bytes]:
    client = s3.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        str(o["Key"]): client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed
    }


def test_runs_survive_a_sigkill_in_the_s3_state_store_and_outputs_go_to_the_bucket(
    tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.new_bucket("moil-wes")
    args = [
        "--workers",
        "1",
        "--state_store",
        f"s3://{bucket}/wes",
        "--dest_bucket_base",
        f"s3://{bucket}/results",
    ]
    server = WesServer(tmp_path, args=args, env=s3_server.env(dict(os.environ)))
    server.start()
    try:
        status, body = submit(
            server, cwl("echo.cwl", {"msg": "to the bucket"}), [("echo.cwl", ECHO_TOOL.encode())]
        )
        assert status == 200, body
        done = body["run_id"]
        assert server.wait(done) == "COMPLETE"
        # one worker: a sleeper runs, and the run behind it waits QUEUED
        status, body = submit(server, cwl("sleeps.cwl"), [("sleeps.cwl", SLEEPS.encode())])
        sleeper = body["run_id"]
        status, body = submit(
            server, cwl("echo.cwl", {"msg": "queued"}), [("echo.cwl", ECHO_TOOL.encode())]
        )
        queued = body["run_id"]
        assert server.wait(sleeper, ("RUNNING",), timeout=60) == "RUNNING"
        assert server.get(f"/runs/{queued}/status")["state"] == "QUEUED"

        records = _objects(s3_server, bucket, "wes/runs/")
        assert sorted(records) == sorted(f"wes/runs/{r}.json" for r in (done, sleeper, queued))
        assert json.loads(records[f"wes/runs/{done}.json"])["state"] == "COMPLETE"
        assert not list((tmp_path / "runs" / "state").glob("**/*.json")), "records stay in S3"

        server.kill()
        server.start()
        status, body = server.call("POST", f"/runs/{sleeper}/cancel")
        assert (status, body["run_id"]) == (200, sleeper)
        assert server.wait(sleeper) == "CANCELED"
        assert server.wait(queued) == "COMPLETE"
        log = server.get(f"/runs/{done}")
        assert log["state"] == "COMPLETE"
        out = log["outputs"]["out"]
        assert out["location"] == f"s3://{bucket}/results/{done}/out.txt"
        assert "path" not in out
        uploaded = _objects(s3_server, bucket, "results/")
        assert uploaded == {
            f"results/{done}/out.txt": b"to the bucket\n",
            f"results/{queued}/out.txt": b"queued\n",
        }, "a canceled run uploads nothing"
    finally:
        server.stop()


@pytest.mark.parametrize("option", ["--state_store", "--dest_bucket_base"])
def test_a_missing_bucket_is_refused_at_start(
    tmp_path: Path, s3_server: S3Server, option: str
) -> None:
    toil = str(Path(sys.executable).parent / "toil")
    done = subprocess.run(
        [toil, "server", "--work_dir", str(tmp_path / "w"), option, "s3://moil-no-such-bucket/x"],
        env=s3_server.env(dict(os.environ)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"toil server: {option} s3://moil-no-such-bucket/x: the bucket " in done.stderr
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr
