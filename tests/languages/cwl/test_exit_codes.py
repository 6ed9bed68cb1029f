"""toil-cwl-runner's exit code follows the failed job's error type, not words in the
failure's text: a tool that prints "UnsupportedRequirement" and fails is exit 1, a
requirement moil cannot meet at run time is 33."""

from __future__ import annotations

from pathlib import Path

from tests.languages.conftest import RunCommand

SAYS_UNSUPPORTED = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, "echo 'cwltool.errors.UnsupportedRequirement: not really' >&2; exit 1"]
inputs: {}
outputs: {}
"""


def test_a_failing_tool_that_prints_the_word_exits_1(run_cwl: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "says.cwl").write_text(SAYS_UNSUPPORTED)
    result = run_cwl("--retryCount", "0", "says.cwl")
    assert result.code == 1, result.stderr
    assert "UnsupportedRequirement: not really" in result.stderr  # the log's tail shows it
