"""WDL inputs given as ``file:`` URIs in every form RFC 8089 allows (runner.userinput.fileuri)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.languages.conftest import RunCommand

DOC = """\
version 1.1
workflow w {
  input { File f  Array[File] more }
  output { String s = read_string(f)  Array[String] ss = [read_string(more[0])] }
}
"""


@pytest.mark.parametrize("form", ["file:{p}", "file://{p}", "file://localhost{p}", "FILE://{q}"])
def test_file_uri_inputs_are_read(run_wdl: RunCommand, tmp_path: Path, form: str) -> None:
    data = tmp_path / "my data#1"
    data.mkdir()
    (data / "in put.txt").write_text("content\n")
    path = str(data / "in put.txt")
    quoted = path.replace(" ", "%20").replace("#", "%23")
    uri = form.format(p=quoted, q=quoted)
    (tmp_path / "w.wdl").write_text(DOC)
    result = run_wdl("-o", "out", "w.wdl", json.dumps({"w.f": uri, "w.more": [uri]}))
    assert result.code == 0, result.stderr
    assert result.outputs == {"w.s": "content", "w.ss": ["content"]}


def test_file_uri_of_another_host_is_refused(run_wdl: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "w.wdl").write_text(DOC)
    uri = "file://elsewhere.example/etc/hostname"
    result = run_wdl("-o", "out", "w.wdl", json.dumps({"w.f": uri, "w.more": []}))
    assert result.code == 2, result.stderr
    assert "input w.f" in result.stderr and "elsewhere.example" in result.stderr
    assert "Traceback" not in result.stderr


def test_document_given_as_file_uri(run_wdl: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "w.wdl").write_text(DOC)
    (tmp_path / "a.txt").write_text("a\n")
    result = run_wdl(
        "-o", "out", f"file:{tmp_path}/w.wdl", json.dumps({"w.f": "a.txt", "w.more": ["a.txt"]})
    )
    assert result.code == 0, result.stderr
    assert result.outputs["w.s"] == "a"
