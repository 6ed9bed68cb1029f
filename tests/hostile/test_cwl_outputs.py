"""Hostile CWL documents against ``--outdir`` and the run's directories: basenames that
are paths (from ``outputEval``, ``cwl.output.json``, an ExpressionTool, a step's
``valueFrom``, the input object, InitialWorkDir listings), and outputs whose names are
taken in ``--outdir`` already. Each must fail with a clear error naming the output (or be
placed under a new name), and leave the files outside the run as they were."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.conftest import SECRET_TEXT, Sentinels
from tests.languages.conftest import Result, RunCommand


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def output_json_tool(path: Path, doc: dict[str, object], outputs: dict[str, str]) -> None:
    """A tool that writes files ``f`` and ``g`` and ``doc`` as its cwl.output.json."""
    script = f"echo a > f; echo b > g; cat > cwl.output.json <<'EOF'\n{json.dumps(doc)}\nEOF\n"
    tool = {
        "cwlVersion": "v1.2",
        "class": "CommandLineTool",
        "baseCommand": ["bash", "-c", script],
        "inputs": {},
        "outputs": outputs,
    }
    write(path, json.dumps(tool, indent=2))


def assert_refused(result: Result, output: str, name: str) -> None:
    code, stderr = result.code, result.stderr
    assert code == 1, stderr
    assert f"output {output!r}" in stderr, stderr
    assert f"basename {name!r} is not a single name" in stderr, stderr
    assert "Traceback" not in stderr, stderr


def test_output_eval_basename_up_and_out_is_refused(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    """A Directory output renamed ``../../victim``: once the victim was rmtree'd."""
    write(
        tmp_path / "run/tool.cwl",
        """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {InlineJavascriptRequirement: {}}
baseCommand: [bash, -c, "mkdir d; echo hi > d/x"]
inputs: {}
outputs:
  o:
    type: Directory
    outputBinding:
      glob: d
      outputEval: ${ self[0].basename = "../../victim"; return self[0]; }
""",
    )
    result = run_cwl("--outdir", "out", "tool.cwl")
    assert_refused(result, "o", "../../victim")
    assert not (tmp_path / "run/out").exists() or not any((tmp_path / "run/out").iterdir())


def test_cwl_output_json_absolute_basename_is_refused(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    """An absolute basename in cwl.output.json: once the victim file was replaced."""
    target = str(sentinels.root / "keep.txt")
    doc = {"o": {"class": "File", "location": "f", "basename": target}}
    output_json_tool(tmp_path / "run/tool.cwl", doc, {"o": "File"})
    result = run_cwl("--outdir", "out", "tool.cwl")
    assert_refused(result, "o", target)


def test_secondary_file_basename_is_refused(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    doc = {
        "o": {
            "class": "File",
            "location": "f",
            "secondaryFiles": [{"class": "File", "location": "g", "basename": "../../victim/g"}],
        }
    }
    output_json_tool(tmp_path / "run/tool.cwl", doc, {"o": "File"})
    result = run_cwl("--outdir", "out", "tool.cwl")
    assert_refused(result, "o", "../../victim/g")


def test_expression_tool_listing_basename_is_refused(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    """A literal Directory from an ExpressionTool whose entry names a path outside."""
    write(
        tmp_path / "run/expr.cwl",
        """\
cwlVersion: v1.2
class: ExpressionTool
requirements: {InlineJavascriptRequirement: {}}
inputs: {}
outputs: {o: Directory}
expression: |
  ${ return {"o": {"class": "Directory", "basename": "d", "listing": [
       {"class": "File", "basename": "../../../victim/new.txt", "contents": "pwned"}]}}; }
""",
    )
    result = run_cwl("--outdir", "out", "expr.cwl")
    assert result.code == 1, result.stderr
    assert "basename '../../../victim/new.txt' is not a single name" in result.stderr
    assert "Traceback" not in result.stderr


def test_step_value_from_basename_is_refused_before_staging(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    """A step renames its input File to a path: the next tool must not stage it there."""
    victim = sentinels.root / "keep.txt"
    write(tmp_path / "run/in.txt", "input\n")
    write(
        tmp_path / "run/wf.cwl",
        f"""\
cwlVersion: v1.2
class: Workflow
requirements: {{StepInputExpressionRequirement: {{}}, InlineJavascriptRequirement: {{}}}}
inputs: {{f: File}}
outputs: {{o: {{type: File, outputSource: s/o}}}}
steps:
  s:
    in:
      f:
        source: f
        valueFrom: ${{ self.basename = "{victim}"; return self; }}
    out: [o]
    run:
      class: CommandLineTool
      inputs: {{f: {{type: File, inputBinding: {{position: 1}}}}}}
      baseCommand: [cat]
      outputs: {{o: stdout}}
""",
    )
    write(tmp_path / "run/job.yml", "f: {class: File, path: in.txt}\n")
    result = run_cwl("--outdir", "out", "wf.cwl", "job.yml")
    assert result.code == 1, result.stderr
    assert f"basename {str(victim)!r} is not a single name" in result.stderr
    assert "Traceback" not in result.stderr


def test_input_object_basename_is_refused(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    write(tmp_path / "run/in.txt", "input\n")
    write(
        tmp_path / "run/tool.cwl",
        """\
cwlVersion: v1.2
class: CommandLineTool
inputs: {f: {type: File, inputBinding: {position: 1}}}
baseCommand: [cat]
outputs: {o: stdout}
""",
    )
    write(tmp_path / "run/job.yml", "f: {class: File, path: in.txt, basename: ../../x.txt}\n")
    result = run_cwl("--outdir", "out", "tool.cwl", "job.yml")
    assert result.code == 1, result.stderr
    assert "basename '../../x.txt' is not a single name" in result.stderr
    assert not (tmp_path / "x.txt").exists()


def test_initial_workdir_listing_cannot_stage_outside(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    """A literal Directory in InitialWorkDir whose entry climbs out of the tool's directory
    (cwltool checks only the entry's own name): once it wrote the file outside."""
    escape = "../" * 12 + str(sentinels.root / "pwn.txt").lstrip("/")
    entry = {"class": "File", "basename": escape, "contents": "pwned"}
    literal = {"class": "Directory", "basename": "d", "listing": [entry]}
    tool = {
        "cwlVersion": "v1.2",
        "class": "CommandLineTool",
        "requirements": {
            "InlineJavascriptRequirement": {},
            "InitialWorkDirRequirement": {"listing": [f"${{ return {json.dumps(literal)}; }}"]},
        },
        "baseCommand": ["ls", "-R"],
        "inputs": {},
        "outputs": {"o": "stdout"},
    }
    write(tmp_path / "run/tool.cwl", json.dumps(tool, indent=2))
    result = run_cwl("--outdir", "out", "tool.cwl")
    assert result.code == 1, result.stderr
    assert "InitialWorkDirRequirement listing" in result.stderr
    assert f"basename {escape!r} is not a single name" in result.stderr


def test_initial_workdir_entryname_outside_is_refused(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    """The CWL v1.2 rule: an entryname may not leave the output directory (``../``), and
    may be absolute only inside a container required by the tool (cwltool's check)."""
    write(
        tmp_path / "run/tool.cwl",
        """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  InlineJavascriptRequirement: {}
  InitialWorkDirRequirement:
    listing:
      - entryname: $("a/../../../victim/keep.txt")
        entry: "pwned"
baseCommand: [cat, keep.txt]
inputs: {}
outputs: {o: stdout}
""",
    )
    result = run_cwl("--outdir", "out", "tool.cwl")
    assert result.code == 1, result.stderr
    assert "cannot start with '../'" in result.stderr
    absolute = (tmp_path / "run/tool.cwl").read_text()
    absolute = absolute.replace('$("a/../../../victim/keep.txt")', str(sentinels.root / "keep.txt"))
    write(tmp_path / "run/abs.cwl", absolute)
    result = run_cwl("--outdir", "out", "abs.cwl")
    assert result.code == 1, result.stderr
    assert "can only start with '/' when DockerRequirement" in result.stderr


TWO_OUTPUTS = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [bash, -c, "echo new > output.txt; mkdir dd; echo new > dd/n"]
inputs: {}
outputs:
  o: {type: File, outputBinding: {glob: output.txt}}
  d: {type: Directory, outputBinding: {glob: dd}}
"""


def test_outdir_entries_the_run_did_not_create_are_kept(
    run_cwl: RunCommand, tmp_path: Path
) -> None:
    """A file and a directory already in ``--outdir`` under the outputs' names: cwltool
    overwrites the file and merges into the directory; moil keeps both as they were and
    puts the outputs beside them under new names (once the directory was rmtree'd)."""
    out = tmp_path / "run/out"
    write(out / "output.txt", "old\n")
    write(out / "dd/old", "old\n")
    write(tmp_path / "run/tool.cwl", TWO_OUTPUTS)
    result = run_cwl("--outdir", "out", "tool.cwl")
    assert result.code == 0, result.stderr
    assert (out / "output.txt").read_text() == "old\n"
    assert sorted(p.name for p in (out / "dd").iterdir()) == ["old"]
    assert result.outputs["o"]["path"] == str(out / "output.txt_2")
    assert (out / "output.txt_2").read_text() == "new\n"
    assert result.outputs["d"]["path"] == str(out / "dd_2")
    assert sorted(p.name for p in (out / "dd_2").iterdir()) == ["n"]
    assert "output.txt already exists and is left as it is" in result.stderr


def test_outdir_symlink_under_an_output_name_is_not_followed(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    out = tmp_path / "run/out"
    out.mkdir(parents=True)
    (out / "output.txt").symlink_to(sentinels.root / "keep.txt")
    (out / "dd").symlink_to(sentinels.root / "dir")
    write(tmp_path / "run/tool.cwl", TWO_OUTPUTS)
    result = run_cwl("--outdir", "out", "tool.cwl")
    assert result.code == 0, result.stderr
    assert (sentinels.root / "keep.txt").read_text() == SECRET_TEXT
    assert result.outputs["o"]["basename"] == "output.txt"
    assert result.outputs["o"]["path"] == str(out / "output.txt_2")
