"""WDL 1.1 ``write_object()``/``write_objects()`` (TSV: names, then values) and the values
``write_json()`` must refuse (a Map whose keys are not Strings, also nested)."""

from __future__ import annotations

from pathlib import Path

import pytest
import WDL
from WDL import Value

from languages.wdl import objects, serialize
from languages.wdl.confine import TaskPaths
from languages.wdl.stdlib import TaskLib
from tests.languages.conftest import RunCommand


@pytest.fixture
def lib(tmp_path: Path) -> TaskLib:
    objects.install()
    serialize.install()
    (tmp_path / "work").mkdir()
    return TaskLib("1.1", TaskPaths(str(tmp_path), str(tmp_path / "work"), {}))


def _eval(lib: TaskLib, text: str) -> Value.Base:
    expr = WDL.parse_expr(text, version=lib.wdl_version)
    expr.infer_type(WDL.Env.Bindings(), stdlib=lib)
    return expr.eval(WDL.Env.Bindings(), stdlib=lib)


def _written(lib: TaskLib, text: str) -> str:
    value = _eval(lib, text)
    assert isinstance(value, Value.File)
    return Path(value.value).read_text()


def test_write_object_is_a_two_line_tsv(lib: TaskLib) -> None:
    text = _written(lib, 'write_object(object { key_1: "value_1", n: 2, f: 1.5, b: true })')
    assert text == "key_1\tn\tf\tb\nvalue_1\t2\t1.500000\ttrue\n"


def test_write_object_takes_a_map_of_strings(lib: TaskLib) -> None:
    assert _written(lib, 'write_object({"a": "x", "b": "y"})') == "a\tb\nx\ty\n"


def test_write_objects_one_line_per_object_in_the_first_ones_column_order(lib: TaskLib) -> None:
    text = _written(lib, 'write_objects([object { a: 1, b: "x" }, object { b: "y", a: 2 }])')
    assert text == "a\tb\n1\tx\n2\ty\n"
    assert _written(lib, "write_objects([])") == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("write_object(object { a: [1, 2] })", "member a is a Array[Int]"),
        ("write_object(object { a: object { b: 1 } })", "member a is a object"),
        ('write_object(object { a: "tab\\there" })', "holds a tab or a line break"),
        (
            "write_objects([object { a: 1 }, object { b: 1 }])",
            "object 1 has the members b, object 0 has a",
        ),
        ("write_objects([object { a: (1, 2) }])", "member a is a Pair"),
    ],
)
def test_write_object_refuses_what_is_not_a_primitive_table(
    lib: TaskLib, text: str, message: str
) -> None:
    with pytest.raises(WDL.Error.EvalError, match="write_object") as info:
        _eval(lib, text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        'write_json({1: "a"})',
        'write_json([{1.5: "a"}])',
        'write_json((1, {2: "hello"}))',  # the specification's own example
        "write_json(object { m: {true: 1} })",
    ],
)
def test_write_json_refuses_maps_without_string_keys(lib: TaskLib, text: str) -> None:
    with pytest.raises(WDL.Error.EvalError, match="only Maps with String keys"):
        _eval(lib, text)


def test_write_json_writes_what_can_be_serialized(lib: TaskLib) -> None:
    text = _written(lib, 'write_json(object { k: [1, 2], m: {"a": "b"}, n: None })')
    assert text == '{"k": [1, 2], "m": {"a": "b"}, "n": null}'
    # Pairs as {"left", "right"}: what the conformance suite's zip/cross/as_pairs expect
    assert _written(lib, 'write_json([(1, "a")])') == '[{"left": 1, "right": "a"}]'


def test_write_json_of_wdl_1_0_keeps_writing_keys_as_strings(tmp_path: Path) -> None:
    objects.install()
    serialize.install()
    (tmp_path / "work").mkdir()
    lib = TaskLib("1.0", TaskPaths(str(tmp_path), str(tmp_path / "work"), {}))
    assert _written(lib, 'write_json({1: "a"})') == '{"1": "a"}'


def test_write_objects_in_a_task_through_the_runner(run_wdl: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "objs.wdl").write_text(
        """\
version 1.1
task t {
  input { Array[Object] rows }
  command <<< cat ~{write_objects(rows)} >>>
  output { Array[Object] back = read_objects(stdout())  File tsv = stdout() }
}
workflow w {
  call t { input: rows = [object { id: 1, name: "ann" }, object { id: 2, name: "bob" }] }
  output { Array[Object] back = t.back  String one = read_string(write_object(t.back[1])) }
}
"""
    )
    result = run_wdl("--container", "none", "-o", "out", "objs.wdl")
    assert result.code == 0, result.stderr
    out = result.outputs
    assert out["w.back"] == [{"id": "1", "name": "ann"}, {"id": "2", "name": "bob"}]
    assert out["w.one"] == "id\tname\n2\tbob"


def test_write_json_of_an_int_keyed_map_fails_the_run(run_wdl: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "j.wdl").write_text(
        """\
version 1.1
workflow w {
  Map[Int, String] m = {2: "hello"}
  output { String j = read_string(write_json(m)) }
}
"""
    )
    result = run_wdl("--container", "none", "-o", "out", "j.wdl")
    assert result.code == 1, result.stdout
    assert "j.wdl:4:" in result.stderr and "a Map[Int,String] cannot be written" in result.stderr
