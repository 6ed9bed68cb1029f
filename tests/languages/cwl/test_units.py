"""Pieces of the CWL front end on their own: scatter shapes, source merging, file values
through a real file job store, and the tool executor called as a worker calls it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from languages.cwl.expressions import ExpressionFailed
from languages.cwl.files import (
    FILE_SCHEME,
    Globalizer,
    Localizer,
    dir_location,
    file_id_of,
    parse_dir_location,
)
from languages.cwl.scatter import expand, reshape
from languages.cwl.steps import merge_sources, pick_value


def test_dotproduct_pairs_elements() -> None:
    elements, dims = expand({"a": [1, 2], "b": ["x", "y"], "c": 0}, ["a", "b"], None)
    assert [(e["a"], e["b"], e["c"]) for e in elements] == [(1, "x", 0), (2, "y", 0)]
    assert dims == [2]


def test_dotproduct_of_unequal_lengths_fails() -> None:
    with pytest.raises(ExpressionFailed, match="equal lengths"):
        expand({"a": [1, 2], "b": [1]}, ["a", "b"], "dotproduct")


def test_crossproducts_keep_order_and_nesting() -> None:
    io = {"a": [1, 2], "b": ["x", "y", "z"]}
    flat, flat_dims = expand(io, ["a", "b"], "flat_crossproduct")
    nested, nested_dims = expand(io, ["a", "b"], "nested_crossproduct")
    pairs = [(e["a"], e["b"]) for e in flat]
    assert pairs == [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]
    assert flat_dims == [6]
    assert reshape(pairs, nested_dims) == [pairs[:3], pairs[3:]]
    assert [(e["a"], e["b"]) for e in nested] == pairs


def test_empty_scatter_gives_empty_outputs_of_the_right_depth() -> None:
    elements, dims = expand({"a": [1, 2], "b": []}, ["a", "b"], "nested_crossproduct")
    assert elements == []
    assert reshape([], dims) == [[], []]
    assert expand({"a": []}, ["a"], None) == ([], [0])


def test_scatter_over_a_non_array_names_the_input() -> None:
    with pytest.raises(ExpressionFailed, match="'inp' is not an array"):
        expand({"file:///w.cwl#step/inp": None}, ["file:///w.cwl#step/inp"], None)


def test_link_merge_and_pick_value() -> None:
    param: dict[str, Any] = {"id": "#s/x"}
    assert merge_sources(param, [[1], 2], True) == [[1], 2]
    assert merge_sources({**param, "linkMerge": "merge_flattened"}, [[1], 2], True) == [1, 2]
    assert merge_sources(param, [5], False) == 5
    with pytest.raises(ExpressionFailed, match="MultipleInputFeatureRequirement"):
        merge_sources(param, [1, 2], False)
    assert pick_value("x", "first_non_null", [None, 3, 4]) == 3
    assert pick_value("x", "all_non_null", [None, 3, None]) == [3]
    with pytest.raises(ExpressionFailed, match="only one"):
        pick_value("x", "the_only_non_null", [1, 2])
    with pytest.raises(ExpressionFailed, match="all sources for 'x' are null"):
        pick_value("x", "first_non_null", [None])


def test_directory_locations_round_trip() -> None:
    loc = dir_location("abc/listing.json", "sub dir/x#y")
    assert parse_dir_location(loc) == ("abc/listing.json", "sub dir/x#y")


def test_files_enter_the_store_by_link_and_come_back_without_copies(
    tmp_path: Path, store: Any
) -> None:
    src = tmp_path / "in" / "data.txt"
    src.parent.mkdir()
    src.write_text("hello")
    (tmp_path / "in" / "sub").mkdir()
    (tmp_path / "in" / "sub" / "a.txt").write_text("a")
    value = {
        "f": {"class": "File", "location": src.as_uri(), "basename": "data.txt"},
        "d": {"class": "Directory", "location": (tmp_path / "in").as_uri(), "basename": "in"},
    }
    stored = Globalizer(store, require_exists=True).globalize(value)
    assert stored["f"]["location"].startswith(FILE_SCHEME)
    stored_path = store.local_path(file_id_of(stored["f"]["location"]))
    assert os.stat(stored_path).st_ino == src.stat().st_ino  # a hard link, not a copy

    local = Localizer(store, str(tmp_path / "work")).localize(stored)
    assert Path(local["f"]["path"]).read_text() == "hello"
    tree = Path(local["d"]["path"])
    assert (tree / "sub" / "a.txt").read_text() == "a"
    assert (tree / "sub" / "a.txt").stat().st_ino == (tmp_path / "in/sub/a.txt").stat().st_ino


def test_tool_executor_runs_and_stores_outputs(tmp_path: Path, store: Any, ctx: Any) -> None:
    from languages.cwl.load import LoadOptions, load_document
    from languages.cwl.tool import run_tool

    doc = tmp_path / "upper.cwl"
    doc.write_text("""\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [tr, a-z, A-Z]
stdin: $(inputs.f.path)
stdout: upper.txt
inputs: {f: File}
outputs: {out: stdout}
""")
    src = tmp_path / "lower.txt"
    src.write_text("shout\n")
    ref, _ = load_document(str(doc), LoadOptions())
    inputs = Globalizer(store).globalize(
        {"f": {"class": "File", "location": src.as_uri(), "basename": "lower.txt"}}
    )
    out = run_tool(ctx, {"tool": ref, "inputs": inputs})["out"]
    assert out["location"].startswith(FILE_SCHEME)
    assert "path" not in out
    assert out["size"] == 6
    with store.open_read(file_id_of(out["location"])) as stream:
        assert stream.read() == b"SHOUT\n"


SCATTER_WF = """\
cwlVersion: v1.2
class: Workflow
requirements: {ScatterFeatureRequirement: {}}
inputs: {xs: 'int[]'}
outputs:
  outs: {type: 'File[]', outputSource: echo/out}
steps:
  echo:
    scatter: x
    in: {x: xs}
    out: [out]
    run:
      class: CommandLineTool
      baseCommand: echo
      stdout: out.txt
      inputs: {x: {type: int, inputBinding: {position: 1}}}
      outputs: {out: stdout}
"""


def test_a_fresh_process_finds_a_step_tool_again(tmp_path: Path) -> None:
    from languages.cwl import load

    doc = tmp_path / "wf.cwl"
    doc.write_text(SCATTER_WF)
    ref, workflow = load.load_document(str(doc), load.LoadOptions())
    step_ref = ref.step(workflow.steps[0].id)
    load.forget_documents()  # what a worker started on another host has
    tool = load.resolve(step_ref)
    assert tool.tool["class"] == "CommandLineTool"
    assert tool is not workflow.steps[0].embedded_tool


def test_scatter_step_adds_one_work_node_per_element(tmp_path: Path, ctx: Any) -> None:
    from languages.cwl.compile import instantiate_workflow, run_step
    from languages.cwl.load import LoadOptions, load_document
    from runner.model.promise import Promise

    doc = tmp_path / "wf.cwl"
    doc.write_text(SCATTER_WF)
    ref, workflow = load_document(str(doc), LoadOptions())
    outputs = instantiate_workflow(ctx, ref, workflow, {"xs": [1, 2, 3]})
    (step_node,) = ctx.children
    assert outputs == {"outs": step_node.rv("out")}
    ctx.children.clear()
    payload = dict(step_node.payload)
    payload["sources"] = {k: [[1, 2, 3]] for k in payload["sources"]}
    result = run_step(ctx, payload)
    assert len(ctx.children) == 3
    assert all(not node.local for node in ctx.children)
    assert [node.payload["inputs"] for node in ctx.children] == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert result["out"] == [Promise(n.id, ("out",)) for n in ctx.children]


def test_binding_an_array_copies_each_binding_but_not_the_whole_array() -> None:
    from languages.cwl.patches import deepcopy_sharing_datum

    files = [{"class": "File", "path": f"/d/{i}"} for i in range(3)]
    binding = {"position": [1, "files"], "prefix": "-f", "datum": files}
    copied = deepcopy_sharing_datum(binding)
    assert copied["datum"] is files  # cwltool replaces it with the element at once
    assert copied["position"] == binding["position"]
    assert copied["position"] is not binding["position"]
    schema = {"type": {"type": "array", "items": "File"}}
    assert deepcopy_sharing_datum(schema) == schema
    assert deepcopy_sharing_datum(schema)["type"] is not schema["type"]


def test_array_items_bind_as_before_with_the_copy_fix(tmp_path: Path, store: Any, ctx: Any) -> None:
    from languages.cwl.load import LoadOptions, load_document
    from languages.cwl.tool import run_tool

    doc = tmp_path / "args.cwl"
    doc.write_text("""\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
stdout: args.txt
inputs:
  files:
    type: {type: array, items: File, inputBinding: {prefix: -f}}
    inputBinding: {position: 1}
  words:
    type: {type: array, items: string}
    inputBinding: {position: 2, itemSeparator: ",", prefix: -w}
outputs: {out: stdout}
""")
    sources = []
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(name)
        sources.append({"class": "File", "location": (tmp_path / name).as_uri()})
    ref, _ = load_document(str(doc), LoadOptions())
    inputs = Globalizer(store).globalize({"files": sources, "words": ["x", "y"]})
    out = run_tool(ctx, {"tool": ref, "inputs": inputs})["out"]
    with store.open_read(file_id_of(out["location"])) as stream:
        words = stream.read().decode().split()
    assert words[0::2][:3] == ["-f", "-f", "-f"]
    assert [os.path.basename(w) for w in words[1:6:2]] == ["a.txt", "b.txt", "c.txt"]
    assert words[6:] == ["-w", "x,y"]
