"""Compiling workflows into nodes, checked on the nodes made (no run): known values are
evaluated on the spot, and only what waits on a promise becomes a node of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from WDL import Value

from languages.wdl.compile import Builder, EvalPayload, SectionPayload
from languages.wdl.load import CallableRef, load_document
from runner.model.promise import Promise

MAIN = """\
version 1.1
import "sub.wdl" as s

workflow w {
  input {
    Array[Int] xs
    Boolean flag = false
  }
  Int n = length(xs) * 2
  scatter (x in xs) {
    call s.t { input: i = x + n }
  }
  scatter (y in t.o) {
    call s.t as u { input: i = y }
  }
  Int first = if length(t.o) > 0 then t.o[0] else 0
  if (first > 3) {
    call s.t as v { input: i = first }
  }
  if (flag) {
    call s.t as never { input: i = 1 }
  }
  call s.sub as sub { input: k = first }
  output {
    Array[Int] a = t.o
    Int? b = v.o
    Int? c = never.o
    Int d = sub.r
    Int e = n
  }
}
"""

SUB = """\
version 1.1

workflow sub {
  input { Int k }
  call t { input: i = k }
  output { Int r = t.o }
}

task t {
  input { Int i }
  command <<< echo ~{i} >>>
  output { Int o = read_int(stdout()) }
  runtime { cpu: 1  memory: "100 MiB" }
}
"""


def _build(ctx: Any, tmp_path: Path, xs: list[int]) -> dict[str, Any]:
    (tmp_path / "w.wdl").write_text(MAIN)
    (tmp_path / "sub.wdl").write_text(SUB)
    doc = load_document(str(tmp_path / "w.wdl"))
    builder = Builder(ctx, doc.workflow, CallableRef.of(doc, doc.workflow))
    items = [Value.Int(x) for x in xs]
    return builder.run_workflow({"xs": Value.Array(Value.Int(0).type, items)})


def test_scatter_over_known_array_makes_only_work_nodes(ctx: Any, tmp_path: Path) -> None:
    outputs = _build(ctx, tmp_path, [1, 2, 3])
    work = [n for n in ctx.children if not n.local]
    local = [n for n in ctx.children if n.local]
    # 3 calls of t, 3 of u (scatter over promised elements), 1 in sub
    assert len(work) == 7
    assert [n.display_name for n in work[:3]] == ["w.t[0]", "w.t[1]", "w.t[2]"]
    assert work[0].payload.inputs["i"].value == 7  # x + n evaluated on the spot
    assert work[0].resources.memory == 100 * 1024**2
    # `first` reads a promise: one expression node; `if (first > 3)`: one section node
    kinds = sorted(type(n.payload).__name__ for n in local)
    assert kinds == ["EvalPayload", "SectionPayload"]
    assert outputs["e"].value == 6
    assert isinstance(outputs["c"], Value.Null)  # `if (false)` made nothing
    assert isinstance(outputs["a"], Value.Array)
    assert all(isinstance(p, Promise) for p in outputs["a"].value)
    assert isinstance(outputs["b"], Promise) and isinstance(outputs["d"], Promise)


def test_deferred_nodes_carry_only_what_they_read(ctx: Any, tmp_path: Path) -> None:
    _build(ctx, tmp_path, [5])
    local = {type(n.payload): n.payload for n in ctx.children if n.local}
    ev = local[EvalPayload]
    assert set(ev.values) == {"t.o"}
    section = local[SectionPayload]
    assert set(section.values) == {"first"}
    # the call in the subworkflow takes `first` as a promise, passed straight through
    sub_call = next(n for n in ctx.children if n.display_name == "w.sub.t")
    assert isinstance(sub_call.payload.inputs["i"], Promise)


def test_empty_scatter_gathers_empty_arrays(ctx: Any, tmp_path: Path) -> None:
    outputs = _build(ctx, tmp_path, [])
    assert outputs["a"].value == []
    # `first` is known (0): no expression node, no section node
    assert [n.display_name for n in ctx.children] == ["w.sub.t"]
    assert outputs["d"] == ctx.children[0].rv("o")
