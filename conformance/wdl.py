"""Run DataBiosphere's WDL conformance tests against a WDL runner, then apply the gate.

Usage::

    python -m conformance.wdl --version 1.1 [--suite PATH_OR_URL]
        [--runner toil-wdl-runner|miniwdl|COMMAND] [--runner-style toil|miniwdl]
        [--containers] [-j N] [--timeout S] [--only a,b] [--tags t] [--exclude c,d]
        [--output-dir DIR] [--work-dir DIR] [--update-baseline] [--no-gate] [--strict]
        [--keep-work]
        [-- extra runner args]

Each test that applies to ``--version`` runs as its own subprocess, ``-j`` at a time, in
``WORK/<id>/root``: a directory of symlinks to the suite's root, which is where the suite
expects a runner to start (paths in its inputs are relative to it). Runner styles:

- ``toil``: ``COMMAND WDL INPUTS.json -o WORK/<id>/out -m WORK/<id>/outputs.json``
  (Toil's ``toil-wdl-runner``; a plain ``{"wf.out": value}`` map or miniwdl's dialect);
- ``miniwdl``: ``COMMAND run WDL -i INPUTS.json -d WORK/<id>/run/. -o outputs.json``.
  ``--runner miniwdl`` runs miniwdl with `conformance.miniwdl_local` (tasks on the host,
  no container runtime needed) unless ``--containers`` is given.

A test passes when the run exits 0 and its outputs match (see `conformance.wdl_compare`),
or, for a test marked ``fail: true``, when the run exits non-zero. A timeout is a failure.
Writes ``results.json`` into the output directory (default
``conformance/results/wdl-<version>/``). WORK (``--work-dir``, default a fresh temporary
directory, outside the source tree since tests leave ``.py`` files there) keeps the files of
tests that did not pass, and is deleted when every test passed. Exit status: 0 gate passed, 1 gate failed, 2 the harness could not run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
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
from conformance.wdl_compare import compare_outputs, expand_vars, output_map
from conformance.wdl_suite import WDL_VERSIONS, WdlCase, load_suite, prepare_source

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
GATE_FILES = GateFiles(HERE / "wdl_expected_failures.yaml", HERE / "wdl_baseline.json")
DEFAULT_TIMEOUT = 120
KILL_GRACE_SECONDS = 10
STDERR_TAIL_LINES = 12


@dataclass(frozen=True)
class Runner:
    """How to invoke a WDL runner: its style, the argv before the WDL file, extra args."""

    label: str
    style: str
    prefix: tuple[str, ...]
    extra: tuple[str, ...] = ()

    def command(self, wdl: Path, inputs: Path, work: Path) -> tuple[list[str], Path]:
        """The argv running `wdl` on `inputs` with its files under `work`; and where the
        outputs JSON will be."""
        outputs = work / "outputs.json"
        if self.style == "miniwdl":
            tail = ["-i", str(inputs), "-d", f"{work / 'run'}/.", "-o", str(outputs), "--verbose"]
        else:
            tail = [str(inputs), "-o", str(work / "out"), "-m", str(outputs)]
        return [*self.prefix, str(wdl), *tail, *self.extra], outputs


def make_runner(name: str, style: str | None, containers: bool, extra: Sequence[str]) -> Runner:
    """Build the `Runner` for ``--runner`` `name`; raises `HarnessError` if it is not found."""
    words = shlex.split(name)
    if not words:
        raise HarnessError("--runner is empty")
    style = style or ("miniwdl" if "miniwdl" in Path(words[0]).name else "toil")
    if style not in ("miniwdl", "toil"):
        raise HarnessError(f"unknown runner style {style!r}; use toil or miniwdl")
    if name == "miniwdl" and not containers:
        prefix = (sys.executable, "-m", "conformance.miniwdl_local", "run")
        return Runner(name, style, prefix, tuple(extra))
    found = find_executable(words[0])
    if found is None:
        raise HarnessError(
            f"WDL runner {words[0]!r} not found (on PATH, as a path, or in the venv)"
        )
    words[0] = found
    if style == "miniwdl" and words[-1] != "run":
        words.append("run")
    return Runner(name, style, tuple(words), tuple(extra))


@dataclass(frozen=True)
class RunContext:
    """What every test of a run shares."""

    suite_root: Path
    version: str
    runner: Runner
    work_root: Path
    timeout: float
    keep_work: bool


def mirror_suite_root(suite_root: Path, root: Path) -> None:
    """Make `root` a directory of symlinks to `suite_root`'s entries.

    The suite's harness runs from its own checkout, whose ``run.py`` some tests read as an
    input file (basic_quote); an empty stand-in is provided when the suite lacks one.
    """
    root.mkdir(parents=True)
    for entry in suite_root.iterdir():
        (root / entry.name).symlink_to(entry)
    if not (root / "run.py").exists():
        (root / "run.py").write_text("", encoding="utf-8")


def execute(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float, work: Path
) -> int | None:
    """Run `argv` in its own session with stdout/stderr in `work`; None if it timed out.

    On timeout the whole process group gets SIGTERM, then SIGKILL after a grace period;
    leftovers of a finished run (background children) are killed too.
    """
    with (work / "stdout.txt").open("wb") as out, (work / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True,
        )  # fmt: skip
        try:
            code: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(KILL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        _signal_group(proc.pid, signal.SIGKILL)
    return code


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(line for line in text.strip().splitlines()[-lines:])


def _key_line(text: str) -> str:
    """The line of a stderr tail that most likely says what went wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"error|exception|failed|unknown|not found", line, re.IGNORECASE):
            return line
    return lines[-1] if lines else "(no stderr)"


def _read_outputs(outputs_path: Path, stdout_path: Path) -> dict[str, Any] | None:
    for path in (outputs_path, stdout_path):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found = output_map(document)
        if found is not None:
            return found
    return None


def verdict(case: WdlCase, code: int | None, ctx: RunContext, work: Path) -> tuple[Status, str]:
    """Decide a test's status from the runner's exit `code` (None: timed out) and outputs."""
    if code is None:
        return Status.FAIL, f"timed out after {ctx.timeout:g} s"
    if case.fail:
        if code != 0:
            return Status.PASS, ""
        return Status.FAIL, "the run succeeded but the test expects it to fail"
    if code != 0:
        tail = _tail(work / "stderr.txt")
        return Status.FAIL, f"exit status {code}: {_key_line(tail)}\n{tail}"
    actual = _read_outputs(work / "outputs.json", work / "stdout.txt")
    if actual is None:
        return Status.FAIL, "the runner wrote no outputs JSON (file or stdout)"
    root = work / "root"
    expected = expand_vars(case.outputs, {"WDL_DIR": str(root)})
    reason = compare_outputs(expected, actual, root)
    return (Status.PASS, "") if reason is None else (Status.FAIL, reason)


def run_case(case: WdlCase, ctx: RunContext) -> CaseResult:
    """Run one test in a fresh work directory and judge it; never raises for a test's fault."""
    work = ctx.work_root / case.id
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    try:
        root = work / "root"
        mirror_suite_root(ctx.suite_root, root)
        wdl = prepare_source(case, root, ctx.version, work)
        argv, _ = ctx.runner.command(wdl, root / case.directory / case.json, work)
        (work / "command.txt").write_text(shlex.join(argv) + "\n", encoding="utf-8")
        (work / "tmp").mkdir()
        env = {
            **os.environ,
            "TMPDIR": str(work / "tmp"),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
            ),
            "NO_COLOR": "1",
        }
        code = execute(argv, root, env, ctx.timeout, work)
        status, reason = verdict(case, code, ctx, work)
    except (HarnessError, OSError) as exc:
        status, reason = Status.FAIL, f"harness error: {exc}"
    duration = time.monotonic() - started
    if status is Status.PASS and not ctx.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return CaseResult(case.id, status, duration, reason)


def _split(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def select_cases(
    cases: Sequence[WdlCase], version: str, only: str | None, tags: str | None,
    exclude: str | None,
) -> list[WdlCase]:  # fmt: skip
    """The tests that apply to `version`, filtered like `conformance.cwl.select_cases`."""
    only_ids, wanted_tags, excluded = _split(only), _split(tags), _split(exclude)
    applicable = [case for case in cases if version in case.versions]
    unknown = sorted((only_ids | excluded) - {case.id for case in applicable})
    if unknown:
        raise HarnessError(f"no such test id(s) for WDL {version}: {', '.join(unknown)}")
    return [
        case
        for case in applicable
        if (not only_ids or case.id in only_ids)
        and (not wanted_tags or wanted_tags.intersection(case.tags))
        and case.id not in excluded
    ]


def run_all(
    cases: list[WdlCase], ctx: RunContext, jobs: int, echo: TextIO | None
) -> list[CaseResult]:
    """Run `cases` on `jobs` threads (each waits on its own subprocess), in suite order."""
    results: dict[str, CaseResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run_case, case, ctx): case for case in cases}
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results[result.id] = result
            if echo is not None:
                first = result.reason.splitlines()[0] if result.reason else ""
                print(
                    f"[{done}/{len(cases)}] {result.status.value:4} {result.id} "
                    f"({result.duration:.1f} s) {first}".rstrip(),
                    file=echo, flush=True,
                )  # fmt: skip
    return [results[case.id] for case in cases]


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse our options; everything after ``--`` goes to the runner unchanged."""
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m conformance.wdl", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--version", required=True, choices=WDL_VERSIONS)
    parser.add_argument("--suite", help="suite directory, conformance.yaml, or archive URL")
    parser.add_argument("--runner", default="toil-wdl-runner", help="runner command")
    parser.add_argument("--runner-style", choices=("toil", "miniwdl"), help="command shape")
    parser.add_argument("--containers", action="store_true", help="miniwdl: use its containers")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per test")
    parser.add_argument("--only", help="run only these test ids (comma list)")
    parser.add_argument("--tags", help="run only tests with one of these tags (comma list)")
    parser.add_argument("--exclude", help="skip these test ids (comma list)")
    parser.add_argument("--output-dir", type=Path, help="where results go")
    parser.add_argument(
        "--expected-failures", type=Path, default=GATE_FILES.expected, help="gate data (YAML)"
    )
    parser.add_argument("--baseline", type=Path, default=GATE_FILES.baseline, help="gate data")
    parser.add_argument("--update-baseline", action="store_true", help="record new passes")
    parser.add_argument("--no-gate", action="store_true", help="report only; exit 0 if it ran")
    parser.add_argument("--strict", action="store_true", help="unexpected passes fail too")
    parser.add_argument("--work-dir", type=Path, help="per-test dirs (default: a temp dir)")
    parser.add_argument("--keep-work", action="store_true", help="keep passing tests' work dirs")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-test progress")
    return parser.parse_args(argv), extra


def run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the suite as `args` say and return the exit status (0 ok, 1 gate failed)."""
    version: str = args.version
    list_file = resolve_list_file(
        args.suite, SHARED_CONFORMANCE / "wdl" / "databiosphere", ("conformance.yaml",)
    )
    all_cases = load_suite(list_file)
    cases = select_cases(all_cases, version, args.only, args.tags, args.exclude)
    if not cases:
        raise HarnessError(f"no test of {list_file} matches the selection for WDL {version}")
    runner = make_runner(args.runner, args.runner_style, args.containers, extra)
    out_dir: Path = args.output_dir or REPO_ROOT / "conformance" / "results" / f"wdl-{version}"
    if args.work_dir is None:
        work_root = Path(tempfile.mkdtemp(prefix=f"moil-wdl-{version}-"))
    else:
        work_root = args.work_dir.resolve()
        shutil.rmtree(work_root, ignore_errors=True)
        work_root.mkdir(parents=True)
    ctx = RunContext(list_file.parent, version, runner, work_root, args.timeout, args.keep_work)
    logger.info("running %d tests of WDL %s with %s", len(cases), version, " ".join(runner.prefix))
    started = time.monotonic()
    results = run_all(cases, ctx, args.jobs, None if args.quiet else sys.stderr)
    elapsed = time.monotonic() - started
    meta: dict[str, Any] = {
        "language": "wdl", "version": version, "suite": str(list_file), "runner": args.runner,
        "runner_command": list(runner.prefix), "runner_args": extra, "jobs": args.jobs,
        "timeout": args.timeout, "elapsed": round(elapsed, 1),
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    write_results(out_dir / "results.json", meta, results)
    known = {case.id for case in all_cases if version in case.versions}
    files = GateFiles(args.expected_failures, args.baseline)
    report = judge(results, version, files, known, strict=args.strict, update=args.update_baseline)
    title = f"WDL {version} with {args.runner}"
    print_summary(title, results, report, elapsed, files.expected, sys.stdout)
    print(f"   results: {out_dir / 'results.json'}")
    if any(r.status is not Status.PASS for r in results) or args.keep_work:
        print(f"   files of the tests that did not pass: {work_root}")
    else:
        shutil.rmtree(work_root, ignore_errors=True)
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
