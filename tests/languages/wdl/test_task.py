"""The task executor called directly, over a real file job store: staging by hard link,
outputs moved into the store, sibling files, return codes, retries, output errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from WDL import Value

from languages.wdl.calls import TaskPayload
from languages.wdl.load import CallableRef, load_document
from languages.wdl.task import TaskError, TaskFailed, run_task
from languages.wdl.values import FileRef, parse_ref

DOC = """\
version 1.1

task inspect {
  input {
    File a
    File b
    String counter = ""
  }
  command <<<
    stat -c %i ~{a} > inode.txt
    dirname ~{a} > dir_a.txt
    dirname ~{b} > dir_b.txt
    mkdir -p sub && cp ~{a} sub/copy.txt
  >>>
  output {
    Int inode = read_int("inode.txt")
    Boolean siblings = read_string("dir_a.txt") == read_string("dir_b.txt")
    File copy = "sub/copy.txt"
    File same = a
    Array[File] found = glob("sub/*.txt")
  }
}

task codes {
  input { Int status  String counter }
  command <<<
    n=$(cat ~{counter} 2>/dev/null || echo 0)
    echo $((n + 1)) > ~{counter}
    [ "$n" -ge 1 ] && exit 0
    echo "first try fails" >&2
    exit ~{status}
  >>>
  runtime { returnCodes: [0, 5]  maxRetries: 1 }
}

task missing {
  command <<< true >>>
  output { File nothing = "nope.txt"  File? maybe = "nope.txt" }
}
"""


def _payload(tmp_path: Path, task: str, inputs: dict[str, Any]) -> TaskPayload:
    path = tmp_path / "doc.wdl"
    if not path.exists():
        path.write_text(DOC)
    doc = load_document(str(path))
    node = next(t for t in doc.tasks if t.name == task)
    return TaskPayload(CallableRef.of(doc, node), inputs, f"test.{task}")


def _stored(ctx: Any, tmp_path: Path, name: str, text: str, group: str) -> Value.File:
    src = tmp_path / "src" / group / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(text)
    file_id = ctx.file_store.write_file(str(src))
    return Value.File(FileRef(str(file_id), group, name).uri())


def test_inputs_are_hard_links_and_outputs_enter_the_store(ctx: Any, tmp_path: Path) -> None:
    a = _stored(ctx, tmp_path, "a.txt", "alpha\n", "g1")
    b = _stored(ctx, tmp_path, "b.txt", "beta\n", "g1")
    out = run_task(ctx, _payload(tmp_path, "inspect", {"a": a, "b": b}))
    stored_a = ctx.file_store.local_path(parse_ref(a.value).file_id)
    assert out["inode"].value == os.stat(stored_a).st_ino  # staged by link, not copied
    assert out["siblings"].value is True
    assert out["same"].value == a.value  # an input given back keeps its reference
    copy = parse_ref(out["copy"].value)
    assert copy is not None and copy.relpath == "sub/copy.txt"
    assert Path(ctx.file_store.local_path(copy.file_id)).read_text() == "alpha\n"
    assert [parse_ref(f.value).relpath for f in out["found"].value] == ["sub/copy.txt"]
    assert parse_ref(out["found"].value[0].value) == copy


def test_files_of_other_groups_with_one_name_do_not_collide(ctx: Any, tmp_path: Path) -> None:
    a = _stored(ctx, tmp_path, "same.txt", "one\n", "g1")
    b = _stored(ctx, tmp_path, "same.txt", "two\n", "g2")
    out = run_task(ctx, _payload(tmp_path, "inspect", {"a": a, "b": b}))
    assert out["siblings"].value is False


def test_return_codes_and_retries(ctx: Any, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    run_task(
        ctx,
        _payload(
            tmp_path, "codes", {"status": Value.Int(5), "counter": Value.String(str(counter))}
        ),
    )
    assert counter.read_text() == "1\n"  # 5 is allowed: no retry
    counter.unlink()
    run_task(
        ctx,
        _payload(
            tmp_path, "codes", {"status": Value.Int(7), "counter": Value.String(str(counter))}
        ),
    )
    assert counter.read_text() == "2\n"  # 7 failed, the retry passed


def test_failure_names_status_and_stderr(ctx: Any, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    counter.write_text("-5\n")  # never reaches 1 within the retries
    with pytest.raises(TaskFailed) as info:
        run_task(
            ctx,
            _payload(
                tmp_path, "codes", {"status": Value.Int(9), "counter": Value.String(str(counter))}
            ),
        )
    assert "status 9" in str(info.value)
    assert "first try fails" in str(info.value)


def test_missing_output_file_is_an_error(ctx: Any, tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="output nothing: file not found: nope.txt"):
        run_task(ctx, _payload(tmp_path, "missing", {}))
