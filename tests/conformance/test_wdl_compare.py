"""The WDL harness's comparison of outputs, its rewriting of sources, and its verdicts."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from conformance.gate import Status
from conformance.wdl import RunContext, Runner, run_case
from conformance.wdl_compare import (
    Mismatch,
    TypeSyntaxError,
    WdlType,
    compare_outputs,
    compare_value,
    expand_vars,
    output_map,
    parse_type,
)
from conformance.wdl_suite import WdlCase, convert_wdl, load_suite, wdl_version_of


def check(expected: object, actual: object, type_spec: object, base: Path) -> str | None:
    """The mismatch message, or None when `actual` meets `expected`."""
    try:
        compare_value(expected, actual, parse_type(type_spec), "wf.out", base)
    except Mismatch as exc:
        return exc.message
    return None


def test_parse_type_nested_optional_and_struct() -> None:
    typ = parse_type("Array[Pair[Int, File?]]+")
    assert typ.name == "Array" and typ.nonempty and not typ.optional
    pair = typ.params[0]
    assert pair == WdlType("Pair", (WdlType("Int"), WdlType("File", optional=True)))
    struct = parse_type({"a": "Int", "inner": {"b": "Map[String, Float]"}})
    assert struct.name == "Struct"
    assert dict(struct.members)["inner"].members[0][1].params[1] == WdlType("Float")


@pytest.mark.parametrize("bad", ["Array", "Map[Int]", "Array[Int", "Blob", "Int]", 3])
def test_parse_type_rejects_malformed(bad: object) -> None:
    with pytest.raises(TypeSyntaxError):
        parse_type(bad)


def test_primitives_are_type_strict(tmp_path: Path) -> None:
    assert check(5, 5, "Int", tmp_path) is None
    assert check(5, 5.0, "Int", tmp_path) is not None
    assert check(1, True, "Int", tmp_path) is not None
    assert check(True, 1, "Boolean", tmp_path) is not None
    assert check("1", 1, "String", tmp_path) is not None
    assert check("a - b", "a - b", "String", tmp_path) is None


def test_floats_compare_with_tolerance_and_accept_integral_json(tmp_path: Path) -> None:
    assert check(0.1 + 0.2, 0.3, "Float", tmp_path) is None
    assert check(22.0, 22, "Float", tmp_path) is None
    assert check(999.9999999, 999.9999998, "Float", tmp_path) is not None
    assert check(1.0, True, "Float", tmp_path) is not None


def test_files_by_md5_and_regex(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("key1\tvalue1\nkey2\tvalue2\n")
    digest = hashlib.md5(out.read_bytes()).hexdigest()
    assert check({"md5sum": digest}, str(out), "File", tmp_path) is None
    assert check({"md5sum": "0" * 32}, str(out), "File", tmp_path) is not None
    assert check({"regex": r"key1\s+value1\nkey2"}, "out.txt", "File", tmp_path) is None
    assert check({"regex": r"^value1"}, out.as_uri(), "File", tmp_path) is not None
    assert "does not exist" in (check({"regex": "x"}, "nope.txt", "File", tmp_path) or "")
    assert "neither" in (check("out.txt", "out.txt", "File", tmp_path) or "")


def test_optional_values_and_nulls(tmp_path: Path) -> None:
    (tmp_path / "b").write_text("scatter2\n")
    spec = [None, {"regex": "^scatter2$"}, None]
    assert check(spec, [None, "b", None], "Array[File?]", tmp_path) is None
    assert check(spec, [None, None, None], "Array[File?]", tmp_path) is not None
    assert check(spec, ["b", "b", None], "Array[File?]", tmp_path) is not None


def test_arrays_maps_pairs_and_structs(tmp_path: Path) -> None:
    assert check([[1], [2, 3]], [[1], [2, 3]], "Array[Array[Int]]", tmp_path) is None
    assert "items" in (check([1, 2], [1], "Array[Int]", tmp_path) or "")
    # The suite writes map keys as strings; JSON outputs have string keys too.
    assert check({"1": 2, "3": 4}, {"1": 2, "3": 4}, "Map[Int, Int]", tmp_path) is None
    assert check({"1": 2, "3": 4}, {"1": 2, "3": 5}, "Map[Int, Int]", tmp_path) is not None
    assert check({"1": 2}, {"1": 2, "2": 2}, "Map[Int, Int]", tmp_path) is not None
    pair = {"left": 23, "right": "twenty-three"}
    assert check(pair, dict(pair), "Pair[Int, String]", tmp_path) is None
    assert check(pair, {"left": 23}, "Pair[Int, String]", tmp_path) is not None
    struct_type = {"sample_struct": {"sample_int": "Int"}, "n": "Int"}
    value = {"sample_struct": {"sample_int": 20}, "n": 10}
    assert check(value, json.loads(json.dumps(value)), struct_type, tmp_path) is None
    wrong = {"sample_struct": {"sample_int": 21}, "n": 10}
    assert "sample_struct.sample_int" in str(
        pytest.raises(
            Mismatch, compare_value, value, wrong, parse_type(struct_type), "s", tmp_path
        ).value
    )


def test_directory_listing_ignores_order(tmp_path: Path) -> None:
    root = tmp_path / "testdir"
    (root / "subdir").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "subdir" / "b.txt").write_text("b")
    listing = [
        {
            "type": "Directory",
            "basename": "subdir",
            "listing": [{"type": "File", "basename": "b.txt"}],
        },
        {"type": "File", "basename": "a.txt"},
    ]
    assert check({"listing": listing}, str(root), "Directory", tmp_path) is None
    (root / "subdir" / "c.txt").write_text("c")
    assert check({"listing": listing}, str(root), "Directory", tmp_path) is not None


def test_compare_outputs_requires_exactly_the_expected_names(tmp_path: Path) -> None:
    expected = {"wf.a": {"type": "Int", "value": 1}, "wf.b": {"type": "String", "value": "x"}}
    assert compare_outputs(expected, {"wf.a": 1, "wf.b": "x"}, tmp_path) is None
    assert "missing ['wf.b']" in (compare_outputs(expected, {"wf.a": 1}, tmp_path) or "")
    extra = {"wf.a": 1, "wf.b": "x", "wf.c": 2}
    assert "unexpected ['wf.c']" in (compare_outputs(expected, extra, tmp_path) or "")
    assert "wf.a" in (compare_outputs(expected, {"wf.a": 2, "wf.b": "x"}, tmp_path) or "")


def test_output_map_reads_both_dialects() -> None:
    assert output_map({"wf.x": 1}) == {"wf.x": 1}
    assert output_map({"dir": "/r", "outputs": {"wf.x": 1}}) == {"wf.x": 1}
    assert output_map([1]) is None


def test_expand_vars_only_known_names() -> None:
    value = {"a": ["${WDL_DIR}/x", "$WDL_DIR/y", "$HOME/z"], "b": 1}
    assert expand_vars(value, {"WDL_DIR": "/s"}) == {"a": ["/s/x", "/s/y", "$HOME/z"], "b": 1}


SOURCE_1_1 = """\
# a comment
version 1.1

workflow wf {
  input {
    String message
  }
  call t { input: message = message }
}

task t {
  input {
    String message
  }
  command <<<
    echo '~{message}'
  >>>
  runtime {
    container: "ubuntu:22.04"
  }
}
"""


def test_convert_to_draft_2_drops_version_and_input_wrappers() -> None:
    draft2 = convert_wdl(SOURCE_1_1, "draft-2")
    assert wdl_version_of(draft2) == "draft-2"
    assert "input {" not in draft2 and "call t { input: message = message }" in draft2
    assert "echo '${message}'" in draft2 and 'docker: "ubuntu:22.04"' in draft2
    assert draft2.count("{") == draft2.count("}")


def test_convert_between_1_x_changes_only_what_it_must() -> None:
    as_1_0 = convert_wdl(SOURCE_1_1, "1.0")
    assert wdl_version_of(as_1_0) == "1.0"
    assert "~{message}" in as_1_0 and 'docker: "ubuntu:22.04"' in as_1_0
    assert convert_wdl(SOURCE_1_1, "1.1") == SOURCE_1_1


def write_fake_suite(root: Path) -> None:
    """A two-test suite: one expecting outputs, one expecting a failure."""
    (root / "tests" / "echo").mkdir(parents=True)
    (root / "tests" / "echo" / "echo.wdl").write_text(SOURCE_1_1)
    (root / "tests" / "echo" / "echo.json").write_text('{"wf.message": "hi"}')
    (root / "conformance.yaml").write_text(
        """\
- {id: echo, description: d, tags: [t], versions: ["1.0", "1.1"],
   inputs: {dir: tests/echo, wdl: echo.wdl, json: echo.json},
   outputs: {wf.n: {type: Int, value: 3}, wf.f: {type: File, value: {regex: "^hi$"}}}}
- {id: must_fail, description: d, tags: [t], versions: ["1.1"], fail: true,
   inputs: {dir: tests/echo, wdl: echo.wdl, json: echo.json}, outputs: {}}
"""
    )


def fake_runner(tmp_path: Path, body: str) -> Runner:
    """A toil-style runner: a shell script given WDL, INPUTS, -o OUTDIR, -m OUT.json."""
    script = tmp_path / "fake-runner"
    script.write_text("#!/bin/bash\nwdl=$1; inputs=$2; out=$4; meta=$6\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return Runner("fake", "toil", (str(script),))


def context(tmp_path: Path, runner: Runner, version: str = "1.1") -> RunContext:
    return RunContext(tmp_path / "suite", version, runner, tmp_path / "work", 5.0, False)


def test_run_case_passes_on_matching_outputs(tmp_path: Path) -> None:
    write_fake_suite(tmp_path / "suite")
    cases = {case.id: case for case in load_suite(tmp_path / "suite" / "conformance.yaml")}
    runner = fake_runner(
        tmp_path,
        'grep -q "version 1.0" "$wdl" || exit 9\n'  # the 1.1 source was rewritten for 1.0
        'test -f "$inputs" || exit 8\n'
        'mkdir -p "$out"; echo hi > "$out/f.txt"\n'
        'echo "{\\"wf.n\\": 3, \\"wf.f\\": \\"$out/f.txt\\"}" > "$meta"\n',
    )
    result = run_case(cases["echo"], context(tmp_path, runner, "1.0"))
    assert (result.status, result.reason) == (Status.PASS, "")
    assert not (tmp_path / "work" / "echo").exists()  # passing tests leave nothing behind


def test_run_case_reports_wrong_outputs_and_keeps_the_work_dir(tmp_path: Path) -> None:
    write_fake_suite(tmp_path / "suite")
    case = load_suite(tmp_path / "suite" / "conformance.yaml")[0]
    runner = fake_runner(tmp_path, 'echo \'{"wf.n": 4, "wf.f": "tests/echo/echo.json"}\'\n')
    result = run_case(case, context(tmp_path, runner))
    assert result.status is Status.FAIL and "wf.f" in result.reason
    assert (tmp_path / "work" / "echo" / "stdout.txt").exists()


def test_run_case_expected_failure_and_timeout(tmp_path: Path) -> None:
    write_fake_suite(tmp_path / "suite")
    must_fail = load_suite(tmp_path / "suite" / "conformance.yaml")[1]
    assert run_case(must_fail, context(tmp_path, fake_runner(tmp_path, "exit 1\n"))).status is (
        Status.PASS
    )
    succeeded = run_case(must_fail, context(tmp_path, fake_runner(tmp_path, "exit 0\n")))
    assert succeeded.status is Status.FAIL and "expects it to fail" in succeeded.reason
    slow = fake_runner(tmp_path, "sleep 60\n")
    ctx = RunContext(tmp_path / "suite", "1.1", slow, tmp_path / "work", 0.5, False)
    timed_out = run_case(must_fail, ctx)
    assert timed_out.status is Status.FAIL and "timed out" in timed_out.reason


def test_suite_cases_are_validated(tmp_path: Path) -> None:
    (tmp_path / "conformance.yaml").write_text("- {id: a, versions: ['1.0']}\n")
    from conformance.gate import HarnessError

    with pytest.raises(HarnessError, match="inputs"):
        load_suite(tmp_path / "conformance.yaml")


def test_real_suite_loads_and_every_expected_type_parses() -> None:
    suite = Path(__file__).resolve().parents[2].parent / "shared/conformance/wdl/databiosphere"
    if not (suite / "conformance.yaml").exists():
        pytest.skip(f"the shared WDL suite is not at {suite}")
    cases: list[WdlCase] = load_suite(suite / "conformance.yaml")
    assert len(cases) > 50
    for case in cases:
        for spec in case.outputs.values():
            parse_type(spec["type"])


def test_make_runner_styles(tmp_path: Path) -> None:
    from conformance.gate import HarnessError
    from conformance.wdl import make_runner

    local = make_runner("miniwdl", None, False, ["--no-cache"])
    assert local.style == "miniwdl" and local.prefix[1:] == (
        "-m",
        "conformance.miniwdl_local",
        "run",
    )
    argv, outputs = local.command(Path("/w.wdl"), Path("/i.json"), tmp_path)
    assert argv[-1] == "--no-cache" and outputs == tmp_path / "outputs.json"
    assert f"{tmp_path / 'run'}/." in argv  # miniwdl runs in exactly that directory
    script = fake_runner(tmp_path, "exit 0\n").prefix[0]
    toil = make_runner(script, None, False, [])
    argv, _ = toil.command(Path("/w.wdl"), Path("/i.json"), tmp_path)
    assert toil.style == "toil" and argv[:3] == [script, "/w.wdl", "/i.json"]
    assert argv[3:] == ["-o", str(tmp_path / "out"), "-m", str(tmp_path / "outputs.json")]
    with pytest.raises(HarnessError, match="not found"):
        make_runner("no-such-wdl-runner-here", None, False, [])
