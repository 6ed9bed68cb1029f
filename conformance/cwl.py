"""Run a CWL conformance suite through cwltest against a CWL runner, then apply the gate.

Usage::

    python -m conformance.cwl --version v1.2 [--suite PATH_OR_URL] [--tool toil-cwl-runner]
        [-j N] [--timeout S] [--tags required] [--only a,b] [--exclude c,d]
        [--output-dir DIR] [--update-baseline] [--no-gate] [--strict] [-- extra runner args]

cwltest runs each test as ``TOOL [extra args] --outdir=TMP --quiet TOOL.cwl JOB.yml`` and
compares the JSON printed on stdout with the expected output. Its verdicts map to ours:
exit 0 with matching output is ``pass``; exit 33 on a test *not* tagged ``required`` is
``unsupported``; everything else (wrong output, another exit code, exit 33 on a required
test, a timeout) is ``fail``. The gate treats ``unsupported`` like ``fail`` unless the test
is listed in ``cwl_expected_failures.yaml``.

Writes ``results.json`` (per test: id, status, duration, reason), ``junit.xml`` (cwltest's),
``cwltest.log`` and cwltest's badges into the output directory (default
``conformance/results/cwl-<version>/``). Exit status: 0 gate passed, 1 gate failed, 2 the
harness could not run (bad arguments, suite not found, cwltest crashed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from conformance.gate import (
    CaseResult,
    GateFiles,
    HarnessError,
    Status,
    judge,
    print_summary,
    write_results,
)
from conformance.suite import REPO_ROOT, SHARED_CONFORMANCE, find_executable, resolve_list_file

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
GATE_FILES = GateFiles(HERE / "cwl_expected_failures.yaml", HERE / "cwl_baseline.json")
DEFAULT_TIMEOUT = 120
STDERR_TAIL_LINES = 8


@dataclass(frozen=True)
class SuiteCase:
    """One test of the list: its short id and tags (cwltest assumes ``required`` if none)."""

    id: str
    tags: tuple[str, ...]


def list_file_names(version: str) -> tuple[str, ...]:
    """Names the suite's test list may have, most likely first (v1.0 names it differently)."""
    if version == "v1.0":
        return ("conformance_test_v1.0.yaml", "conformance_tests.yaml")
    return ("conformance_tests.yaml",)


def load_cases(list_file: Path) -> tuple[list[SuiteCase], list[dict[str, Any]]]:
    """Load the test list (with its ``$import``s) as cwltest does, in cwltest's order.

    Returns our view of each test and cwltest's loaded entries (for `write_selection`).
    """
    from cwltest.utils import load_and_validate_tests, shortname
    from schema_salad.exceptions import ValidationException

    try:
        tests, _ = load_and_validate_tests(str(list_file))
    except ValidationException as exc:
        raise HarnessError(f"{list_file}: invalid test list: {exc}") from exc
    cases = []
    for index, test in enumerate(tests):
        raw_id = test.get("id") or test.get("label")
        test_id = shortname(str(raw_id)) if raw_id else f"#{index + 1}"
        cases.append(SuiteCase(test_id, tuple(test.get("tags") or ("required",))))
    return cases, list(tests)


def write_selection(tests: Sequence[dict[str, Any]], indices: Sequence[int], path: Path) -> None:
    """Write the selected loaded entries as a test list cwltest can run on its own.

    cwltest's ``-n``/``-s`` selection is unusable: it labels results by their position in
    the run rather than in the suite (and ``-s`` cannot name the first test), so a subset
    is run as a list of its own. Loaded entries carry absolute ``tool``/``job`` URIs, so
    they work from any directory. Loading turned ``should_fail`` into an int and added a
    ``line`` key; both are undone here so the schema accepts the file.
    """
    selected = []
    for index in indices:
        entry = {key: value for key, value in tests[index].items() if key != "line"}
        if "should_fail" in entry:
            entry["should_fail"] = bool(entry["should_fail"])
        selected.append(entry)
    # JSON is YAML; ensure_ascii=False because escaped astral characters do not round-trip.
    path.write_text(json.dumps(selected, ensure_ascii=False, indent=1), encoding="utf-8")


def _split_ids(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def select_cases(
    cases: Sequence[SuiteCase], tags: str | None, only: str | None, exclude: str | None
) -> list[int]:
    """Return the 0-based indices of the tests to run, in suite order.

    A test runs when it has one of `tags` (all tests if None), is in `only` (all if None) and
    is not in `exclude`. Raises `HarnessError` for ids in `only`/`exclude` the suite lacks.
    """
    known = {case.id for case in cases}
    wanted_tags = set(_split_ids(tags))
    only_ids = set(_split_ids(only))
    excluded = set(_split_ids(exclude))
    unknown = sorted((only_ids | excluded) - known)
    if unknown:
        raise HarnessError(f"no such test id(s) in the suite: {', '.join(unknown)}")
    return [
        index
        for index, case in enumerate(cases)
        if (not wanted_tags or wanted_tags.intersection(case.tags))
        and (not only_ids or case.id in only_ids)
        and case.id not in excluded
    ]


# Colour codes; junit_xml drops the ESC byte (illegal in XML) and leaves "[31m".
_ANSI = re.compile(r"\x1b?\[[0-9;]*m")


def _tail(text: str | None, lines: int = STDERR_TAIL_LINES) -> str:
    plain = _ANSI.sub("", text or "")
    kept = [line for line in plain.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def parse_junit(path: Path) -> dict[str, CaseResult]:
    """Read cwltest's JUnit XML into results keyed by test id.

    cwltest writes each test as ``<testcase file=ID time=S>`` with a ``<failure>`` child for
    a failure and ``<skipped>`` for an unsupported feature; the reason keeps the tail of the
    runner's stderr.
    """
    results: dict[str, CaseResult] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = case.get("file") or case.get("name") or "?"
        duration = float(case.get("time") or 0.0)
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        stderr_tail = _tail(case.findtext("system-err"))
        if failure is not None:
            message = failure.get("message") or (failure.text or "").strip() or "failed"
            reason = f"{message}\n{stderr_tail}".strip()
            results[test_id] = CaseResult(test_id, Status.FAIL, duration, reason)
        elif skipped is not None:
            reason = skipped.get("message") or "unsupported feature (exit 33)"
            reason = f"{reason}\n{stderr_tail}".strip()
            results[test_id] = CaseResult(test_id, Status.UNSUPPORTED, duration, reason)
        else:
            results[test_id] = CaseResult(test_id, Status.PASS, duration)
    return results


def resolve_tool(tool: str) -> str:
    """Absolute path of the runner executable; raises `HarnessError` if it cannot be found."""
    found = find_executable(tool)
    if found is None:
        raise HarnessError(f"CWL runner {tool!r} not found (on PATH, as a path, or in the venv)")
    return found


def cwltest_command(
    list_file: Path,
    tool: str,
    jobs: int,
    timeout: int,
    out_dir: Path,
    extra: Sequence[str],
) -> list[str]:
    """The cwltest command line running every test of `list_file`."""
    command = [
        sys.executable, "-m", "cwltest",
        "--test", str(list_file),
        "--tool", tool,
        "-j", str(jobs),
        "--timeout", str(timeout),
        "--junit-xml", str(out_dir / "junit.xml"),
        "--badgedir", str(out_dir / "badges"),
    ]  # fmt: skip
    if extra:
        command += ["--", *extra]
    return command


def run_cwltest(command: list[str], scratch: Path, log_path: Path, echo: TextIO | None) -> int:
    """Run cwltest in `scratch`, tee its output to `log_path` (and `echo`); return its status.

    ``TMPDIR`` points into `scratch` so the output directories cwltest makes for each test
    (and never deletes) go away with it.
    """
    tmp = scratch / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp)}
    with log_path.open("w", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n")
        with subprocess.Popen(
            command, cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace",
        ) as proc:  # fmt: skip
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()  # so the log can be followed while the suite runs
                if echo is not None:
                    echo.write(line)
                    echo.flush()
        return proc.returncode


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse our options; everything after ``--`` goes to the runner unchanged."""
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m conformance.cwl", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--version", required=True, help="suite version, e.g. v1.2")
    parser.add_argument("--suite", help="suite directory, test-list file, or archive URL")
    parser.add_argument("--tool", default="toil-cwl-runner", help="CWL runner command")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per test")
    parser.add_argument("--tags", help="run only tests with one of these tags (comma list)")
    parser.add_argument("--only", help="run only these test ids (comma list)")
    parser.add_argument("--exclude", help="skip these test ids (comma list)")
    parser.add_argument("--output-dir", type=Path, help="where results go")
    parser.add_argument(
        "--expected-failures", type=Path, default=GATE_FILES.expected, help="gate data (YAML)"
    )
    parser.add_argument("--baseline", type=Path, default=GATE_FILES.baseline, help="gate data")
    parser.add_argument("--update-baseline", action="store_true", help="record new passes")
    parser.add_argument("--no-gate", action="store_true", help="report only; exit 0 if it ran")
    parser.add_argument("--strict", action="store_true", help="unexpected passes fail too")
    parser.add_argument("--keep-scratch", action="store_true", help="keep runner outputs")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not echo cwltest")
    return parser.parse_args(argv), extra


def run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the suite as `args` say and return the exit status (0 ok, 1 gate failed)."""
    version: str = args.version
    list_file = resolve_list_file(
        args.suite, SHARED_CONFORMANCE / "cwl" / version, list_file_names(version)
    )
    cases, tests = load_cases(list_file)
    selected = select_cases(cases, args.tags, args.only, args.exclude)
    if not selected:
        raise HarnessError("no test matches the selection")
    tool = resolve_tool(args.tool)
    out_dir: Path = args.output_dir or REPO_ROOT / "conformance" / "results" / f"cwl-{version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "junit.xml").unlink(missing_ok=True)
    scratch = out_dir / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    run_list = list_file
    (out_dir / "selected_tests.yaml").unlink(missing_ok=True)
    if len(selected) < len(cases):
        run_list = out_dir / "selected_tests.yaml"
        write_selection(tests, selected, run_list)
    command = cwltest_command(run_list, tool, args.jobs, args.timeout, out_dir, extra)
    logger.info("running %d of %d tests of %s with %s", len(selected), len(cases), version, tool)
    started = time.monotonic()
    echo = None if args.quiet else sys.stderr
    status = run_cwltest(command, scratch, out_dir / "cwltest.log", echo)
    elapsed = time.monotonic() - started
    if not args.keep_scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    if not (out_dir / "junit.xml").exists():
        raise HarnessError(f"cwltest exited {status} without a report; see {out_dir}/cwltest.log")
    recorded = parse_junit(out_dir / "junit.xml")
    results = [
        recorded.get(cases[i].id)
        or CaseResult(cases[i].id, Status.FAIL, 0.0, "cwltest recorded no result")
        for i in selected
    ]
    meta: dict[str, Any] = {
        "language": "cwl", "version": version, "suite": str(list_file), "tool": tool,
        "tool_args": extra, "jobs": args.jobs, "timeout": args.timeout,
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "elapsed": round(elapsed, 1), "cwltest_exit": status,
    }  # fmt: skip
    write_results(out_dir / "results.json", meta, results)
    files = GateFiles(args.expected_failures, args.baseline)
    report = judge(
        results, version, files, {case.id for case in cases},
        strict=args.strict, update=args.update_baseline,
    )  # fmt: skip
    title = f"CWL {version} with {args.tool}"
    print_summary(title, results, report, elapsed, files.expected, sys.stdout)
    print(f"   results: {out_dir / 'results.json'}, {out_dir / 'junit.xml'}")
    return 0 if report.ok or args.no_gate else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args, extra)
    except HarnessError as exc:
        logger.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
