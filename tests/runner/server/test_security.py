"""``toil server`` with a bearer token and a small attachment limit: every endpoint but
service-info wants the token, the page's shell does not (it holds no data), oversized
submissions are refused with 413, and the token never reaches a run's processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.wes import TOKEN_ENV, WesServer, submit

TOKEN = "tok-" + "x" * 20
SCRIPT = b"""import os
print("token seen by the run:", os.environ.get("%s"))
""" % TOKEN_ENV.encode()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WesServer]:
    work = tmp_path_factory.mktemp("guarded")
    server = WesServer(
        work,
        args=["--max_attachment_size", "4K"],
        env={**os.environ, TOKEN_ENV: TOKEN},
        token=TOKEN,
    )
    server.start()
    yield server
    server.stop()


def test_every_endpoint_but_service_info_wants_the_token(guarded: WesServer) -> None:
    assert guarded.call("GET", "/service-info", auth=False)[0] == 200
    for path in (
        "/runs",
        "/runs/x",
        "/runs/x/status",
        "/runs/x/tasks",
        "/runs/x/stderr",
        "/overview",
        "/version",
    ):
        status, body = guarded.call("GET", path, auth=False)
        assert status == 401 and body["status_code"] == 401, (path, body)
        wrong = guarded.call(
            "GET", path, auth=False, headers={"Authorization": "Bearer not-the-token"}
        )
        assert wrong[0] == 401, path
    assert guarded.call("POST", "/runs/x/cancel", auth=False)[0] == 401
    assert guarded.call("GET", "/runs")[0] == 200
    status, _ = submit(
        guarded,
        {"workflow_type": "PY", "workflow_type_version": "3", "workflow_url": "a.py"},
        [("a.py", b"print(1)\n")],
        auth=False,
    )
    assert status == 401
    import urllib.request

    with urllib.request.urlopen(guarded.url + "/", timeout=30) as page:
        assert page.status == 200 and b"moil WES server" in page.read()


def test_oversized_submissions_are_refused(guarded: WesServer) -> None:
    status, body = submit(
        guarded,
        {"workflow_type": "PY", "workflow_type_version": "3", "workflow_url": "a.py"},
        [("a.py", b"print(1)\n"), ("big.bin", b"0" * 8192)],
    )
    assert status == 413 and "limit" in body["msg"], body
    assert os.listdir(guarded.work / "runs") == ["state"], "nothing kept"


def test_the_token_does_not_reach_the_runs(guarded: WesServer) -> None:
    status, body = submit(
        guarded,
        {"workflow_type": "PY", "workflow_type_version": "3", "workflow_url": "env.py"},
        [("env.py", SCRIPT)],
    )
    assert status == 200, body
    assert guarded.wait(body["run_id"]) == "COMPLETE"
    out = guarded.get(f"/runs/{body['run_id']}/stdout")
    assert "token seen by the run: None" in out
    records = Path(guarded.work / "runs" / "state" / "runs")
    assert all(TOKEN not in p.read_text() for p in records.iterdir())
