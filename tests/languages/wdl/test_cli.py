"""``toil-wdl-runner`` as a user runs it: outputs, files, errors and exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RunWdl = Callable[..., Any]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


HELLO = """\
version 1.0

workflow write_simple_file {
  input {
    String message = "Hello world!"
  }
  call write_file { input: message = message }
  output { File out = write_file.out }
}

task write_file {
  input { String message }
  command <<<
    echo "~{message}" > output.txt
  >>>
  output { File out = "output.txt" }
}
"""


def test_hello_world_writes_its_file(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(tmp_path / "hello.wdl", HELLO)
    result = run_wdl(str(wdl), "-o", "out")
    assert result.code == 0, result.stderr
    path = Path(result.outputs["write_simple_file.out"])
    assert path.parent == tmp_path / "out"
    assert path.read_text() == "Hello world!\n"


def test_inputs_json_file_and_miniwdl_dialect(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(tmp_path / "hello.wdl", HELLO)
    inputs = write(tmp_path / "in.json", json.dumps({"write_simple_file.message": "hi"}))
    result = run_wdl(
        str(wdl), "-i", str(inputs), "-o", "o2", "--outputDialect", "miniwdl", "-m", "result.json"
    )
    assert result.code == 0, result.stderr
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["dir"] == str(tmp_path / "o2")
    assert Path(data["outputs"]["write_simple_file.out"]).read_text() == "hi\n"


SCATTER = """\
version 1.1

workflow sq {
  input { Array[Int] xs }
  scatter (x in xs) {
    call square { input: x = x }
    Int plus = square.y + 1
  }
  Int total = length(square.y)
  output {
    Array[Int] squares = square.y
    Array[Int] pluses = plus
    Int n = total
    Array[File] files = square.f
  }
}

task square {
  input { Int x }
  command <<<
    echo $(( ~{x} * ~{x} )) | tee sq.txt
  >>>
  output {
    Int y = read_int(stdout())
    File f = "sq.txt"
  }
}
"""


def test_scatter_gathers_in_order(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(tmp_path / "sq.wdl", SCATTER)
    result = run_wdl(str(wdl), json.dumps({"sq.xs": [3, 1, 2]}), "-o", "out")
    assert result.code == 0, result.stderr
    out = result.outputs
    assert out["sq.squares"] == [9, 1, 4]
    assert out["sq.pluses"] == [10, 2, 5]
    assert out["sq.n"] == 3
    assert [Path(p).read_text() for p in out["sq.files"]] == ["9\n", "1\n", "4\n"]
    assert len(set(out["sq.files"])) == 3


CONDITIONAL = """\
version 1.0

workflow cond {
  input { Boolean go  Int k = 2 }
  call echo_int as first { input: v = k }
  if (first.out > 1) {
    call echo_int as big { input: v = first.out * 10 }
  }
  if (go) {
    call echo_int as maybe { input: v = 7 }
  }
  output {
    Int? big_out = big.out
    Int? maybe_out = maybe.out
    Int picked = select_first([maybe.out, big.out])
  }
}

task echo_int {
  input { Int v }
  command <<< echo ~{v} >>>
  output { Int out = read_int(stdout()) }
}
"""


def test_if_taken_and_not_taken(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(tmp_path / "cond.wdl", CONDITIONAL)
    result = run_wdl(str(wdl), json.dumps({"cond.go": False}), "-o", "out")
    assert result.code == 0, result.stderr
    assert result.outputs == {"cond.big_out": 20, "cond.maybe_out": None, "cond.picked": 20}
    result = run_wdl(str(wdl), json.dumps({"cond.go": True, "cond.k": 1}), "-o", "out2")
    assert result.code == 0, result.stderr
    assert result.outputs == {"cond.big_out": None, "cond.maybe_out": 7, "cond.picked": 7}


def test_type_error_names_file_line_and_column(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(
        tmp_path / "bad.wdl",
        "version 1.0\nworkflow w {\n  input { Int n }\n  Array[Int] a = n\n}\n",
    )
    result = run_wdl(str(wdl), json.dumps({"w.n": 1}))
    assert result.code == 2
    assert f"{wdl}:4:18: Expected Array[Int] instead of Int" in result.stderr
    assert "Array[Int] a = n" in result.stderr


def test_missing_input_names_the_key(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(
        tmp_path / "hello.wdl", HELLO.replace('String message = "Hello world!"', "String message")
    )
    result = run_wdl(str(wdl))
    assert result.code == 2
    assert "write_simple_file.message" in result.stderr
    assert "missing" in result.stderr


def test_unknown_input_names_the_key(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(tmp_path / "hello.wdl", HELLO)
    result = run_wdl(str(wdl), json.dumps({"write_simple_file.nope": 1}))
    assert result.code == 2
    assert "write_simple_file.nope" in result.stderr


def test_failing_task_gives_status_stderr_and_log(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(
        tmp_path / "fail.wdl",
        """\
version 1.0
workflow w {
  call boom
}
task boom {
  command <<<
    echo "about to fail" >&2
    exit 3
  >>>
}
""",
    )
    result = run_wdl(str(wdl), "--retryCount", "0")
    assert result.code == 1
    assert "w.boom" in result.stderr
    assert "exited with status 3" in result.stderr
    assert "about to fail" in result.stderr
    assert "full log:" in result.stderr


def test_lone_task_document_runs_the_task(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(
        tmp_path / "task.wdl",
        """\
version 1.0
task add {
  input { Int a  Int b = 2 }
  command <<< echo $(( ~{a} + ~{b} )) >>>
  output { Int sum = read_int(stdout()) }
}
""",
    )
    result = run_wdl(str(wdl), json.dumps({"add.a": 40}), "-o", "out")
    assert result.code == 0, result.stderr
    assert result.outputs == {"add.sum": 42}


def test_input_files_are_found_next_to_the_inputs_file(run_wdl: RunWdl, tmp_path: Path) -> None:
    wdl = write(
        tmp_path / "wc.wdl",
        """\
version 1.0
workflow wc {
  input { File f }
  call count { input: f = f }
  output { Int n = count.n  String name = basename(f) }
}
task count {
  input { File f }
  command <<< wc -l < ~{f} >>>
  output { Int n = read_int(stdout()) }
}
""",
    )
    write(tmp_path / "data" / "lines.txt", "a\nb\nc\n")
    inputs = write(tmp_path / "data" / "in.json", json.dumps({"wc.f": "lines.txt"}))
    result = run_wdl(str(wdl), str(inputs), "-o", "out")
    assert result.code == 0, result.stderr
    assert result.outputs == {"wc.n": 3, "wc.name": "lines.txt"}
    result = run_wdl(str(wdl), json.dumps({"wc.f": "missing.txt"}))
    assert result.code == 2
    assert "wc.f" in result.stderr and "missing.txt" in result.stderr


def test_url_input_and_after_clause(run_wdl: RunWdl, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    www = tmp_path / "www"
    www.mkdir()
    (www / "names.txt").write_text("ann\nbob\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/names.txt"
    wdl = write(
        tmp_path / "after.wdl",
        """\
version 1.1
workflow a {
  input { File names  String log }
  call first { input: log = log }
  call second after first { input: log = log, names = names }
  output { Array[String] seen = second.lines }
}
task first {
  input { String log }
  command <<< sleep 1; echo -n first >> ~{log} >>>
}
task second {
  input { String log  File names }
  command <<< echo -n " second" >> ~{log}; cat ~{names} >>>
  output { Array[String] lines = read_lines(stdout()) }
}
""",
    )
    try:
        result = run_wdl(
            str(wdl), json.dumps({"a.names": url, "a.log": str(tmp_path / "log")}), "-o", "out"
        )
    finally:
        server.shutdown()
    assert result.code == 0, result.stderr
    assert result.outputs == {"a.seen": ["ann", "bob"]}
    # a task's output may not read the log (a host file), so the test does
    assert (tmp_path / "log").read_text() == "first second"
