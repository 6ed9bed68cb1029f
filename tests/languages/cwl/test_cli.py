"""``toil-cwl-runner`` as a user runs it: outputs, files, errors, exit codes, restart."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

RunCwl = Callable[..., Any]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


EXAMPLE = """\
cwlVersion: v1.0
class: CommandLineTool
baseCommand: echo
stdout: output.txt
inputs:
  message:
    type: string
    inputBinding:
      position: 1
outputs:
  output:
    type: stdout
"""


def test_toil_docs_example_writes_output_txt(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "example.cwl", EXAMPLE)
    write(tmp_path / "example-job.yaml", "message: Hello world!\n")
    result = run_cwl("--outdir", "D", "example.cwl", "example-job.yaml")
    assert result.code == 0, result.stderr
    assert (tmp_path / "D" / "output.txt").read_text() == "Hello world!\n"
    out = result.outputs["output"]
    assert out["class"] == "File"
    assert out["basename"] == "output.txt"
    assert out["path"] == str(tmp_path / "D" / "output.txt")
    assert out["location"] == "file://" + str(tmp_path / "D" / "output.txt")
    assert out["size"] == 13
    assert out["checksum"] == "sha1$47a013e660d408619d894b20806b1d5086aab03b"


def test_inputs_as_arguments_after_the_document(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "example.cwl", EXAMPLE)
    result = run_cwl("--outdir", "out", "example.cwl", "--message", "from the command line")
    assert result.code == 0, result.stderr
    assert (tmp_path / "out" / "output.txt").read_text() == "from the command line\n"


def test_invalid_document_names_file_and_line(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "bad.cwl", EXAMPLE.replace("type: string", "type: strin"))
    result = run_cwl("bad.cwl", "--message", "x")
    assert result.code == 2
    assert "bad.cwl:7:" in result.stderr
    assert "strin" in result.stderr
    assert result.stdout == ""


def test_missing_input_file_is_one_clear_error(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(
        tmp_path / "cat.cwl",
        """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: cat
inputs:
  f: {type: File, inputBinding: {position: 1}}
outputs: {out: stdout}
""",
    )
    write(tmp_path / "job.yml", "f: {class: File, path: nowhere.txt}\n")
    result = run_cwl("cat.cwl", "job.yml")
    assert result.code == 1
    assert "nowhere.txt" in result.stderr
    assert "Traceback" not in result.stderr


def test_failing_tool_reports_exit_code_stderr_and_log(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(
        tmp_path / "fail.cwl",
        """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, "echo something went wrong >&2; exit 3"]
inputs: []
outputs: []
""",
    )
    result = run_cwl("--outdir", "out", "fail.cwl")
    assert result.code == 1
    assert "exit code 3" in result.stderr
    assert "something went wrong" in result.stderr
    log_path = result.stderr.split("full log: ")[1].split()[0]
    assert log_path.endswith(".log")


def test_required_docker_without_containers_exits_33(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(
        tmp_path / "docker.cwl",
        EXAMPLE.replace(
            "baseCommand: echo",
            "baseCommand: echo\nrequirements:\n  DockerRequirement: {dockerPull: debian:stable}",
        ),
    )
    result = run_cwl("--no-container", "docker.cwl", "--message", "hi")
    assert result.code == 33
    assert "DockerRequirement" in result.stderr


RESTART_WF = """\
cwlVersion: v1.2
class: Workflow
inputs:
  dir: string
outputs:
  out: {type: File, outputSource: second/out}
steps:
  first:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ["echo ran >> $(inputs.dir)/first.runs; echo one > one.txt"]
      inputs: {dir: string}
      outputs: {out: {type: File, outputBinding: {glob: one.txt}}}
    in: {dir: dir}
    out: [out]
  second:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments:
        - |
          if [ ! -e $(inputs.dir)/marker ]; then touch $(inputs.dir)/marker; exit 1; fi
          cat $(inputs.f.path) > two.txt
      inputs: {dir: string, f: File}
      outputs: {out: {type: File, outputBinding: {glob: two.txt}}}
    in: {dir: dir, f: first/out}
    out: [out]
"""


def test_restart_after_transient_failure_skips_finished_steps(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    write(tmp_path / "wf.cwl", RESTART_WF)
    store = str(tmp_path / "store")
    args = ("--jobStore", store, "--retryCount", "0", "--outdir", "out", "wf.cwl")
    first = run_cwl(*args, "--dir", str(tmp_path))
    assert first.code == 1
    assert os.path.exists(tmp_path / "marker")
    second = run_cwl("--restart", *args)
    assert second.code == 0, second.stderr
    assert (tmp_path / "out" / "two.txt").read_text() == "one\n"
    assert (tmp_path / "first.runs").read_text() == "ran\n"


PASS_THROUGH = """\
cwlVersion: v1.2
class: Workflow
inputs: {big: File}
outputs:
  out: {type: File, outputSource: three/out}
steps:
  one: {run: '#pass', in: {f: big}, out: [out]}
  two: {run: '#pass', in: {f: one/out}, out: [out]}
  three: {run: '#pass', in: {f: two/out}, out: [out]}
$graph: []
"""

PASS_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  InitialWorkDirRequirement: {listing: [$(inputs.f)]}
baseCommand: ["true"]
inputs: {f: File}
outputs:
  out: {type: File, outputBinding: {glob: $(inputs.f.basename)}}
"""


def test_a_file_passed_through_three_steps_is_never_copied(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "pass.cwl", PASS_TOOL)
    write(
        tmp_path / "wf.cwl",
        PASS_THROUGH.replace("'#pass'", "pass.cwl").replace("$graph: []\n", ""),
    )
    big = write(tmp_path / "big.dat", "x" * 100_000)
    write(tmp_path / "job.yml", "big: {class: File, path: big.dat}\n")
    result = run_cwl("--outdir", "out", "wf.cwl", "job.yml")
    assert result.code == 0, result.stderr
    out = Path(result.outputs["out"]["path"])
    assert out.read_text() == "x" * 100_000
    assert out.stat().st_ino == big.stat().st_ino  # the same bytes on disk all along


PATHS = """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {ShellCommandRequirement: {}}
inputs:
  plain: File
  indexed: {type: File, secondaryFiles: [.idx]}
arguments:
  - shellQuote: false
    valueFrom: >-
      echo $(inputs.plain.path) $(inputs.indexed.path) > paths.txt &&
      test -f $(inputs.indexed.path).idx && cat $(inputs.plain.path) >> paths.txt
outputs:
  paths: {type: File, outputBinding: {glob: paths.txt}}
"""


def test_a_host_tool_reads_a_stored_input_in_place_and_secondary_files_beside_theirs(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    # cwltool would give each input a directory and a symlink of its own; a stored file
    # already lies alone under its name, so moil passes its path (two file creations
    # fewer per input). A file with secondary files is still staged beside them.
    write(tmp_path / "paths.cwl", PATHS)
    write(tmp_path / "plain.txt", "plain content\n")
    write(tmp_path / "data.bin", "data")
    write(tmp_path / "data.bin.idx", "index")
    job = {
        "plain": {"class": "File", "path": "plain.txt"},
        "indexed": {"class": "File", "path": "data.bin"},
    }
    write(tmp_path / "job.json", json.dumps(job))
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    result = run_cwl(
        "--outdir",
        "out",
        "--jobStore",
        str(store),
        "--clean",
        "never",
        "--workDir",
        str(work),
        "--no-container",
        "paths.cwl",
        "job.json",
    )
    assert result.code == 0, result.stderr
    assert list(work.iterdir()) == []  # the job's directory, emptied and kept, went at the end
    first, content = (tmp_path / "out" / "paths.txt").read_text().split("\n", 1)
    plain, indexed = first.split()
    assert content == "plain content\n"
    assert plain.startswith(str(store / "files") + os.sep) and plain.endswith("/plain.txt")
    assert "/stage/" in indexed and indexed.endswith("/data.bin")
