"""Loading documents and inputs: imports (paths and URLs), error messages, input keys."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from WDL import Tree

from languages.wdl.load import (
    InvalidDocument,
    InvalidInputs,
    find_target,
    load_document,
    parse_inputs,
    read_inputs_json,
)

LIB = """\
version 1.0
task greet {
  input { String who }
  command <<< echo "hello ~{who}" >>>
  output { String s = read_string(stdout()) }
}
"""

MAIN = """\
version 1.0
import "{where}" as lib
workflow main {{
  input {{ String who  File? f }}
  call lib.greet {{ input: who = who }}
  call lib.greet as again
}}
"""


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_relative_import(tmp_path: Path) -> None:
    (tmp_path / "lib.wdl").write_text(LIB)
    (tmp_path / "main.wdl").write_text(MAIN.format(where="lib.wdl"))
    doc = load_document(str(tmp_path / "main.wdl"))
    assert isinstance(find_target(doc), Tree.Workflow)


def test_url_document_with_relative_import(http_dir: tuple[Path, str]) -> None:
    root, url = http_dir
    (root / "lib.wdl").write_text(LIB)
    (root / "main.wdl").write_text(MAIN.format(where="lib.wdl"))
    doc = load_document(f"{url}/main.wdl")
    assert doc.imports[0].doc.tasks[0].name == "greet"


def test_syntax_error_has_position_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.wdl"
    path.write_text("version 1.0\nworkflow w {\n  Int x = \n}\n")
    with pytest.raises(InvalidDocument) as info:
        load_document(str(path))
    assert str(info.value).startswith(f"{path}:4:1:")


def test_compound_to_string_is_an_error_in_1_1_only(tmp_path: Path) -> None:
    text = 'workflow w {\n  output {\n    Array[String] a = [[1], "x"]\n  }\n}\n'
    (tmp_path / "old.wdl").write_text("version 1.0\n" + text)
    load_document(str(tmp_path / "old.wdl"))
    (tmp_path / "new.wdl").write_text("version 1.1\n" + text)
    with pytest.raises(InvalidDocument, match=r"new.wdl:4:24: .*compound"):
        load_document(str(tmp_path / "new.wdl"))


def test_inputs_keys_types_and_files(tmp_path: Path) -> None:
    (tmp_path / "lib.wdl").write_text(LIB)
    (tmp_path / "main.wdl").write_text(MAIN.format(where="lib.wdl"))
    target = find_target(load_document(str(tmp_path / "main.wdl")))
    (tmp_path / "x.txt").write_text("x")
    data, base = read_inputs_json('{"main.who": "you", "main.again.who": "me", "main.f": "x.txt"}')
    assert base is None
    env = parse_inputs(target, data, str(tmp_path))
    assert env["again.who"].value == "me"
    assert env["f"].value == str(tmp_path / "x.txt")
    with pytest.raises(InvalidInputs, match="main.greet.who"):
        parse_inputs(target, {"main.greet.who": "no"}, None)  # set by the call already
    with pytest.raises(InvalidInputs, match="main.again.who"):
        parse_inputs(target, {"main.who": "a"}, None)
    with pytest.raises(InvalidInputs, match="main.who"):
        parse_inputs(target, {"main.who": [1], "main.again.who": "b"}, None)
