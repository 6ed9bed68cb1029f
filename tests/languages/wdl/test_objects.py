"""WDL's ``Object`` type (languages/wdl/objects.py) as a user meets it in toil-wdl-runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RunWdl = Callable[..., Any]

OBJECTS = """\
version 1.0

workflow objects {
  input { Object given }
  Object literal = object { a: 10, b: "hello" }
  call table
  call use { input: o = given }
  output {
    Object lit = literal
    Object read = table.obj
    Array[Object] rows = table.objs
    String name = table.obj.name
    Int a_plus_one = literal.a + 1
    String from_task = use.y
    Object passed = given
  }
}

task table {
  command <<<
    printf 'name\\tsize\\nfoo\\t3\\n' > obj.tsv
    printf 'name\\tsize\\nfoo\\t3\\nbar\\t4\\n' > objs.tsv
  >>>
  output {
    Object obj = read_object("obj.tsv")
    Array[Object] objs = read_objects("objs.tsv")
  }
}

task use {
  input { Object o }
  command <<< echo "~{o.y}" >>>
  output { String y = read_string(stdout()) }
}
"""


def test_objects_from_literals_read_object_and_inputs(run_wdl: RunWdl, tmp_path: Path) -> None:
    (tmp_path / "objects.wdl").write_text(OBJECTS)
    inputs = json.dumps({"objects.given": {"x": 1, "y": "two"}})
    result = run_wdl("objects.wdl", inputs, "-o", "out")
    assert result.code == 0, result.stderr
    assert result.outputs == {
        "objects.lit": {"a": 10, "b": "hello"},
        "objects.read": {"name": "foo", "size": "3"},
        "objects.rows": [{"name": "foo", "size": "3"}, {"name": "bar", "size": "4"}],
        "objects.name": "foo",
        "objects.a_plus_one": 11,
        "objects.from_task": "two",
        "objects.passed": {"x": 1, "y": "two"},
    }


def test_a_member_the_object_lacks_is_an_error_naming_it(run_wdl: RunWdl, tmp_path: Path) -> None:
    (tmp_path / "missing.wdl").write_text("""\
version 1.0
workflow missing {
  input { Object given }
  output { String nope = given.nope }
}
""")
    result = run_wdl("missing.wdl", json.dumps({"missing.given": {"x": 1}}), "-o", "out")
    assert result.code == 1
    assert "missing.wdl:4:" in result.stderr
    assert "no member 'nope'" in result.stderr
