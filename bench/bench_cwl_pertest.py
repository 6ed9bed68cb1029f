"""Benchmark: time per CWL conformance test, for moil, cwltool and Toil's runner.

Issue 3 targets, for moil: under 0.6 s for a one-tool test and under 1 s for a small
workflow. Each chosen test of the v1.2 suite is run the way cwltest runs it
(``RUNNER --no-container --outdir=TMP --quiet TOOL JOB``, from the suite's folder), ``--runs``
times (default 5) per engine, and the median wall and CPU (process tree) are printed. The
output's ``checksum`` is checked against the suite's expected one, so a run that does
not give the right answer does not count as fast.

Also printed: the median of ``RUNNER --version``, i.e. what an interpreter start and the
engine's imports cost before any document is read (the floor under every test).

Default tests: ``stdout_redirect_docker`` (one tool: ``cat`` with stdout redirection; its
Docker image is only a hint) and ``wf_simple`` (revsort: a workflow of two tools).

    .venv/bin/python bench/bench_cwl_pertest.py [--tests stdout_redirect_docker wf_simple]
        [--runs 5] [--engines moil cwltool toil] [--suite /work/shared/conformance/cwl/v1.2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from typing import Any

from ruamel.yaml import YAML

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # bench/ is not a package: found by the path above
    REPO,
    Measure,
    Report,
    moil_command,
    peer_command,
    run_measured,
)

DEFAULT_SUITE = os.path.join(os.path.dirname(REPO), "shared", "conformance", "cwl", "v1.2")
TARGETS = {"stdout_redirect_docker": 0.6, "wf_simple": 1.0}


def runner(engine: str) -> str | None:
    if engine == "moil":
        return moil_command("toil-cwl-runner")
    return peer_command("cwltool" if engine == "cwltool" else "toil-cwl-runner")


def load_tests(suite: str, ids: list[str]) -> list[dict[str, Any]]:
    """The suite's entries with these ids, in the order asked."""
    with open(os.path.join(suite, "conformance_tests.yaml"), encoding="utf-8") as f:
        entries = YAML(typ="safe").load(f)
    by_id = {e["id"]: e for e in entries if isinstance(e, dict) and "id" in e}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise SystemExit(f"not in {suite}: {', '.join(missing)}")
    return [by_id[i] for i in ids]


def checksums(value: Any) -> list[str]:
    """Every ``checksum`` in an output object, in document order."""
    if isinstance(value, dict):
        found = [value["checksum"]] if "checksum" in value else []
        return found + [c for k, v in value.items() if k != "checksum" for c in checksums(v)]
    if isinstance(value, list):
        return [c for v in value for c in checksums(v)]
    return []


def run_test(exe: str, test: dict[str, Any], suite: str, scratch: str) -> tuple[Measure, str]:
    """One cwltest-like run; its figures and "ok" or what was wrong."""
    outdir = tempfile.mkdtemp(dir=scratch)
    argv = [exe, "--no-container", f"--outdir={outdir}", "--quiet", test["tool"]]
    if "job" in test:
        argv.append(test["job"])
    path = os.pathsep.join([os.path.dirname(exe), os.environ.get("PATH", "")])
    m = run_measured(argv, cwd=suite, env=dict(os.environ, PATH=path), timeout=600)
    shutil.rmtree(outdir, ignore_errors=True)
    if m.returncode != 0:
        return m, f"exit {m.returncode}: {m.stderr_tail[-500:]}"
    try:
        got = checksums(json.loads(m.stdout))
    except ValueError:
        return m, "output is not JSON"
    return m, "ok" if got == checksums(test.get("output")) else f"checksums {got}"


def median_row(engine: str, name: str, runs: list[Measure], status: str) -> dict[str, Any]:
    return {
        "test": name,
        "engine": engine,
        "runs": len(runs),
        "status": status,
        "wall_s": statistics.median(m.wall for m in runs),
        "cpu_s": statistics.median(m.cpu for m in runs),
        "min_wall_s": min(m.wall for m in runs),
        "rss_mib": statistics.median(m.leader_peak_rss_mib for m in runs),
        "target_s": TARGETS.get(name) if engine == "moil" else None,
    }


COLUMNS = [
    ("test", "test", ""),
    ("engine", "engine", ""),
    ("runs", "runs", "d"),
    ("status", "status", ""),
    ("wall_s", "median wall s", ".3f"),
    ("min_wall_s", "min wall s", ".3f"),
    ("cpu_s", "median cpu s", ".3f"),
    ("rss_mib", "leader MiB", ".0f"),
    ("target_s", "target s", ".1f"),
    ("load", "load", ".1f"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tests", nargs="+", default=list(TARGETS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--engines",
        nargs="+",
        default=["moil", "cwltool", "toil"],
        choices=["moil", "cwltool", "toil"],
    )
    parser.add_argument("--suite", default=DEFAULT_SUITE)
    args = parser.parse_args()
    tests = load_tests(args.suite, args.tests)
    engines = [(e, exe) for e in args.engines if (exe := runner(e)) is not None]
    report = Report("cwl-pertest", f"CWL per-test time, {args.runs} runs each (median)", COLUMNS)
    with tempfile.TemporaryDirectory(prefix="moil-bench-pertest-") as scratch:
        for engine, exe in engines:
            cases = [("--version", None)] + [(t["id"], t) for t in tests]
            for name, test in cases:
                report.run(measure_case, engine, exe, name, test, args, scratch)
    report.finish(args)


def measure_case(
    engine: str, exe: str, name: str, test: dict[str, Any] | None, args: Any, scratch: str
) -> dict[str, Any]:
    """The median row of ``args.runs`` runs of one test (or of ``--version``)."""
    runs, status = [], "ok"
    for _ in range(args.runs):
        if test is None:
            m = run_measured([exe, "--version"], cwd=scratch)
            problem = "ok" if m.returncode == 0 else f"exit {m.returncode}"
        else:
            m, problem = run_test(exe, test, args.suite, scratch)
        runs.append(m)
        if problem != "ok":
            status = problem
    if status != "ok":
        print(f"  {engine} {name}: {status}", file=sys.stderr)
    return median_row(engine, name, runs, status.splitlines()[0][:40])


if __name__ == "__main__":
    main()
