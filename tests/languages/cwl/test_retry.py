"""``--retryCount`` for CWL tools: a tool whose command fails or is killed runs again; a
failure that would be the same every time (a bad expression, an unsupported requirement,
an exit code the tool declares permanent) runs once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.languages.conftest import Result, RunCommand

# The tool counts its attempts in a file of its input Directory, which it updates in place
# (InplaceUpdateRequirement: the stored file itself, so the next attempt sees the count),
# and fails with ``how`` until its second attempt.
FLAKY = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  InplaceUpdateRequirement: {inplaceUpdate: true}
  InitialWorkDirRequirement:
    listing: [{entry: $(inputs.state), writable: true}]
inputs:
  state: Directory
  how: string
baseCommand: [sh, -c]
arguments: ['echo x >> state/attempts; n=`wc -l < state/attempts`; echo attempt $n;
             [ $n -ge 2 ] || $(inputs.how)']
stdout: said.txt
permanentFailCodes: [5]
outputs:
  said: stdout
"""


def run_flaky(run_cwl: RunCommand, tmp_path: Path, how: str, retries: int) -> Result:
    (tmp_path / "state").mkdir()
    (tmp_path / "state/attempts").write_text("")
    (tmp_path / "flaky.cwl").write_text(FLAKY)
    job = {"state": {"class": "Directory", "path": "state"}, "how": how}
    (tmp_path / "job.json").write_text(json.dumps(job))
    return run_cwl("--retryCount", str(retries), "--outdir", "out", "flaky.cwl", "job.json")


def attempts(tmp_path: Path) -> int:
    return len((tmp_path / "state/attempts").read_text().splitlines())


@pytest.mark.parametrize("how", ["exit 3", "kill -9 $$"])
def test_failed_tool_is_retried(run_cwl: RunCommand, tmp_path: Path, how: str) -> None:
    result = run_flaky(run_cwl, tmp_path, how, retries=1)
    assert result.code == 0, result.stderr
    assert (tmp_path / "out/said.txt").read_text() == "attempt 2\n"
    assert attempts(tmp_path) == 2
    assert "retrying (attempt 2 of 2)" in result.stderr


@pytest.mark.parametrize(("how", "why"), [("exit 3", "exit code 3"), ("kill -9 $$", "SIGKILL")])
def test_without_retries_the_failure_is_final(
    run_cwl: RunCommand, tmp_path: Path, how: str, why: str
) -> None:
    result = run_flaky(run_cwl, tmp_path, how, retries=0)
    assert result.code == 1, result.stderr
    assert attempts(tmp_path) == 1
    assert why in result.stderr
    assert "retrying" not in result.stderr


def test_permanent_fail_code_runs_once(run_cwl: RunCommand, tmp_path: Path) -> None:
    result = run_flaky(run_cwl, tmp_path, "exit 5", retries=2)
    assert result.code == 1, result.stderr
    assert attempts(tmp_path) == 1
    assert "retrying" not in result.stderr


def test_bad_expression_runs_once(run_cwl: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "tool.cwl").write_text(
        """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {InlineJavascriptRequirement: {}}
inputs: {}
baseCommand: [echo]
arguments: [$(inputs.missing.field)]
outputs: {}
"""
    )
    result = run_cwl("--retryCount", "3", "tool.cwl")
    assert result.code == 1, result.stderr
    assert "TypeError" in result.stderr
    assert "retrying" not in result.stderr


MPI_AND_DOCKER = """\
cwlVersion: v1.2
class: CommandLineTool
$namespaces: {cwltool: "http://commonwl.org/cwltool#"}
hints:
  DockerRequirement: {dockerPull: docker.io/debian:stable-slim}
  cwltool:MPIRequirement: {processes: 1}
baseCommand: [echo, hi]
inputs: {}
outputs: {o: stdout}
"""


@pytest.mark.docker
def test_unsupported_requirement_runs_once(
    run_cwl: RunCommand, tmp_path: Path, docker_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cwltool finds, as the tool is about to run in a container, that it cannot run MPI
    and Docker together (both hinted): exit 33 at once, no retry."""
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    (tmp_path / "mpi.cwl").write_text(MPI_AND_DOCKER)
    result = run_cwl("--enable-ext", "--retryCount", "2", "mpi.cwl")
    assert result.code == 33, result.stderr
    assert "Both Docker and MPI have been hinted" in result.stderr
    assert "retrying" not in result.stderr
    assert "Traceback" not in result.stderr


def test_tool_time_limit_is_not_retried(run_cwl: RunCommand, tmp_path: Path) -> None:
    """A tool stopped by its own ToolTimeLimit would take as long again: it runs once."""
    (tmp_path / "slow.cwl").write_text(
        """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {ToolTimeLimit: {timelimit: 1}}
inputs: {}
baseCommand: [sleep, "30"]
outputs: {}
"""
    )
    result = run_cwl("--retryCount", "2", "slow.cwl")
    assert result.code == 1, result.stderr
    assert "ran out of its ToolTimeLimit" in result.stderr
    assert "retrying" not in result.stderr
