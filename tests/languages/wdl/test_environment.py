"""The environment a WDL task's command sees on the host: HOME, TMPDIR and PATH of its own,
nothing else of the leader's unless ``--preserve-environment VAR`` or
``--preserve-entire-environment`` asks for it (as a CWL tool under cwltool)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.languages.conftest import RunCommand

TASK = """\
version 1.1
task env {
  command <<<
    env | sort > env.txt
    touch "$TMPDIR/scratch" && echo tmp-ok
    pwd -P
  >>>
  output {
    Array[String] vars = read_lines("env.txt")
    Array[String] out = read_lines(stdout())
  }
}
"""


def _env(run_wdl: RunCommand, tmp_path: Path, *args: str) -> tuple[dict[str, str], list[str]]:
    (tmp_path / "env.wdl").write_text(TASK)
    result = run_wdl("--container", "none", *args, "-o", "out", "env.wdl")
    assert result.code == 0, result.stderr
    outputs = result.outputs
    pairs = (line.split("=", 1) for line in outputs["env.vars"] if "=" in line)
    return dict(pairs), outputs["env.out"]


@pytest.fixture
def leader_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables of the leader's environment that a task must not see by default."""
    monkeypatch.setenv("MOIL_TEST_SECRET", "hunter2")
    monkeypatch.setenv("MOIL_TEST_OTHER", "other")


@pytest.mark.usefixtures("leader_env")
def test_task_gets_a_clean_environment(run_wdl: RunCommand, tmp_path: Path) -> None:
    env, out = _env(run_wdl, tmp_path)
    assert "MOIL_TEST_SECRET" not in env and "MOIL_TEST_OTHER" not in env
    assert out[0] == "tmp-ok"
    assert env["HOME"] == out[1]  # the command's working directory
    assert Path(env["TMPDIR"]).parent == Path(out[1]).parent  # private, beside it
    assert env["PATH"]
    # bash adds a few of its own (PWD, SHLVL, _); none of the leader's other variables
    assert set(env) <= {"HOME", "TMPDIR", "PATH", "PWD", "OLDPWD", "SHLVL", "_"}


@pytest.mark.usefixtures("leader_env")
def test_preserve_environment_passes_the_named_variables(
    run_wdl: RunCommand, tmp_path: Path
) -> None:
    env, _ = _env(run_wdl, tmp_path, "--preserve-environment", "MOIL_TEST_SECRET")
    assert env["MOIL_TEST_SECRET"] == "hunter2"
    assert "MOIL_TEST_OTHER" not in env


@pytest.mark.usefixtures("leader_env")
def test_preserve_entire_environment_passes_all_but_home_and_tmpdir(
    run_wdl: RunCommand, tmp_path: Path
) -> None:
    env, out = _env(run_wdl, tmp_path, "--preserve-entire-environment")
    assert env["MOIL_TEST_SECRET"] == "hunter2" and env["MOIL_TEST_OTHER"] == "other"
    assert env["HOME"] == out[1]


def test_preserving_a_missing_variable_warns(run_wdl: RunCommand, tmp_path: Path) -> None:
    (tmp_path / "env.wdl").write_text(TASK)
    result = run_wdl(
        "--container", "none", "--preserve-environment", "MOIL_NO_SUCH_VAR", "-o", "o", "env.wdl"
    )
    assert result.code == 0, result.stderr
    assert "MOIL_NO_SUCH_VAR" in result.stderr
    assert json.loads(result.stdout)["env.out"][0] == "tmp-ok"
