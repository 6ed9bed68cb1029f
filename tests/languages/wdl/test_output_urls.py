"""Task and workflow outputs built from a URL string are fetched once into the job store and
exported like any other output file; 404/410 make an optional output null and a required one
an error; any other failing status fails the run. A real HTTP server on 127.0.0.1 answers
with a status chosen per path."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from tests.languages.conftest import RunCommand

STATUS = {
    "/ok.txt": 200,
    "/missing": 404,
    "/gone": 410,
    "/broken": 500,
    "/bad-gateway": 502,
    "/pay": 402,
    "/teapot": 418,
}
BODY = b"fetched from the server\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        status = STATUS.get(self.path, 404)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        self.send_response(status)
        self.send_header("Content-Length", str(len(BODY) if status == 200 else 0))
        self.end_headers()
        if status == 200:
            self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, int]]]:
    """The server's base URL and the number of requests per path."""
    hits: ClassVar[dict[str, int]] = {}
    handler = type("Handler", (_Handler,), {"hits": hits})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    thread.join()


def _doc(tmp_path: Path, base: str, task_outputs: str, workflow_outputs: str) -> str:
    (tmp_path / "urls.wdl").write_text(
        f"""\
version 1.1
task t {{
  command <<< true >>>
  output {{ {task_outputs} }}
}}
workflow w {{
  call t
  output {{ {workflow_outputs} }}
}}
""".replace("BASE", base)
    )
    return "urls.wdl"


def test_url_outputs_are_fetched_and_exported(
    run_wdl: RunCommand, tmp_path: Path, server: tuple[str, dict[str, int]]
) -> None:
    base, hits = server
    doc = _doc(
        tmp_path,
        base,
        'File ok = "BASE/ok.txt"  File? missing = "BASE/missing"',
        'File ok = "BASE/ok.txt"  File? gone = "BASE/gone"  Array[File?] some = '
        '["BASE/ok.txt", "BASE/missing"]  File task_ok = t.ok  File? task_missing = t.missing',
    )
    result = run_wdl("--container", "none", "-o", "out", doc)
    assert result.code == 0, result.stderr
    out = result.outputs
    assert out["w.gone"] is None and out["w.task_missing"] is None
    assert out["w.some"][1] is None
    for path in (out["w.ok"], out["w.task_ok"], out["w.some"][0]):
        assert Path(path).is_relative_to(tmp_path / "out"), path
        assert Path(path).read_bytes() == BODY
        assert Path(path).name == "ok.txt"
    # once by the task, once by the workflow's outputs (one fetch for its two uses)
    assert hits["/ok.txt"] == 2


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("missing", "404: there is no such file"),
        ("gone", "410: there is no such file"),
        ("broken", "500 Internal Server Error"),
        ("bad-gateway", "502 Bad Gateway"),
        ("pay", "402 Payment Required"),
        ("teapot", "418"),
    ],
)
def test_required_url_output_that_fails_fails_the_run(
    run_wdl: RunCommand, tmp_path: Path, server: tuple[str, dict[str, int]], path: str, answer: str
) -> None:
    base, _ = server
    doc = _doc(tmp_path, base, "", f'File f = "BASE/{path}"')
    result = run_wdl("--container", "none", "-o", "out", doc)
    assert result.code == 1, result.stderr
    assert f"output f: {base}/{path} answered {answer}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("path", ["broken", "pay", "teapot"])
def test_optional_url_output_fails_on_errors_other_than_missing(
    run_wdl: RunCommand, tmp_path: Path, server: tuple[str, dict[str, int]], path: str
) -> None:
    base, _ = server
    doc = _doc(tmp_path, base, f'File? f = "BASE/{path}"', "File? f = t.f")
    result = run_wdl("--container", "none", "-o", "out", doc)
    assert result.code == 1, result.stderr
    assert f"output f: {base}/{path} answered" in result.stderr


def test_required_task_output_url_missing_is_an_error(
    run_wdl: RunCommand, tmp_path: Path, server: tuple[str, dict[str, int]]
) -> None:
    base, _ = server
    doc = _doc(tmp_path, base, 'File f = "BASE/gone"', "File f = t.f")
    result = run_wdl("--container", "none", "-o", "out", doc)
    assert result.code == 1, result.stderr
    assert f"output f: {base}/gone answered 410" in result.stderr
