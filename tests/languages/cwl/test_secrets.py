"""cwltool's Secrets hint: a secret input reaches the tool's command line, environment and
InitialWorkDir file, and nothing the run writes (job store, logs, stats, the run report and
trace, stdout) holds it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.languages.conftest import Result, RunCommand

SECRET = "hunter2-c0ffee-do-not-store"

WORKFLOW = """\
cwlVersion: v1.2
class: Workflow
$namespaces: {cwltool: "http://commonwl.org/cwltool#"}
hints:
  cwltool:Secrets:
    secrets: [pw]
inputs:
  pw: string
  who: string
outputs:
  digest: {type: File, outputSource: use/digest}
steps:
  use:
    in: {pw: pw, who: who}
    out: [digest]
    run:
      class: CommandLineTool
      requirements:
        EnvVarRequirement: {envDef: {PW: $(inputs.pw)}}
        InitialWorkDirRequirement: {listing: [{entryname: pw.txt, entry: $(inputs.pw)}]}
      inputs:
        pw: {type: string, inputBinding: {position: 1}}
        who: string
      baseCommand: [sh, -c]
      arguments:
        - position: 0
          valueFrom: >-
            [ -z "$FLAKY" ] || exit 1;
            test "$0" = "$PW" && test "$PW" = "`cat pw.txt`" && printf %s "$PW" | sha1sum > digest
      outputs:
        digest: {type: File, outputBinding: {glob: digest}}
"""


def everything_written(tmp_path: Path, result: Result) -> list[str]:
    """The paths under ``tmp_path`` (job store, logs, outputs, work dirs) whose bytes
    hold the secret, and 'stdout'/'stderr' if the command's did."""
    found = [
        name
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr))
        if SECRET in text
    ]
    for top, _, files in os.walk(tmp_path):
        for name in files:
            path = Path(top, name)
            if path.name == "job.yml" or path.is_symlink():
                continue
            if SECRET.encode() in path.read_bytes():
                found.append(str(path.relative_to(tmp_path)))
    return found


def run_secret_workflow(run_cwl: RunCommand, tmp_path: Path, *extra: str) -> Result:
    (tmp_path / "wf.cwl").write_text(WORKFLOW)
    (tmp_path / "work").mkdir(exist_ok=True)
    return run_cwl(
        "--jobStore",
        "store",
        "--clean",
        "never",
        "--stats",
        "--logFile",
        "leader.log",
        "--writeLogs",
        "joblogs",
        "--workDir",
        "work",
        "--logDebug",
        "--report",
        "report.html",
        "--trace",
        "trace.tsv",
        "--outdir",
        "out",
        *extra,
    )


def expected_digest() -> str:
    return hashlib.sha1(SECRET.encode()).hexdigest() + "  -\n"


def test_secret_reaches_the_tool_and_nothing_else(run_cwl: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "job.yml").write_text(f"pw: {SECRET}\nwho: me\n")
    result = run_secret_workflow(run_cwl, tmp_path, "wf.cwl", "job.yml")
    assert result.code == 0, result.stderr
    assert (tmp_path / "out/digest").read_text() == expected_digest()
    assert (tmp_path / "store/shared").is_dir()  # the store is there to be searched
    assert any((tmp_path / "joblogs").iterdir())
    assert "wf.cwl/use" in (tmp_path / "report.html").read_text()  # there to be searched
    assert everything_written(tmp_path, result) == []


def test_secret_given_as_an_argument_is_not_kept(run_cwl: RunCommand, tmp_path: Path) -> None:
    """``--pw VALUE`` after the document: the run's stored config keeps its arguments."""
    result = run_secret_workflow(run_cwl, tmp_path, "wf.cwl", "--pw", SECRET, "--who", "me")
    assert result.code == 0, result.stderr
    assert (tmp_path / "out/digest").read_text() == expected_digest()
    assert everything_written(tmp_path, result) == []


def test_restart_needs_the_secret_again(
    run_cwl: RunCommand, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "job.yml").write_text(f"pw: {SECRET}\nwho: me\n")
    monkeypatch.setenv("FLAKY", "1")
    failed = run_secret_workflow(
        run_cwl,
        tmp_path,
        "--retryCount",
        "0",
        "--preserve-environment",
        "FLAKY",
        "wf.cwl",
        "job.yml",
    )
    assert failed.code == 1, failed.stderr
    monkeypatch.delenv("FLAKY")
    bare = run_secret_workflow(run_cwl, tmp_path, "--restart", "wf.cwl")
    assert bare.code == 2, bare.stderr
    assert "secret inputs (pw)" in bare.stderr
    assert "give the input object again" in bare.stderr
    resumed = run_secret_workflow(run_cwl, tmp_path, "--restart", "wf.cwl", "job.yml")
    assert resumed.code == 0, resumed.stderr
    assert (tmp_path / "out/digest").read_text() == expected_digest()
    for result in (failed, bare, resumed):
        assert everything_written(tmp_path, result) == []


def test_a_secret_must_be_a_string(run_cwl: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "wf.cwl").write_text(WORKFLOW)
    (tmp_path / "job.yml").write_text("pw: 1234\nwho: me\n")
    result = run_cwl("wf.cwl", "job.yml")
    assert result.code == 1, result.stderr
    assert "secret input 'pw' must be a string" in result.stderr
