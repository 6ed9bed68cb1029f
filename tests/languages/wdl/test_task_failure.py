"""A failed WDL task tells its whole story (issue 14): the exit status, the command, the
tails of its stderr and stdout, and its work directory, kept or not as ``--cleanWorkDir``
says (Toil's meaning: ``onSuccess`` keeps a failed job's directory, ``onError`` a
successful one's, ``always`` and ``never`` as named)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.languages.conftest import RunCommand

TASK = """\
version 1.1
task mark {
  input { Boolean fail }
  command <<<
    echo "kept here" > marker.txt
    echo "said on stdout"
    echo "said on stderr" >&2
    if ~{true="true" false="false" fail}; then exit 3; fi
  >>>
  output { String out = read_string(stdout()) }
}
"""


def run_task(run_wdl: RunCommand, tmp_path: Path, fail: bool, policy: str) -> tuple[str, int]:
    """Run the task in ``--workDir work``; returns its stderr and how many marker files
    the task left there."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "t.wdl").write_text(TASK)
    (tmp_path / "in.json").write_text(json.dumps({"fail": fail}))
    work = tmp_path / "work"
    work.mkdir()
    result = run_wdl(
        str(tmp_path / "t.wdl"),
        str(tmp_path / "in.json"),
        "--retryCount",
        "0",
        "--workDir",
        str(work),
        "--cleanWorkDir",
        policy,
        "-o",
        str(tmp_path / "out"),
    )
    assert result.code == (1 if fail else 0), result.stderr
    return result.stderr, len(list(work.rglob("marker.txt")))


@pytest.mark.parametrize(
    ("policy", "kept_ok", "kept_failed"),
    [("always", 0, 0), ("never", 1, 1), ("onSuccess", 0, 1), ("onError", 1, 0)],
)
def test_clean_work_dir_keeps_what_toil_keeps(
    run_wdl: RunCommand, tmp_path: Path, policy: str, kept_ok: int, kept_failed: int
) -> None:
    _, left = run_task(run_wdl, tmp_path / "ok", False, policy)
    assert left == kept_ok
    stderr, left = run_task(run_wdl, tmp_path / "failed", True, policy)
    assert left == kept_failed
    if kept_failed:
        kept = re.search(r"its work directory is kept: (\S+)", stderr)
        assert kept is not None, stderr
        assert (Path(kept[1]) / "work/marker.txt").read_text() == "kept here\n"
    else:
        assert "its work directory is deleted (--cleanWorkDir onSuccess keeps it)" in stderr


def test_a_failed_task_shows_its_command_stderr_and_stdout_once(
    run_wdl: RunCommand, tmp_path: Path
) -> None:
    stderr, _ = run_task(run_wdl, tmp_path, True, "always")
    assert "command exited with status 3 (expected 0)" in stderr
    assert re.search(
        r"  command \(\S+/command\.sh\):\n  \| echo \"kept here\" > marker.txt\n", stderr
    ), stderr
    assert "  stderr ends with:\n  | said on stderr\n" in stderr
    assert "  stdout ends with:\n  | said on stdout\n" in stderr
    # once: the job log's record of the same error is not repeated under it
    assert stderr.count("  | said on stderr") == 1, stderr
    assert "full log: " in stderr
