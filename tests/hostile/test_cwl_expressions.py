"""Hostile CWL JavaScript expressions: each way out of the sandbox that works in cwltool's
(the constructor chain to the host's ``Function``, then ``process``) and the other usual
ones must fail with a clear message, read nothing outside the run, and see nothing of the
leader's environment. Normal JavaScript (expressionLib functions, ``new Function`` as
underscore's templates use it) keeps working."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from languages.cwl import sandbox
from languages.cwl.expressions import ExpressionFailed, evaluate
from languages.cwl.settings import CwlSettings
from tests.hostile.conftest import SECRET_TEXT, Sentinels
from tests.languages.conftest import RunCommand

JS = [{"class": "InlineJavascriptRequirement"}]
OPTIONS = CwlSettings(eval_timeout=5.0)
LEADER_SECRET = "leader-secret-5b7e1d"


@pytest.fixture(autouse=True)
def engine() -> None:
    sandbox.install()


def js(body: str, inputs: dict[str, Any] | None = None, lib: list[str] | None = None) -> Any:
    """The value of the expression ``${ body }``."""
    requirements = [{"class": "InlineJavascriptRequirement", "expressionLib": lib or []}]
    return evaluate("${" + body + "}", inputs or {}, requirements, OPTIONS)


def test_normal_javascript_still_works() -> None:
    lib = ["function twice(x) { return x * 2; }"]
    assert js("return twice(inputs.n) + 1;", {"n": 20}, lib) == 41
    assert js("return [3, 1, 2].sort().map(function (x) { return x * x; });") == [1, 4, 9]
    assert js("return new Function('a', 'return a + 1')(1);") == 2  # as _.template does
    assert js("return eval('6 * 7');") == 42
    assert js("return JSON.parse('{\"a\": [1]}');") == {"a": [1]}
    assert js("console.log('hello'); return 'logged';") == "logged"


ESCAPES = {
    "constructor chain": "return globalThis.constructor.constructor('return process')().pid;",
    "constructor of a value": "return ({}).constructor.constructor('return process')().pid;",
    "Function": "return Function('return process')().env;",
    "eval": "return eval('process').env;",
    "require": "return require('fs').readFileSync('/etc/passwd', 'utf8');",
    "globalThis.process": "return globalThis.process.env;",
}


@pytest.mark.parametrize("body", ESCAPES.values(), ids=ESCAPES.keys())
def test_host_objects_are_out_of_reach(body: str) -> None:
    with pytest.raises(ExpressionFailed, match=r"(process|require) is not defined|undefined"):
        js(body)


def test_import_is_refused() -> None:
    with pytest.raises(ExpressionFailed, match="cannot return a Promise"):
        js("return import('fs');")


def test_prepare_stack_trace_is_locked() -> None:
    body = "Error.prepareStackTrace = function (e, frames) { return frames; }; return 1;"
    with pytest.raises(ExpressionFailed, match="read only property 'prepareStackTrace'"):
        js(body)


def test_callers_are_hidden() -> None:
    with pytest.raises(ExpressionFailed, match="'caller', 'callee', and 'arguments'"):
        js("return arguments.callee.caller;")
    # a sloppy function made with Function sees no caller either (its callers are strict)
    assert js("return Function('return String(arguments.callee.caller)')();") == "null"


def test_pollution_does_not_reach_the_next_expression() -> None:
    js(
        "Object.prototype.polluted = 'yes'; Array.prototype.map = null; JSON.stringify = null;"
        " globalThis.leftover = 1; return 1;"
    )
    assert js("return [({}).polluted, typeof [].map, typeof leftover];") == [
        None,
        "function",
        "undefined",
    ]


def test_infinite_loop_hits_the_eval_timeout() -> None:
    options = CwlSettings(eval_timeout=1.0)
    for body in (
        "while (true) {}",
        "Promise.resolve().then(function f() { return Promise.resolve().then(f); }); return 1;",
    ):
        with pytest.raises(ExpressionFailed, match="Long-running script killed after 1"):
            evaluate("${" + body + "}", {}, JS, options)
    assert js("return 'still serving';") == "still serving"


def test_node_runs_without_the_leaders_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node process of the engine has an empty environment and no file access."""
    monkeypatch.setenv("MOIL_TEST_LEADER_SECRET", LEADER_SECRET)
    engine = sandbox.SandboxEngine()
    assert engine.exec_js_process('"use strict"; 1 + 1')[:2] == (0, "2")
    node = engine.local.node
    try:
        environ = Path(f"/proc/{node.proc.pid}/environ").read_bytes()
        assert environ == b""
    finally:
        node.proc.stdin.close()
        node.proc.wait()


def test_node_permission_model_denies_files_and_processes() -> None:
    """The flags the engine's node runs with deny the file system and child processes on
    this Node (a way out of the context would still find nothing)."""
    probe = (
        "const r = [];"
        "try { require('fs').readFileSync('/etc/passwd'); r.push('read'); }"
        " catch (e) { r.push(e.code); }"
        "try { require('child_process').execSync('true'); r.push('ran'); }"
        " catch (e) { r.push(e.code); }"
        "process.stdout.write(JSON.stringify(r));"
    )
    node = sandbox.node_binary()
    done = subprocess.run(
        [node, *sandbox.NODE_FLAGS, "--eval", probe],
        check=False,
        capture_output=True,
        text=True,
        env={},
    )
    assert json.loads(done.stdout) == ["ERR_ACCESS_DENIED", "ERR_ACCESS_DENIED"]


EXPRESSION_TOOL = """\
cwlVersion: v1.2
class: ExpressionTool
requirements: {InlineJavascriptRequirement: {}}
inputs: {}
outputs: {stolen: Any}
expression: |
  ${ var p = globalThis.constructor.constructor("return process")();
     return {"stolen": [p.env.MOIL_TEST_LEADER_SECRET,
                        p.getBuiltinModule("fs").readFileSync(%s, "utf8")]}; }
"""


def test_document_cannot_read_host_files_or_environment(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    """cwltool's sandbox gives this ExpressionTool the leader's environment and the file."""
    target = json.dumps(str(sentinels.root / "keep.txt"))
    (tmp_path / "run/steal.cwl").write_text(EXPRESSION_TOOL % target)
    os.environ["MOIL_TEST_LEADER_SECRET"] = LEADER_SECRET
    try:
        result = run_cwl("--outdir", "out", "steal.cwl")
    finally:
        del os.environ["MOIL_TEST_LEADER_SECRET"]
    assert result.code == 1, result.stderr
    assert "process is not defined" in result.stderr
    assert LEADER_SECRET not in result.stdout + result.stderr
    assert SECRET_TEXT.strip() not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_tool_expression_cannot_write_host_files(
    run_cwl: RunCommand, tmp_path: Path, sentinels: Sentinels
) -> None:
    """An expression of a tool's command line (evaluated by the worker) writing a file."""
    target = json.dumps(str(sentinels.root / "keep.txt"))
    write = (
        'var p = globalThis.constructor.constructor("return process")();'
        f' p.getBuiltinModule("fs").writeFileSync({target}, "pwned"); return "x";'
    )
    tool = {
        "cwlVersion": "v1.2",
        "class": "CommandLineTool",
        "requirements": {"InlineJavascriptRequirement": {}},
        "baseCommand": "echo",
        "arguments": ["${" + write + "}"],
        "inputs": {},
        "outputs": {},
    }
    (tmp_path / "run/write.cwl").write_text(json.dumps(tool))
    result = run_cwl("--outdir", "out", "write.cwl")
    assert result.code == 1, result.stderr
    assert "process is not defined" in result.stderr


def test_a_forked_worker_does_not_hold_the_parents_node() -> None:
    """A pool worker is forked from the leader: it must not keep the leader's node process
    alive (nor write to it); once the leader closes its end, that node exits."""
    engine = sandbox.SandboxEngine()
    assert engine.exec_js_process('"use strict"; 40 + 2')[:2] == (0, "42")
    node = engine.local.node
    pid = os.fork()
    if pid == 0:  # the child: holds whatever the fork left it for a while, then leaves
        time.sleep(3)
        os._exit(0)
    try:
        node.proc.stdin.close()
        node.proc.wait(timeout=2)  # TimeoutExpired if the child kept the pipe open
    finally:
        os.waitpid(pid, 0)
