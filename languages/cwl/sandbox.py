"""CWL JavaScript expressions in a sandbox that cannot reach the host.

cwltool (``cwl_utils.sandboxjs``) evaluates each expression with Node's
``vm.runInNewContext(code, {})`` in a node process that has the leader's environment. The
``{}`` it passes is an object of the host's realm, so ``this.constructor.constructor`` is
the host's ``Function`` and ``Function('return process')()`` hands an expression
``process``: every file, the environment, child processes.

Here each expression runs in a fresh ``vm`` context (no state carries from one expression
to the next, so no prototype pollution either) whose global object has a null prototype
and holds nothing of the host's: every object an expression can reach is of the context's
own realm, so ``constructor.constructor`` is the context's ``Function``, which compiles
code in the context (``return process`` finds no ``process``). ``eval`` and ``Function``
stay available there, as CWL's conformance suite needs them (underscore.js templates);
WebAssembly is disabled, ``Error.prepareStackTrace`` locked, ``import()`` refused, and
microtasks run inside the context so that the time limit (``--eval-timeout``) covers them.
The node process itself runs with Node's permission model (``--experimental-permission``:
no file system, no child processes, no workers), with
``--disallow-code-generation-from-strings`` (for the engine's own code, outside the
context), an empty environment and ``/`` as its directory: a way out of the context would
still find nothing to read.

As cwltool does, one node process per thread of each Python process serves all its
expressions (a fork starts its own: ``runtime._reset_js_after_fork``). A spare context is
prepared while the engine waits for the next expression, so a fresh one costs nothing on
the way. ``install()`` makes this the engine cwltool and ``cwl_utils`` use.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import threading
import time
import weakref
from typing import Any, ClassVar

from cwl_utils.errors import JavascriptException
from cwl_utils.sandboxjs import NodeJSEngine, set_js_engine

from runner.errors import MoilError

#: The engine, run with ``node --eval``. Requests and replies are one JSON line each:
#: ``{"code", "timeout" (ms), "console"}`` -> ``{"result"}`` (JSON text, absent for
#: ``undefined``) or ``{"error"}`` or ``{"timeout": true}``, plus ``"log"`` lines.
ENGINE_JS = r"""
"use strict";
const vm = require("vm");
process.on("unhandledRejection", () => {});  // an import() the context was refused
// strings: CWL's own suite compiles templates with new Function (underscore.js); inside
// the context that makes functions of the context, no more able than the expression itself
const OPTIONS = {codeGeneration: {strings: true, wasm: false}, microtaskMode: "afterEvaluate"};
// Runs first in every context: returns the helpers the host calls afterwards, taken
// before any expression can replace JSON.stringify, Promise or String.
const PRELUDE = new vm.Script(`"use strict";
(function () {
  Object.defineProperty(Error, "prepareStackTrace",
                        {value: undefined, writable: false, configurable: false});
  var logs = [], stringify = JSON.stringify, P = Promise, S = String, E = Error;
  function say(kind) {
    return function () {
      if (logs.length < 1000) {
        logs.push("[" + kind + "] " + Array.prototype.map.call(arguments, function (a) {
          try { return typeof a === "string" ? a : stringify(a); } catch (x) { return S(a); }
        }).join(" "));
      }
    };
  }
  var quiet = {log: say("log"), info: say("log"), debug: say("log"),
               warn: say("err"), error: say("err")};
  Object.defineProperty(globalThis, "console", {value: quiet, writable: true,
                                                configurable: true});
  return {
    json: function (v) {
      if (v instanceof P) {
        throw new E("an expression cannot return a Promise: " +
                    "import() and asynchronous code are not available in CWL expressions");
      }
      return stringify(v);
    },
    describe: function (e) {
      try {
        if (e instanceof E) { return S(e.name) + ": " + S(e.message); }
        return "uncaught value: " + S(e);
      } catch (x) { return "an exception that cannot be shown"; }
    },
    logs: function () { return stringify(logs); }
  };
})()`);

function fresh() {
  const context = vm.createContext(Object.create(null), OPTIONS);
  return {context, helpers: PRELUDE.runInContext(context)};
}

let spare = null;
function evaluate(request) {
  const {context, helpers} = spare || fresh();
  spare = null;
  const reply = {};
  try {
    const script = new vm.Script(request.code, {
      filename: "expression.js",
      importModuleDynamically: () => { throw new Error("import() is not available"); },
    });
    const value = script.runInContext(context, {timeout: request.timeout});
    const text = helpers.json(value);
    if (text !== undefined) { reply.result = String(text); }
  } catch (e) {
    if (e !== null && typeof e === "object" && e.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
      reply.timeout = true;
    } else {
      reply.error = String(helpers.describe(e));
    }
  }
  if (request.console) { reply.log = JSON.parse(String(helpers.logs())); }
  return reply;
}

let incoming = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  incoming += chunk;
  let end;
  while ((end = incoming.indexOf("\n")) >= 0) {
    const line = incoming.slice(0, end);
    incoming = incoming.slice(end + 1);
    let reply;
    try { reply = evaluate(JSON.parse(line)); }
    catch (e) { reply = {error: "the expression engine failed: " + String(e)}; }
    process.stdout.write(JSON.stringify(reply) + "\n");
    setImmediate(() => { if (spare === null) { spare = fresh(); } });
  }
});
process.stdin.on("end", () => process.exit(0));
"""

#: Node's flags: see the module's docstring. ``--no-warnings`` hides the permission
#: model's "experimental" notice.
NODE_FLAGS = (
    "--experimental-permission",
    "--disallow-code-generation-from-strings",
    "--no-warnings",
)
#: seconds a reply may take beyond the expression's own time limit (serializing the
#: result runs outside the limit) before the node process is killed
_GRACE = 5.0


class SandboxEngine(NodeJSEngine):
    """cwl_utils' JavaScript engine, evaluating in the sandbox described above."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()  # one node per thread (and per process: _Node.pid)

    def exec_js_process(
        self,
        js_text: str,
        timeout: float = 20,
        js_console: bool = False,
        context: str | None = None,
        force_docker_pull: bool = False,
        container_engine: str = "docker",
    ) -> tuple[int, str, str]:
        """Evaluate ``js_text``: (0, JSON text, console lines) or (1, "", error) or
        (-1, "", reason) when it ran out of time (cwl_utils' contract)."""
        if context is not None:  # JSHint validation: disabled when documents load
            raise JavascriptException("JavaScript validation is not available in moil")
        node = self._node()
        request = {"code": js_text, "timeout": max(1, int(timeout * 1000)), "console": js_console}
        try:
            reply = node.ask(json.dumps(request) + "\n", timeout + _GRACE)
        except _EngineGone as exc:
            self.local.node = None
            return (-1 if exc.timed_out else 1), "", str(exc)
        logs = "\n".join(str(line) for line in reply.get("log") or ())
        if reply.get("timeout"):
            return -1, "", logs
        if "error" in reply:
            return 1, "", "\n".join(filter(None, [logs, str(reply["error"])]))
        return 0, str(reply.get("result", "undefined")), logs

    def _node(self) -> _Node:
        node: _Node | None = getattr(self.local, "node", None)
        if node is None or not node.usable():
            node = _Node.start()
            self.local.node = node
        return node


class _EngineGone(MoilError):
    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _Node:
    """One node process running ENGINE_JS, owned by the process that started it."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = os.getpid()
        self.rest = b""  # what node sent after the last reply (nothing, as it replies once)

    #: every node started by this process (a forked child closes its copies of their pipes)
    started: ClassVar[weakref.WeakSet[_Node]] = weakref.WeakSet()

    @classmethod
    def start(cls) -> _Node:
        proc = subprocess.Popen(
            [node_binary(), *NODE_FLAGS, "--eval", ENGINE_JS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},  # nothing of the leader's environment
            cwd="/",
            close_fds=True,
        )
        node = cls(proc)
        cls.started.add(node)
        return node

    def usable(self) -> bool:
        return self.pid == os.getpid() and self.proc.poll() is None

    def ask(self, line: str, timeout: float) -> dict[str, Any]:
        """Send one request line; its reply. Raises _EngineGone if node died or hung."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except OSError:
            raise self._gone("the expression engine stopped") from None
        out = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        chunks, end = [self.rest], self.rest.find(b"\n")
        while end < 0:
            ready, _, _ = select.select([out], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self.proc.kill()
                raise self._gone(f"no result after {timeout:.0f} seconds", timed_out=True)
            chunk = os.read(out, 1 << 20)
            if not chunk:
                raise self._gone("the expression engine stopped")
            chunks.append(chunk)
            end = chunk.find(b"\n")
        data = b"".join(chunks)
        reply_line, _, self.rest = data.partition(b"\n")
        reply: dict[str, Any] = json.loads(reply_line)
        return reply

    def _gone(self, why: str, timed_out: bool = False) -> _EngineGone:
        code = self.proc.wait()
        return _EngineGone(f"{why} (node exit status {code})", timed_out)


def _forget_parents_nodes() -> None:
    """In a forked child: close the pipes to the parent's node processes (held open here,
    they would keep those processes alive after the parent is done with them)."""
    for node in list(_Node.started):
        for stream in (node.proc.stdin, node.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()  # nothing is buffered: each request is flushed whole
        node.pid = -1  # never usable here
    _Node.started.clear()


os.register_at_fork(after_in_child=_forget_parents_nodes)


def node_binary() -> str:
    """The path of Node.js; raises JavascriptException if there is none."""
    binary = shutil.which("nodejs") or shutil.which("node")
    if binary is None:
        raise JavascriptException(
            "JavaScript expressions need Node.js (the 'node' command); install it "
            "(Debian: apt-get install nodejs)"
        )
    return binary


_installed: list[SandboxEngine] = []


def install() -> None:
    """Make the sandbox cwltool's and cwl_utils' JavaScript engine (idempotent)."""
    if not _installed:
        engine = SandboxEngine()
        set_js_engine(engine)
        _installed.append(engine)
