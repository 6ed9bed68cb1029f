"""Benchmark: CWL workflows through moil's ``toil-cwl-runner``, cwltool and Toil's runner.

Generates its own documents in a temp dir and runs each engine as a user would (a fresh
process, the engine's default job store and temp dirs, ``--outdir`` in the scratch dir):

- scatter: ``echo`` over N items (each writes a one-line stdout file), then one ``cat`` of all
  of them (gather): N + 1 jobs;
- scatter-js: the same with JavaScript: the step's ``valueFrom: $(self * 2)`` (in the
  leader) and the tool's argument ``$(inputs.item + 1)`` (in the worker), two expressions
  per element (not in the default cases);
- chain: 50 ``cat`` steps, each reading the previous step's output;
- big-eval / big-iwd: a ``--big-gib`` (default 2) GiB file through three steps. Each step
  runs ``head -c 64`` on it (a small derived file) and returns the big file unchanged, by
  ``outputEval: $(inputs.big)`` (big-eval) or by staging it with InitialWorkDirRequirement
  and globbing it back (big-iwd). Disk bytes written divided by the file size is the number
  of full copies the engine made (final delivery to ``--outdir`` included).

Figures per case (see bench/_common.py): wall, CPU of the process tree, the leader's peak
RSS, bytes written and read, and overhead per job: (figure - the bare tools' own cost) /
jobs, where the bare cost is the same commands run from Python the same number of times.

Peers run only when bench/peers.sh installed them (``PEERS_VENV``), and by default only up
to sizes that finish in minutes (Toil took ~28 min for N=1000 in the issue): Toil N <= 100,
cwltool N <= 1000; ``--toil-max-n`` / ``--cwltool-max-n`` change that. cwltool runs with
``--no-container`` (no workload here needs one) and without ``--parallel`` (its default).

    .venv/bin/python bench/bench_cwl.py [--cases scatter chain big-eval big-iwd]
        [--sizes 10 100 1000 10000] [--engines moil cwltool toil] [--big-gib 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # bench/ is not a package: found by the path above
    Measure,
    Report,
    bare_cost,
    moil_command,
    peer_command,
    run_measured,
)

ECHO = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
inputs:
  item: {type: int, inputBinding: {position: 1}}
stdout: out.txt
outputs:
  out: {type: stdout}
"""

CAT = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: cat
inputs:
  files: {type: "File[]", inputBinding: {position: 1}}
stdout: all.txt
outputs:
  out: {type: stdout}
"""

CAT1 = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: cat
inputs:
  file: {type: File, inputBinding: {position: 1}}
stdout: out.txt
outputs:
  out: {type: stdout}
"""

SCATTER = """\
cwlVersion: v1.2
class: Workflow
requirements: {ScatterFeatureRequirement: {}}
inputs:
  items: int[]
steps:
  echo:
    run: echo.cwl
    scatter: item
    in: {item: items}
    out: [out]
  gather:
    run: cat.cwl
    in: {files: echo/out}
    out: [out]
outputs:
  all: {type: File, outputSource: gather/out}
"""

ECHO_JS = """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {InlineJavascriptRequirement: {}}
baseCommand: echo
inputs:
  item: int
arguments: [$(inputs.item + 1)]
stdout: out.txt
outputs:
  out: {type: stdout}
"""

SCATTER_JS = """\
cwlVersion: v1.2
class: Workflow
requirements:
  ScatterFeatureRequirement: {}
  StepInputExpressionRequirement: {}
  InlineJavascriptRequirement: {}
inputs:
  items: int[]
steps:
  echo:
    run: echo-js.cwl
    scatter: item
    in: {item: {source: items, valueFrom: $(self * 2)}}
    out: [out]
  gather:
    run: cat.cwl
    in: {files: echo/out}
    out: [out]
outputs:
  all: {type: File, outputSource: gather/out}
"""

PASS_EVAL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [head, -c, "64"]
inputs:
  big: {type: File, inputBinding: {position: 1}}
stdout: head.bin
outputs:
  head: {type: stdout}
  big_out: {type: File, outputBinding: {outputEval: $(inputs.big)}}
"""

PASS_IWD = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  InitialWorkDirRequirement: {listing: [$(inputs.big)]}
baseCommand: [head, -c, "64"]
inputs:
  big: {type: File, inputBinding: {position: 1}}
stdout: head.bin
outputs:
  head: {type: stdout}
  big_out: {type: File, outputBinding: {glob: $(inputs.big.basename)}}
"""


def chain_doc(steps: int) -> str:
    """A workflow of ``steps`` ``cat`` steps, each fed by the one before."""
    lines = ["cwlVersion: v1.2", "class: Workflow", "inputs:", "  start: File", "steps:"]
    for i in range(1, steps + 1):
        source = "start" if i == 1 else f"s{i - 1}/out"
        lines += [f"  s{i}:", "    run: cat1.cwl", f"    in: {{file: {source}}}", "    out: [out]"]
    lines += ["outputs:", f"  last: {{type: File, outputSource: s{steps}/out}}"]
    return "\n".join(lines) + "\n"


def big_doc(tool: str) -> str:
    """Three steps of ``tool``, each passing the big file on."""
    steps = []
    for i in range(1, 4):
        source = "big" if i == 1 else f"p{i - 1}/big_out"
        steps.append(
            f"  p{i}:\n    run: {tool}\n    in: {{big: {source}}}\n    out: [head, big_out]"
        )
    return (
        "cwlVersion: v1.2\nclass: Workflow\ninputs:\n  big: File\nsteps:\n"
        + "\n".join(steps)
        + "\noutputs:\n  big: {type: File, outputSource: p3/big_out}\n"
        + "  head: {type: File, outputSource: p3/head}\n"
    )


@dataclass
class Case:
    """One workload: its documents, its job, how many jobs it makes and what they cost bare."""

    name: str
    n: int
    jobs: int
    doc: str
    job: dict[str, Any]
    bare: Callable[[str], Measure]
    check: Callable[[dict[str, Any]], str | None]
    big_bytes: int = 0


def _path(value: dict[str, Any]) -> str:
    location = str(value.get("path") or value["location"])
    return location.removeprefix("file://")


def scatter_case(n: int, docs: str) -> Case:
    def bare(cwd: str) -> Measure:
        echo = bare_cost(["echo", "7"], n, cwd)
        cat = bare_cost(["cat", *[os.path.join(docs, "echo.cwl")] * min(n, 1000)], 1, cwd)
        return _sum(echo, cat)

    def check(out: dict[str, Any]) -> str | None:
        with open(_path(out["all"]), encoding="utf-8") as f:
            lines = f.read().split()
        return None if lines == [str(i) for i in range(n)] else f"gathered {len(lines)} lines"

    return Case("scatter", n, n + 1, "scatter.cwl", {"items": list(range(n))}, bare, check)


def scatter_js_case(n: int, docs: str) -> Case:
    case = scatter_case(n, docs)

    def check(out: dict[str, Any]) -> str | None:
        with open(_path(out["all"]), encoding="utf-8") as f:
            lines = f.read().split()
        expected = [str(2 * i + 1) for i in range(n)]
        return None if lines == expected else f"gathered {len(lines)} lines"

    return Case("scatter-js", n, n + 1, "scatter-js.cwl", case.job, case.bare, check)


def chain_case(steps: int, docs: str) -> Case:
    start = os.path.join(docs, "start.txt")

    def bare(cwd: str) -> Measure:
        return bare_cost(["cat", start], steps, cwd)

    def check(out: dict[str, Any]) -> str | None:
        with open(_path(out["last"]), encoding="utf-8") as f:
            return None if f.read() == "hello\n" else "wrong content at the end of the chain"

    job = {"start": {"class": "File", "path": start}}
    return Case("chain", steps, steps, "chain.cwl", job, bare, check)


def big_case(variant: str, big: str) -> Case:
    size = os.path.getsize(big)

    def bare(cwd: str) -> Measure:
        return bare_cost(["head", "-c", "64", big], 3, cwd)

    def check(out: dict[str, Any]) -> str | None:
        got = os.path.getsize(_path(out["big"]))
        return None if got == size else f"output is {got} bytes, input {size}"

    job = {"big": {"class": "File", "path": big}}
    return Case(f"big-{variant}", 3, 3, f"big-{variant}.cwl", job, bare, check, size)


def _sum(a: Measure, b: Measure) -> Measure:
    return Measure(a.wall + b.wall, a.user + b.user, a.sys + b.sys, 0.0, 0, 0, 0)


def engine_argv(engine: str, doc: str, job: str, outdir: str) -> list[str] | None:
    """The command a user would type, or None when the engine is not installed."""
    if engine == "moil":
        return [
            moil_command("toil-cwl-runner"),
            "--logLevel",
            "WARNING",
            "--outdir",
            outdir,
            doc,
            job,
        ]
    if engine == "toil":
        exe = peer_command("toil-cwl-runner")
        return None if exe is None else [exe, "--logLevel", "WARNING", "--outdir", outdir, doc, job]
    exe = peer_command("cwltool")
    return None if exe is None else [exe, "--quiet", "--no-container", "--outdir", outdir, doc, job]


def run_case(engine: str, case: Case, docs: str, scratch: str, timeout: float) -> dict[str, Any]:
    """Run one case with one engine in a fresh work dir; its row of figures."""
    work = tempfile.mkdtemp(prefix=f"{engine}-{case.name}-{case.n}-", dir=scratch)
    job = os.path.join(work, "job.json")
    with open(job, "w", encoding="utf-8") as f:
        json.dump(case.job, f)
    argv = engine_argv(engine, os.path.join(docs, case.doc), job, os.path.join(work, "out"))
    assert argv is not None
    # As in an activated venv: Toil runs some of its helpers (cwl-docker-extract) by PATH.
    path = os.pathsep.join([os.path.dirname(argv[0]), os.environ.get("PATH", "")])
    m = run_measured(argv, cwd=work, env=dict(os.environ, PATH=path), timeout=timeout)
    status = "ok"
    if m.timed_out:
        status = f"timeout {timeout:.0f}s"
    elif m.returncode != 0:
        status = f"exit {m.returncode}"
    else:
        try:
            problem = case.check(json.loads(m.stdout))
        except (ValueError, KeyError, OSError) as err:
            problem = f"unreadable output: {err}"
        status = problem or "ok"
    if status != "ok":
        print(
            f"  {engine} {case.name} N={case.n}: {status}\n{m.stderr_tail[-1500:]}", file=sys.stderr
        )
    bare = case.bare(work)
    shutil.rmtree(work, ignore_errors=True)
    row: dict[str, Any] = {
        "case": case.name,
        "engine": engine,
        "n": case.n,
        "jobs": case.jobs,
        "status": status,
        "wall_s": m.wall,
        "cpu_s": m.cpu,
        "user_s": m.user,
        "sys_s": m.sys,
        "rss_mib": m.leader_peak_rss_mib,
        "ovh_wall_ms": (m.wall - bare.wall) / case.jobs * 1e3,
        "ovh_cpu_ms": (m.cpu - bare.cpu) / case.jobs * 1e3,
        "bare_wall_s": bare.wall,
        "bare_cpu_s": bare.cpu,
        "written_mib": m.write_bytes / 2**20,
        "read_mib": m.read_chars / 2**20,
    }
    if case.big_bytes:
        row["copies"] = m.write_bytes / case.big_bytes
        row["reads"] = m.read_chars / case.big_bytes
    return row


COLUMNS = [
    ("case", "case", ""),
    ("n", "N", "d"),
    ("engine", "engine", ""),
    ("status", "status", ""),
    ("wall_s", "wall s", ".2f"),
    ("cpu_s", "cpu s", ".2f"),
    ("rss_mib", "leader MiB", ".0f"),
    ("ovh_wall_ms", "ovh wall ms/job", ".1f"),
    ("ovh_cpu_ms", "ovh cpu ms/job", ".1f"),
    ("written_mib", "written MiB", ".1f"),
    ("copies", "copies", ".2f"),
    ("reads", "reads", ".2f"),
    ("load", "load", ".1f"),
]


def write_docs(docs: str, chain_steps: int) -> None:
    texts = {
        "echo.cwl": ECHO,
        "cat.cwl": CAT,
        "cat1.cwl": CAT1,
        "scatter.cwl": SCATTER,
        "echo-js.cwl": ECHO_JS,
        "scatter-js.cwl": SCATTER_JS,
        "chain.cwl": chain_doc(chain_steps),
        "pass-eval.cwl": PASS_EVAL,
        "pass-iwd.cwl": PASS_IWD,
        "big-eval.cwl": big_doc("pass-eval.cwl"),
        "big-iwd.cwl": big_doc("pass-iwd.cwl"),
        "start.txt": "hello\n",
    }
    for name, text in texts.items():
        with open(os.path.join(docs, name), "w", encoding="utf-8") as f:
            f.write(text)


def make_big(path: str, gib: float) -> None:
    """A file of ``gib`` GiB that is not sparse (its blocks are really on disk)."""
    chunk = os.urandom(2**20)
    with open(path, "wb") as f:
        f.writelines(chunk for _ in range(int(gib * 1024)))
        f.flush()
        os.fsync(f.fileno())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["scatter", "chain", "big-eval", "big-iwd"],
        choices=["scatter", "scatter-js", "chain", "big-eval", "big-iwd"],
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument(
        "--engines",
        nargs="+",
        default=["moil", "cwltool", "toil"],
        choices=["moil", "cwltool", "toil"],
    )
    parser.add_argument("--toil-max-n", type=int, default=100)
    parser.add_argument("--cwltool-max-n", type=int, default=1000)
    parser.add_argument("--chain-steps", type=int, default=50)
    parser.add_argument("--big-gib", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=3600, help="per run, seconds")
    parser.add_argument("--scratch", default=None, help="where runs go (default: temp dir)")
    return parser.parse_args()


def cases_for(args: argparse.Namespace, docs: str) -> list[Case]:
    cases: list[Case] = []
    for name in args.cases:
        if name == "scatter":
            cases += [scatter_case(n, docs) for n in args.sizes]
        elif name == "scatter-js":
            cases += [scatter_js_case(n, docs) for n in args.sizes]
        elif name == "chain":
            cases.append(chain_case(args.chain_steps, docs))
        else:
            big = os.path.join(docs, "big.bin")
            if not os.path.exists(big):
                make_big(big, args.big_gib)
            cases.append(big_case(name.removeprefix("big-"), big))
    return cases


def main() -> None:
    args = parse_args()
    limits = {"moil": None, "cwltool": args.cwltool_max_n, "toil": args.toil_max_n}
    engines = [e for e in args.engines if engine_argv(e, "", "", "") is not None]
    skipped = sorted(set(args.engines) - set(engines))
    if skipped:
        print(f"not installed (run bench/peers.sh): {', '.join(skipped)}")
    report = Report("cwl", "CWL benchmark", COLUMNS)
    with tempfile.TemporaryDirectory(prefix="moil-bench-cwl-", dir=args.scratch) as scratch:
        docs = os.path.join(scratch, "docs")
        os.mkdir(docs)
        write_docs(docs, args.chain_steps)
        for case in cases_for(args, docs):
            for engine in engines:
                limit = limits[engine]
                if case.name.startswith("scatter") and limit is not None and case.n > limit:
                    continue
                report.run(run_case, engine, case, docs, scratch, args.timeout)
    report.finish(args)


if __name__ == "__main__":
    main()
