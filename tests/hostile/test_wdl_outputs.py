"""Hostile WDL documents: outputs and standard-library calls that try to bring a host file into
the run (an absolute path, ``../``, a symlink the task made, a ``file:`` URI, a workflow value).

Each runs ``toil-wdl-runner`` for real, on the host (``--container none``) and in Docker (the
session's private daemon with the stand-in images), and checks the clear error, the exit
status, that the content of a sentinel file made outside the run's directories reached
neither the output JSON, the output directory nor the job store, and that the sentinel is
unchanged.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.languages.conftest import Result, command_runner

IMAGE = "docker.io/debian:stable-slim"
ENGINES = ["none", pytest.param("docker", marks=pytest.mark.docker)]

TASK = """\
version 1.1
task t {{
  input {{ File given }}
  {private}
  command <<<
    {command}
  >>>
  output {{ {output} }}
  {runtime}
}}
"""


@dataclass(frozen=True)
class Case:
    """A task (or workflow) that tries to reach the sentinel ``{S}``; the error must name
    ``name`` (the output or declaration) and ``shown`` (the path as the error gives it)."""

    output: str
    name: str
    shown: str = "{S}"
    command: str = "true"
    private: str = ""
    workflow: str | None = None


TASK_CASES = {
    "absolute path": Case('File f = "{S}"', "output f"),
    "read_string": Case('String s = read_string("{S}")', "output s"),
    "size": Case('Float n = size("{S}")', "output n"),
    "file URI": Case('File f = "file://{S}"', "output f"),
    "dot-dot": Case('File f = "../../../../../../../../../../../..{S}"', "output f", "../../"),
    "symlink out": Case('File f = "link.txt"', "output f", "link.txt", "ln -s {S} link.txt"),
    "glob of a symlink": Case(
        'Array[File] fs = glob("*.txt")', "output fs", "a.txt", "ln -s {S} a.txt"
    ),
    "read before the command": Case(
        "String o = s", "declaration s", private='String s = read_string("{S}")'
    ),
}

# a task in a container makes a file at the sentinel's path inside it: the output must not be
# the host's file of that name (nor the container's: it is outside the task's directory)
CONTAINER_CASES = {
    "a path only the container has": Case(
        'File f = "{S}"', "output f", command='mkdir -p "$(dirname {S})" && echo fake > {S}'
    ),
}

WORKFLOW_CASES = {
    "workflow output": Case("", "output f", workflow='output { File f = "{S}" }'),
    "workflow read_string": Case(
        "", "read_*() argument", workflow='output { String s = read_string("{S}") }'
    ),
    "workflow declaration to a task": Case(
        "String s = read_string(stdout())",
        "call t, input given",
        command="cat ~{given}",
        workflow='call t { input: given = "{S}" }\n  output { String s = t.s }',
    ),
}


@pytest.fixture
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file outside every directory of the run, with content found nowhere else."""
    path = tmp_path_factory.mktemp("outside") / "secret.txt"
    path.write_text(f"moil-sentinel-{uuid.uuid4().hex}\n")
    return path


@pytest.fixture
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    if name == "docker":
        monkeypatch.setenv("DOCKER_HOST", request.getfixturevalue("docker_engine").host)
    return name


def _document(case: Case, sentinel: Path, engine: str) -> str:
    runtime = f'runtime {{ docker: "{IMAGE}" }}' if engine != "none" else ""
    task = TASK.format(
        private=case.private, command=case.command, output=case.output, runtime=runtime
    )
    if case.workflow is not None:
        workflow = "workflow w {\n  input { File given }\n  " + case.workflow + "\n}\n"
        task = (task if case.output else "version 1.1\n") + workflow
    return task.replace("{S}", str(sentinel))


def _run(tmp_path: Path, engine: str, document: str) -> Result:
    (tmp_path / "doc.wdl").write_text(document)
    (tmp_path / "given.txt").write_text("given\n")
    run = command_runner(tmp_path, "languages.wdl.cli", "--logLevel", "WARNING")
    key = "w.given" if "workflow w" in document else "t.given"
    inputs = json.dumps({key: "given.txt"})
    store = str(tmp_path / "store")
    return run("--container", engine, "--jobStore", store, "-o", "out", "doc.wdl", inputs)


def _assert_nothing_leaked(
    tmp_path: Path, result: Result, sentinel: Path, before: os.stat_result
) -> None:
    secret = sentinel.read_text()
    assert secret.strip() not in result.stdout
    for root in (tmp_path / "out", tmp_path / "store"):
        for path in root.rglob("*") if root.exists() else ():
            if path.is_file() and not path.is_symlink():
                assert secret.strip().encode() not in path.read_bytes(), path
    after = sentinel.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )


def _check_refused(tmp_path: Path, engine: str, case: Case, sentinel: Path) -> None:
    before = sentinel.stat()
    result = _run(tmp_path, engine, _document(case, sentinel, engine))
    assert result.code == 1, result.stderr
    shown = case.shown.replace("{S}", str(sentinel))
    assert case.name in result.stderr and shown in result.stderr, result.stderr
    refusals = ("not one of its inputs", "not an input of the run")
    assert any(r in result.stderr for r in refusals), result.stderr
    assert "Traceback" not in result.stderr
    _assert_nothing_leaked(tmp_path, result, sentinel, before)


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
@pytest.mark.parametrize("case", TASK_CASES.values(), ids=TASK_CASES.keys())
def test_task_output_cannot_reach_a_host_file(
    tmp_path: Path, engine: str, case: Case, sentinel: Path
) -> None:
    _check_refused(tmp_path, engine, case, sentinel)


@pytest.mark.docker
@pytest.mark.parametrize("engine", ["docker"], indirect=True)
@pytest.mark.parametrize("case", CONTAINER_CASES.values(), ids=CONTAINER_CASES.keys())
def test_container_path_is_not_read_from_the_host(
    tmp_path: Path, engine: str, case: Case, sentinel: Path
) -> None:
    _check_refused(tmp_path, engine, case, sentinel)
    assert not sentinel.read_text().startswith("fake")


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
@pytest.mark.parametrize("case", WORKFLOW_CASES.values(), ids=WORKFLOW_CASES.keys())
def test_workflow_value_cannot_name_a_host_file(
    tmp_path: Path, engine: str, case: Case, sentinel: Path
) -> None:
    _check_refused(tmp_path, engine, case, sentinel)


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_symlink_to_an_input_resolves_to_it(tmp_path: Path, engine: str) -> None:
    case = Case(
        'File f = "link.txt"  String s = read_string("link.txt")',
        "",
        command="ln -s ~{given} link.txt",
    )
    result = _run(tmp_path, engine, _document(case, Path("/unused"), engine))
    assert result.code == 0, result.stderr
    out = result.outputs
    assert out["t.s"] == "given"
    assert Path(out["t.f"]).read_text() == "given\n"
    assert Path(out["t.f"]).is_relative_to(tmp_path / "out")


REFERENCED = """\
version 1.1
task t {
  input { File f }
  command <<< cat ~{f} >>>
  output { File same = f  String seen = read_string(stdout()) }
  RUNTIME
}
workflow w {
  input { File f }
  File g = f
  call t { input: f = g }
  output { File same = t.same  String read = read_string(t.same)  String seen = t.seen
           OTHER }
}
"""


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_inputs_read_in_place_are_the_only_host_paths_allowed(
    tmp_path: Path, engine: str, sentinel: Path
) -> None:
    """With --referenceInputs a workflow's values may name its input files where they are (and
    a task in a container sees them), but still no other host file."""
    runtime = f'runtime {{ docker: "{IMAGE}" }}' if engine != "none" else ""
    doc = REFERENCED.replace("RUNTIME", runtime)
    (tmp_path / "doc.wdl").write_text(doc.replace("OTHER", ""))
    (tmp_path / "given.txt").write_text("given\n")
    run = command_runner(tmp_path, "languages.wdl.cli", "--logLevel", "WARNING")
    args = ("--container", engine, "--referenceInputs", "-o", "out", "doc.wdl")
    result = run(*args, '{"w.f": "given.txt"}')
    assert result.code == 0, result.stderr
    out = result.outputs
    assert out["w.same"] == str(tmp_path / "given.txt")  # read in place, never copied
    assert out["w.read"] == out["w.seen"] == "given"

    before = sentinel.stat()
    (tmp_path / "doc.wdl").write_text(doc.replace("OTHER", f'File other = "{sentinel}"'))
    result = run("--jobStore", str(tmp_path / "store"), *args, '{"w.f": "given.txt"}')
    assert result.code == 1, result.stderr
    assert f"output other: {sentinel} is a path on this host that is not an input" in (
        result.stderr
    )
    _assert_nothing_leaked(tmp_path, result, sentinel, before)
