"""``toil-cwl-runner``: runner options after the positional arguments, as Toil takes them
(issue 22 item 1), and the temporary-directory prefixes' parents (item 5)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RunCwl = Callable[..., Any]

ECHO = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
stdout: output.txt
inputs:
  {name}:
    type: string
    inputBinding: {{position: 1}}
outputs:
  output: {{type: stdout}}
"""


def _tool(tmp_path: Path, name: str = "message") -> str:
    (tmp_path / "echo.cwl").write_text(ECHO.format(name=name))
    return "echo.cwl"


def _said(result: Any) -> str:
    assert result.code == 0, result.stderr
    return Path(result.outputs["output"]["path"]).read_text().strip()


@pytest.mark.parametrize(
    "tail",
    [
        ["job.yml", "--outdir", "out"],
        ["job.yml", "--outdir=out", "--logLevel", "WARNING"],
        ["--outdir", "out", "job.yml"],
        ["job.yml", "--quiet", "--outdir", "out", "--retryCount", "0"],
    ],
    ids=["after-job", "equals-form", "before-job", "several"],
)
def test_runner_options_anywhere_after_the_document(
    run_cwl: RunCwl, tmp_path: Path, tail: list[str]
) -> None:
    doc = _tool(tmp_path)
    (tmp_path / "job.yml").write_text("message: from the job file\n")
    result = run_cwl(doc, *tail)
    assert _said(result) == "from the job file"
    assert Path(result.outputs["output"]["path"]).parent == tmp_path / "out"


def test_runner_options_among_input_arguments(run_cwl: RunCwl, tmp_path: Path) -> None:
    result = run_cwl(_tool(tmp_path), "--message", "hi", "--outdir", "out", "--logLevel", "ERROR")
    assert _said(result) == "hi"
    assert (tmp_path / "out" / "output.txt").exists()


def test_an_input_named_like_a_runner_option_without_job_file(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    """``wf.cwl --outdir x`` with no job file: the workflow's input ``outdir``."""
    result = run_cwl(_tool(tmp_path, "outdir"), "--outdir", "x", "--logLevel", "WARNING")
    assert _said(result) == "x"
    assert Path(result.outputs["output"]["path"]).parent == tmp_path
    assert not (tmp_path / "x").exists()


def test_the_same_name_after_a_job_file_is_the_runner_option(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    doc = _tool(tmp_path, "outdir")
    (tmp_path / "job.yml").write_text("outdir: from the job file\n")
    result = run_cwl(doc, "job.yml", "--outdir", "x")
    assert _said(result) == "from the job file"
    assert Path(result.outputs["output"]["path"]).parent == tmp_path / "x"


def test_everything_after_double_dash_is_the_workflows(run_cwl: RunCwl, tmp_path: Path) -> None:
    doc = _tool(tmp_path, "outdir")
    (tmp_path / "job.yml").write_text("outdir: from the job file\n")
    result = run_cwl(doc, "job.yml", "--outdir", "o", "--", "--outdir", "given")
    assert _said(result) == "given"
    assert Path(result.outputs["output"]["path"]).parent == tmp_path / "o"


def test_a_bad_input_argument_is_one_error_line(run_cwl: RunCwl, tmp_path: Path) -> None:
    result = run_cwl(_tool(tmp_path), "--message", "hi", "--nosuch", "3")
    assert result.code == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, result.stderr
    assert "--nosuch" in errors[0]


def test_tmpdir_prefixes_under_missing_directories_are_made(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    """Issue 22 item 5: every step failed with an exception before."""
    doc = tmp_path / "two.cwl"
    doc.write_text(
        json.dumps(
            {
                "cwlVersion": "v1.2",
                "class": "CommandLineTool",
                "baseCommand": ["sh", "-c", "echo $TMPDIR > where.txt"],
                "inputs": [],
                "outputs": {"where": {"type": "File", "outputBinding": {"glob": "where.txt"}}},
            }
        )
    )
    result = run_cwl(
        str(doc),
        "--tmpdir-prefix",
        str(tmp_path / "no" / "such" / "tmp"),
        "--tmp-outdir-prefix",
        str(tmp_path / "nor" / "this" / "out"),
        "--no-container",
    )
    assert result.code == 0, result.stderr
    assert (tmp_path / "no" / "such").is_dir()
    assert (tmp_path / "nor" / "this").is_dir()
    where = Path(result.outputs["where"]["path"]).read_text().strip()
    assert where.startswith(str(tmp_path / "no" / "such" / "tmp"))


def test_a_tmpdir_prefix_that_cannot_be_made_is_refused_at_start(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    (tmp_path / "job.yml").write_text("message: hi\n")
    result = run_cwl(
        "--tmpdir-prefix", str(tmp_path / "a-file" / "sub" / "tmp"), _tool(tmp_path), "job.yml"
    )
    assert result.code == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert "--tmpdir-prefix" in errors[0] and "a-file" in errors[0]
    assert not (tmp_path / "output.txt").exists()


def test_a_job_file_after_input_arguments_is_read(run_cwl: RunCwl, tmp_path: Path) -> None:
    """cwltool's ``wf.cwl --first x job.yml``: the job file was dropped silently before."""
    (tmp_path / "two.cwl").write_text(
        json.dumps(
            {
                "cwlVersion": "v1.2",
                "class": "CommandLineTool",
                "baseCommand": "echo",
                "stdout": "output.txt",
                "inputs": {
                    "first": {"type": "string", "inputBinding": {"position": 1}},
                    "second": {"type": "string", "inputBinding": {"position": 2}},
                },
                "outputs": {"output": {"type": "stdout"}},
            }
        )
    )
    (tmp_path / "job.yml").write_text("first: from the file\nsecond: also from the file\n")
    result = run_cwl("two.cwl", "--first", "given", "job.yml", "--outdir", "out")
    assert _said(result) == "given also from the file"
    assert Path(result.outputs["output"]["path"]).parent == tmp_path / "out"
