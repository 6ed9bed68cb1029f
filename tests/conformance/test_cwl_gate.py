"""The CI gate's rule, its data files, and the CWL driver end to end through real cwltest."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from conformance import cwl
from conformance.gate import (
    CaseResult,
    HarnessError,
    Status,
    evaluate,
    load_baseline,
    load_expected_failures,
    update_baseline,
)


def result(test_id: str, status: Status, reason: str = "") -> CaseResult:
    return CaseResult(test_id, status, 1.0, reason)


def test_new_failure_fails_the_gate() -> None:
    report = evaluate([result("a", Status.PASS), result("b", Status.FAIL, "boom")], {}, set())
    assert not report.ok
    assert [r.id for r in report.new_failures] == ["b"]


def test_expected_failure_is_ok() -> None:
    report = evaluate([result("a", Status.PASS), result("b", Status.FAIL)], {"b": "why"}, set())
    assert report.ok and report.new_failures == [] and report.regressions == []


def test_unsupported_counts_as_a_failure_unless_listed() -> None:
    assert not evaluate([result("u", Status.UNSUPPORTED)], {}, set()).ok
    assert evaluate([result("u", Status.UNSUPPORTED)], {"u": "no GPU here"}, set()).ok


def test_baseline_regression_fails_even_when_listed() -> None:
    report = evaluate([result("a", Status.FAIL)], {"a": "listed anyway"}, {"a"})
    assert not report.ok
    assert [r.id for r in report.regressions] == ["a"] and report.new_failures == []


def test_unexpected_pass_is_reported_and_fails_only_in_strict_mode() -> None:
    results = [result("a", Status.PASS)]
    lenient = evaluate(results, {"a": "used to fail"}, set())
    assert lenient.ok and lenient.unexpected_passes == ["a"]
    assert not evaluate(results, {"a": "used to fail"}, set(), strict=True).ok


def test_tests_that_did_not_run_are_not_judged_but_stale_entries_are_named() -> None:
    report = evaluate([result("a", Status.PASS)], {"gone": "r"}, {"b"}, known_ids={"a", "b"})
    assert report.ok and report.regressions == []
    assert report.unknown_expected == ["gone"]


def test_expected_failures_file_needs_a_reason_per_entry(tmp_path: Path) -> None:
    path = tmp_path / "expected.yaml"
    path.write_text('"1.0":\n  t1: {reason: "no Object type"}\nv1.2:\n  t2: {reason: x}\n')
    assert load_expected_failures(path, "1.0") == {"t1": "no Object type"}
    assert load_expected_failures(path, "v1.2") == {"t2": "x"}
    assert load_expected_failures(path, "1.1") == {}
    assert load_expected_failures(tmp_path / "missing.yaml", "1.0") == {}
    path.write_text("v1.2:\n  t2: {reason: '  '}\n")
    with pytest.raises(HarnessError, match="reason"):
        load_expected_failures(path, "v1.2")
    path.write_text("v1.2:\n  t2: {reason: ok, until: never}\n")
    with pytest.raises(HarnessError, match="unknown keys"):
        load_expected_failures(path, "v1.2")
    path.write_text("v1.2:\n  t2: just a string\n")
    with pytest.raises(HarnessError, match="mapping"):
        load_expected_failures(path, "v1.2")


def test_unquoted_numeric_version_keys_still_match(tmp_path: Path) -> None:
    path = tmp_path / "expected.yaml"
    path.write_text("1.1:\n  t: {reason: r}\n")
    assert load_expected_failures(path, "1.1") == {"t": "r"}


def test_update_baseline_adds_passes_and_never_removes(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"v1.2": ["old"], "v1.0": ["x"]}))
    added = update_baseline(
        path,
        "v1.2",
        [result("new", Status.PASS), result("old", Status.FAIL), result("u", Status.UNSUPPORTED)],
    )
    assert added == ["new"]
    assert load_baseline(path, "v1.2") == {"new", "old"}
    assert load_baseline(path, "v1.0") == {"x"}
    assert json.loads(path.read_text())["v1.2"] == ["new", "old"]
    update_baseline(tmp_path / "fresh.json", "1.1", [result("a", Status.PASS)])
    assert load_baseline(tmp_path / "fresh.json", "1.1") == {"a"}


def test_parse_junit_maps_failures_and_skips(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    xml.write_text(
        """<?xml version="1.0" ?>
<testsuites><testsuite name="s" tests="3">
<testcase name="doc a" time="1.5" file="a"/>
<testcase name="doc b" time="2" file="b"><failure type="failure">Test timed out</failure>
<system-err>line1
[1;30mERROR[0m last line</system-err></testcase>
<testcase name="doc c" time="0.5" file="c"><skipped type="skipped" message="Unsupported"/></testcase>
</testsuite></testsuites>"""
    )
    parsed = cwl.parse_junit(xml)
    assert parsed["a"] == CaseResult("a", Status.PASS, 1.5)
    assert parsed["b"].status is Status.FAIL
    assert (
        parsed["b"].reason.startswith("Test timed out") and "ERROR last line" in parsed["b"].reason
    )
    assert parsed["c"].status is Status.UNSUPPORTED


FAKE_TOOL = """#!/bin/bash
# A CWL runner stand-in: cwltest calls it as TOOL --outdir=D --quiet TOOL.cwl JOB.json
for arg; do tool=$arg; [[ $arg == *.cwl ]] && break; done
case $(basename "$tool") in
  pass.cwl) echo '{"out": "hello"}' ;;
  wrong.cwl) echo '{"out": "bye"}' ;;
  *) exit 33 ;;
esac
"""

TEST_LIST = """\
- {id: passes, doc: passes, tool: pass.cwl, job: job.json, output: {out: hello}, tags: [required]}
- {id: wrong_output, doc: wrong, tool: wrong.cwl, job: job.json, output: {out: hello},
   tags: [required]}
- {id: unsupported_feature, doc: unsupported, tool: u.cwl, job: job.json, output: {out: hello},
   tags: [inline_javascript]}
- {id: required_unsupported, doc: required 33, tool: r.cwl, job: job.json, output: {},
   tags: [required]}
"""


@pytest.fixture
def fake_suite(tmp_path: Path) -> Path:
    """A four-test CWL suite and a fake runner, both in `tmp_path`."""
    suite = tmp_path / "suite"
    suite.mkdir()
    for name in ("pass.cwl", "wrong.cwl", "u.cwl", "r.cwl"):
        (suite / name).write_text("cwlVersion: v1.2\n")
    (suite / "job.json").write_text("{}")
    (suite / "conformance_tests.yaml").write_text(TEST_LIST)
    tool = tmp_path / "fake-cwl-runner"
    tool.write_text(FAKE_TOOL)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return tmp_path


def run_driver(root: Path, expected: str, *more: str) -> tuple[int, dict[str, str]]:
    """Run the CWL driver on the fake suite; return its exit status and status per test."""
    (root / "expected.yaml").write_text(expected)
    status = cwl.main(
        [
            "--version", "v1.2", "--suite", str(root / "suite"),
            "--tool", str(root / "fake-cwl-runner"), "-j", "2", "--timeout", "30",
            "--output-dir", str(root / "out"), "--expected-failures", str(root / "expected.yaml"),
            "--baseline", str(root / "baseline.json"), "-q", *more,
        ]
    )  # fmt: skip
    document = json.loads((root / "out" / "results.json").read_text())
    return status, {case["id"]: case["status"] for case in document["tests"]}


def test_cwl_driver_end_to_end(fake_suite: Path) -> None:
    listed = "v1.2:\n  wrong_output: {reason: r}\n  unsupported_feature: {reason: r}\n"
    status, statuses = run_driver(fake_suite, listed)
    assert statuses == {
        "passes": "pass",
        "wrong_output": "fail",
        "unsupported_feature": "unsupported",
        "required_unsupported": "fail",  # exit 33 on a required test is a failure
    }
    assert status == 1  # required_unsupported is not listed
    assert (fake_suite / "out" / "junit.xml").exists()

    all_listed = listed + "  required_unsupported: {reason: r}\n"
    status, _ = run_driver(fake_suite, all_listed, "--update-baseline")
    assert status == 0
    assert load_baseline(fake_suite / "baseline.json", "v1.2") == {"passes"}


def test_cwl_driver_subset_keeps_labels_right(fake_suite: Path) -> None:
    status, statuses = run_driver(fake_suite, "", "--only", "unsupported_feature,passes")
    # cwltest's own -n/-s would label these by run position; the driver avoids that.
    assert statuses == {"passes": "pass", "unsupported_feature": "unsupported"}
    assert status == 1


def test_cwl_driver_rejects_unknown_ids(fake_suite: Path) -> None:
    (fake_suite / "expected.yaml").write_text("")
    status = cwl.main(
        ["--version", "v1.2", "--suite", str(fake_suite / "suite"), "--only", "nope",
         "--tool", str(fake_suite / "fake-cwl-runner"), "--output-dir", str(fake_suite / "o")]
    )  # fmt: skip
    assert status == 2
