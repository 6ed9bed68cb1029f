"""Per-test results, expected failures, baselines, and the CI gate over them.

The gate's rule, for one suite version and the tests that ran:

- a test that did not pass (failed, timed out, or reported an unsupported feature) and is not
  listed in the expected-failure file is a *new failure*: the gate fails;
- a test in the baseline (it passed before) that did not pass is a *regression*: the gate
  fails, even when the test is also listed as an expected failure;
- a listed test that passed is *unexpectedly passing*: reported so its entry gets removed
  (the list only shrinks); it fails the gate only in strict mode.

Tests that were not selected for the run (``--only``, ``--tags``) are not judged.

Expected-failure files are YAML: ``{version: {test_id: {reason: str}}}``; every entry needs a
non-empty reason. Baseline files are JSON: ``{version: [sorted test ids]}``;
`update_baseline` only ever adds ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from ruamel.yaml import YAML

logger = logging.getLogger(__name__)

REASON_LIMIT = 2000
"""Longest reason kept per test in the results JSON (the logs keep everything)."""


class HarnessError(Exception):
    """The harness itself cannot do its job (bad data file, missing suite, crashed driver).

    Drivers exit with status 2 on it, distinct from 1 (the gate failed).
    """


class Status(StrEnum):
    """Outcome of one conformance test."""

    PASS = "pass"
    """The runner gave the expected outputs (or failed where failure was expected)."""
    FAIL = "fail"
    """Wrong outputs, an unexpected error, or a timeout."""
    UNSUPPORTED = "unsupported"
    """The runner exited 33 on a test not tagged ``required`` (cwltest's "unsupported")."""


@dataclass(frozen=True)
class CaseResult:
    """The result of one test: its id, status, wall time in seconds and why it did not pass."""

    id: str
    status: Status
    duration: float
    reason: str = ""


@dataclass(frozen=True)
class GateReport:
    """What the gate found; `ok` says whether CI may pass."""

    new_failures: list[CaseResult] = field(default_factory=list)
    regressions: list[CaseResult] = field(default_factory=list)
    unexpected_passes: list[str] = field(default_factory=list)
    unknown_expected: list[str] = field(default_factory=list)
    strict: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing outside the expected list failed and no baseline test regressed."""
        if self.new_failures or self.regressions:
            return False
        return not (self.strict and self.unexpected_passes)


def _yaml_safe() -> YAML:
    return YAML(typ="safe", pure=True)


def load_expected_failures(path: Path, version: str) -> dict[str, str]:
    """Return ``{test_id: reason}`` listed for `version` in the YAML file at `path`.

    A missing file or version means no expected failures. Raises `HarnessError` when the file
    is malformed: an entry that is not a mapping, lacks a non-empty ``reason``, or has keys
    other than ``reason``.
    """
    if not path.exists():
        return {}
    data = _yaml_safe().load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: top level must map versions to entries")
    # YAML reads an unquoted 1.0 as a float: compare versions as strings.
    by_version = {str(key): value for key, value in data.items()}
    entries = by_version.get(version) or {}
    if not isinstance(entries, dict):
        raise HarnessError(f"{path}: version {version!r} must map test ids to entries")
    result: dict[str, str] = {}
    for test_id, entry in entries.items():
        where = f"{path}: {version} / {test_id}"
        if not isinstance(entry, dict):
            raise HarnessError(f"{where}: an entry must be a mapping with a 'reason'")
        extra = set(entry) - {"reason"}
        if extra:
            raise HarnessError(f"{where}: unknown keys {sorted(extra)}; only 'reason' is allowed")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise HarnessError(f"{where}: every expected failure needs a non-empty 'reason'")
        result[str(test_id)] = reason.strip()
    return result


def load_baseline(path: Path, version: str) -> set[str]:
    """Return the ids recorded as passing for `version` in the JSON file at `path`."""
    if not path.exists():
        return set()
    data = json.loads(path.read_text(encoding="utf-8") or "{}")
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: top level must map versions to lists of test ids")
    ids = data.get(version, [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise HarnessError(f"{path}: {version!r} must be a list of test ids")
    return set(ids)


def update_baseline(path: Path, version: str, results: Iterable[CaseResult]) -> list[str]:
    """Add the ids of passing `results` to the baseline of `version`; never remove any.

    Returns the ids that were added, sorted. The file is rewritten atomically (write, rename)
    with every version's list sorted.
    """
    data: dict[str, list[str]] = {}
    if path.exists():
        loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
        if not isinstance(loaded, dict):
            raise HarnessError(f"{path}: top level must map versions to lists of test ids")
        data = {str(k): list(v) for k, v in loaded.items()}
    current = set(data.get(version, []))
    added = sorted({r.id for r in results if r.status is Status.PASS} - current)
    data[version] = sorted(current.union(added))
    text = json.dumps({k: sorted(v) for k, v in sorted(data.items())}, indent=2) + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return added


def evaluate(
    results: Iterable[CaseResult],
    expected: Mapping[str, str],
    baseline: set[str],
    known_ids: set[str] | None = None,
    strict: bool = False,
) -> GateReport:
    """Apply the gate's rule (see the module docstring) to the `results` of one run.

    `known_ids` is every test id of the suite version; entries of `expected` outside it are
    reported in `unknown_expected` (stale or misspelt entries) without failing the gate.
    """
    new_failures: list[CaseResult] = []
    regressions: list[CaseResult] = []
    unexpected: list[str] = []
    for result in sorted(results, key=lambda r: r.id):
        passed = result.status is Status.PASS
        if not passed and result.id not in expected:
            new_failures.append(result)
        if not passed and result.id in baseline:
            regressions.append(result)
        if passed and result.id in expected:
            unexpected.append(result.id)
    unknown = sorted(set(expected) - known_ids) if known_ids is not None else []
    return GateReport(new_failures, regressions, unexpected, unknown, strict)


def counts(results: Iterable[CaseResult]) -> dict[str, int]:
    """Number of results per status, every status present."""
    tally = {status.value: 0 for status in Status}
    for result in results:
        tally[result.status.value] += 1
    return tally


def write_results(path: Path, meta: Mapping[str, Any], results: list[CaseResult]) -> None:
    """Write the run's metadata, counts and per-test results as JSON to `path`."""
    cases = []
    for result in sorted(results, key=lambda r: r.id):
        case = asdict(result)
        case["status"] = result.status.value
        case["duration"] = round(result.duration, 3)
        case["reason"] = result.reason[:REASON_LIMIT]
        cases.append(case)
    document = {**meta, "counts": counts(results), "tests": cases}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def print_summary(
    title: str,
    results: list[CaseResult],
    report: GateReport,
    elapsed: float,
    expected_file: Path,
    out: TextIO,
) -> None:
    """Print counts, the gate's findings and its verdict to `out`."""
    tally = counts(results)
    print(f"\n== {title}: {len(results)} tests in {elapsed:.1f} s", file=out)
    print(
        f"   passed {tally['pass']}, failed {tally['fail']}, unsupported {tally['unsupported']}",
        file=out,
    )
    if report.new_failures:
        print(
            f"   NEW FAILURES, not in {expected_file.name} [{len(report.new_failures)}]:", file=out
        )
        for result in report.new_failures:
            print(f"     - {result.id} ({result.status}): {_one_line(result.reason)}", file=out)
    if report.regressions:
        print(f"   BASELINE REGRESSIONS [{len(report.regressions)}]:", file=out)
        for result in report.regressions:
            print(f"     - {result.id} ({result.status}): {_one_line(result.reason)}", file=out)
    if report.unexpected_passes:
        print(
            f"   Unexpectedly passing; remove from {expected_file.name} "
            f"[{len(report.unexpected_passes)}]:",
            file=out,
        )
        for test_id in report.unexpected_passes:
            print(f"     - {test_id}", file=out)
    if report.unknown_expected:
        print(f"   Listed in {expected_file.name} but not in the suite (stale?):", file=out)
        for test_id in report.unknown_expected:
            print(f"     - {test_id}", file=out)
    print(f"   gate: {'PASSED' if report.ok else 'FAILED'}", file=out)


@dataclass(frozen=True)
class GateFiles:
    """Where a language keeps its expected failures and baseline."""

    expected: Path
    baseline: Path


def judge(
    results: list[CaseResult],
    version: str,
    files: GateFiles,
    known_ids: set[str],
    *,
    strict: bool = False,
    update: bool = False,
) -> GateReport:
    """Load the gate's data for `version`, evaluate `results`, and update the baseline if asked.

    Baseline updates add newly passing ids only (see `update_baseline`); they happen whether
    or not the gate passes, since a pass is a pass.
    """
    expected = load_expected_failures(files.expected, version)
    baseline = load_baseline(files.baseline, version)
    report = evaluate(results, expected, baseline, known_ids, strict)
    for test_id in sorted(set(expected) & baseline):
        logger.warning("%s is both in the baseline and expected to fail: drop its entry", test_id)
    if update:
        added = update_baseline(files.baseline, version, results)
        logger.info("baseline %s: added %d test(s) for %s", files.baseline, len(added), version)
    return report
