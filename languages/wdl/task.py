"""The task executor: one WDL task call, run by a worker.

``run_task(ctx, payload)`` stages the input files into a private directory (hard links),
evaluates the task's declarations and ``runtime`` with miniwdl, interpolates the command,
runs it with bash in ``work/`` (stdout and stderr to files beside it), retries it up to
``runtime.maxRetries`` times, checks ``returnCodes``, evaluates the outputs (``glob``,
``read_*``, ``stdout()``), and returns them with their files moved into the job store.

A task whose ``runtime`` names an image (``docker``/``container``) runs in it with the engine
``--container`` chose (languages.wdl.containers), else on the host, with a clean environment
(languages.wdl.taskenv). Outputs and the files the standard library reads are confined to the
task's directory and inputs (languages.wdl.confine); an output URL is fetched into the store
(languages.wdl.fetch).

Errors: ``TaskFailed`` for a command that failed (the message has the exit status, the
command and the tails of its stderr and stdout; the core may retry it per ``--retryCount``), ``TaskError`` for a WDL
evaluation error or a missing output file (never retried).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

from WDL import Error, Tree, Type, Value

from languages.wdl.calls import TaskPayload
from languages.wdl.confine import PathNotAllowed, TaskPaths, is_url
from languages.wdl.containers import engine_for, task_image
from languages.wdl.expressions import decl_order, describe_error, evaluate
from languages.wdl.fetch import FetchFailed, UrlFetcher
from languages.wdl.settings import wdl_settings
from languages.wdl.staging import Collector, Stager
from languages.wdl.stdlib import TaskLib
from languages.wdl.taskenv import container_environment, host_environment
from languages.wdl.values import detach, env_to_bindings
from runner.errors import JobError, PermanentJobError
from runner.jobenv import toolspan
from runner.jobenv.containers import ContainerEngine, ImageUnavailable, Mount
from runner.jobenv.setenv import variables
from runner.model.graph import JobContext

STDERR_TAIL = 15
#: how many lines of a failed command the error shows
COMMAND_LINES = 20
_EVAL_ERRORS = (Error.RuntimeError, Error.EvalError, ValueError, KeyError, TypeError, OSError)


#: made in every task's directory (the command's working directory and its TMPDIR); left
#: there, empty, when the directory is recycled
_KEPT_SUBDIRS = frozenset({"work", "tmp"})


class TaskFailed(JobError):
    """The task's command exited with a status its ``returnCodes`` do not allow."""


class TaskError(PermanentJobError):
    """The task could not be evaluated (inputs, command, outputs); retrying cannot help."""


def run_task(ctx: JobContext, payload: TaskPayload) -> dict[str, Value.Base]:
    """Run one task call; its outputs by name, files as job-store references."""
    task = payload.task.resolve()
    assert isinstance(task, Tree.Task)
    return TaskRun(ctx, task, payload.label).run(payload.inputs)


class TaskRun:
    """The directories and steps of one task call."""

    def __init__(self, ctx: JobContext, task: Tree.Task, label: str) -> None:
        self.ctx = ctx
        self.task = task
        self.label = label
        self.version = task.effective_wdl_version
        # the job's own temporary directory (emptied after the job, and kept for the worker's
        # next job with work/ and tmp/ in it, empty); the command runs in work/
        ctx.file_store.kept_subdirs = _KEPT_SUBDIRS
        self.dir = os.path.realpath(ctx.file_store.local_temp_dir)
        if not _fresh_subdirs(self.dir):
            # a directory shared with an earlier task: take a fresh one
            self.dir = os.path.realpath(tempfile.mkdtemp(dir=self.dir))
            _fresh_subdirs(self.dir)
        self.work = os.path.join(self.dir, "work")
        self.stager = Stager(ctx.file_store, os.path.join(self.dir, "in"))
        self.paths = TaskPaths(self.dir, self.work, self.stager.origin)
        self.image: str | None = None
        self.cores: float | None = None

    def run(self, inputs: dict[str, Any]) -> dict[str, Value.Base]:
        lib = TaskLib.for_task(self.version, self.paths)
        try:
            env = self.declarations(inputs, lib)
            runtime = {k: evaluate(e, env, lib) for k, e in self.task.runtime.items()}
            command = self.task.command.eval(env_to_bindings(env), lib, dedent=True).value
        except _EVAL_ERRORS as exc:
            raise TaskError(f"{describe_error(exc)}") from None
        self.image = task_image(runtime)
        self.cores = _cores(runtime.get("cpu"))
        self.execute(command, runtime)
        return self.outputs(env)

    # -- inputs and declarations ---------------------------------------------------------------
    def declarations(self, inputs: dict[str, Any], lib: TaskLib) -> dict[str, Value.Base]:
        """Inputs (files staged, coerced to their types) and the other declarations."""
        decls = (self.task.inputs or []) + self.task.postinputs
        env: dict[str, Value.Base] = {}
        given = {
            d.name: inputs[d.name]
            for d in decls
            if d.name in inputs
            and not (
                isinstance(inputs[d.name], Value.Null)
                and d.expr is not None
                and not d.type.optional
            )
        }
        for decl in decl_order(decls):
            if decl.name in given:
                value = self.stager.stage_value(given[decl.name]).coerce(decl.type)
            elif decl.expr is not None:
                try:
                    value = evaluate(decl.expr, env, lib, decl.type)
                except _EVAL_ERRORS as exc:
                    raise TaskError(f"declaration {decl.name}: {describe_error(exc)}") from None
            elif decl.type.optional:
                value = Value.Null()
            else:
                raise TaskError(f"missing required input {decl.name}")
            env[decl.name] = value
        return env

    # -- the command ----------------------------------------------------------------------------
    def execute(self, command: str, runtime: dict[str, Value.Base]) -> None:
        """Run the command, retrying up to ``maxRetries`` times; raise TaskFailed at the end."""
        allowed = _return_codes(runtime.get("returnCodes") or runtime.get("continueOnReturnCode"))
        retries = _int(runtime.get("maxRetries"), 0)
        script = os.path.join(self.dir, "command.sh")
        with open(script, "w", encoding="utf-8") as f:
            f.write(command)
        for attempt in range(retries + 1):
            if attempt:
                for name in _KEPT_SUBDIRS:
                    shutil.rmtree(os.path.join(self.dir, name))
                    os.mkdir(os.path.join(self.dir, name))
            status = self._run_once(script)
            if allowed is None or status in allowed:
                return
            if attempt < retries:
                tail = self._tail("stderr.txt")
                self.ctx.log.warning(
                    "%s: command exited with status %d; retrying (runtime.maxRetries = %d)%s",
                    self.label,
                    status,
                    retries,
                    "\n" + tail if tail else "",
                )
        expected = ", ".join(str(c) for c in sorted(allowed or ()))
        raise TaskFailed(
            f"command exited with status {status} (expected {expected})\n"
            + self._story(command, script),
            tool_exit_code=status,
        )

    def _story(self, command: str, script: str) -> str:
        """What a failed command's error shows: the command (its first COMMAND_LINES
        lines), the tails of its stderr and stdout (STDERR_TAIL lines each)."""
        lines = command.strip("\n").splitlines()
        shown = "\n".join(f"  | {line}" for line in lines[:COMMAND_LINES])
        if len(lines) > COMMAND_LINES:
            shown += f"\n  | ... ({len(lines) - COMMAND_LINES} more lines in {script})"
        parts = [f"  command ({script}):\n{shown}"]
        for name in ("stderr", "stdout"):
            tail = self._tail(f"{name}.txt")
            parts.append(f"  {name} ends with:\n{tail}" if tail else f"  no {name}")
        return "\n".join(parts)

    def _run_once(self, script: str) -> int:
        stdout = os.path.join(self.dir, "stdout.txt")
        stderr = os.path.join(self.dir, "stderr.txt")
        settings = wdl_settings(self.ctx.config)
        engine = engine_for(settings.container)
        if self.image is not None and engine is not None:
            return self._run_in_container(engine, self.image, script, stdout, stderr)
        warn = self.ctx.file_store.log_to_leader
        env = host_environment(settings, self.work, os.path.join(self.dir, "tmp"), warn)
        env.update(variables(self.ctx.config.set_env))
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            toolspan.begin()
            proc = subprocess.run(
                ["bash", script],
                cwd=self.work,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            toolspan.end()
        return proc.returncode

    def _run_in_container(
        self, engine: ContainerEngine, image: str, script: str, stdout: str, stderr: str
    ) -> int:
        """Run the script in ``image``; the task's directory at the same path inside."""
        try:
            engine.ensure_image(image)
        except ImageUnavailable as exc:
            raise TaskError(f"{self.label}: {exc}") from None
        mounts = [Mount(self.dir, self.dir, writable=True)]
        inputs = os.path.join(self.dir, "in")
        if os.path.isdir(inputs):
            mounts.append(Mount(inputs, inputs))
        for path in sorted(self.stager.origin):  # inputs read in place, outside the task
            if not path.startswith(self.dir + os.sep) and os.path.exists(path):
                mounts.append(Mount(path, path))
        result = engine.run(
            image,
            ["bash", script],
            mounts=mounts,
            workdir=self.work,
            stdout=stdout,
            stderr=stderr,
            env=_with_set_env(
                container_environment(
                    wdl_settings(self.ctx.config), self.ctx.file_store.log_to_leader
                ),
                self.ctx.config.set_env,
            ),
            network=True,
            cores=self.cores,
        )
        return result.exit_code

    def _tail(self, name: str) -> str:
        """The last STDERR_TAIL lines of the command's ``stderr.txt`` or ``stdout.txt``."""
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 8192))
                lines = f.read().decode("utf-8", "replace").rstrip().splitlines()
        except OSError:
            return ""
        return "\n".join(f"  | {line}" for line in lines[-STDERR_TAIL:])

    # -- outputs -----------------------------------------------------------------------------------
    def outputs(self, env: dict[str, Value.Base]) -> dict[str, Value.Base]:
        lib = TaskLib.for_task(self.version, self.paths, outputs=True)
        collector = Collector(self.ctx.file_store, self.dir, self.work, self.stager.origin)
        fetcher = UrlFetcher(self.ctx.file_store)
        env = dict(env)
        for decl in decl_order(self.task.outputs):
            assert decl.expr is not None
            try:
                env[decl.name] = self._output(decl, env, lib, fetcher)
            except (TaskError, FetchFailed):
                raise
            except _EVAL_ERRORS as exc:
                raise TaskError(f"output {decl.name}: {describe_error(exc)}") from None
        # files move into the store only once every output is evaluated (a later glob may
        # still look for them)
        return {d.name: detach(collector.collect_value(env[d.name])) for d in self.task.outputs}

    def _output(
        self, decl: Tree.Decl, env: dict[str, Value.Base], lib: TaskLib, fetcher: UrlFetcher
    ) -> Value.Base:
        """One output, its files as absolute local paths of this task (or, for URLs, job-store
        references); a missing optional file is null. Raises TaskError for a path outside
        the task, FetchFailed for a URL that cannot be fetched."""
        assert decl.expr is not None
        value = decl.expr.eval(env_to_bindings(env), stdlib=lib).coerce(decl.type)
        what = f"output {decl.name}"
        missing: list[str] = []
        urls: list[str] = []

        def locate(f: Value.File | Value.Directory) -> str | None:
            text = str(f.value)
            if is_url(text):
                got = fetcher.get(text, what)
                urls.extend(() if got else (text,))
                return got
            try:
                path = self.paths.resolve(text, directory=isinstance(f, Value.Directory))
            except PathNotAllowed as exc:
                raise TaskError(f"{what}: {exc}") from None
            missing.extend(() if path else (text,))
            return path

        value = Value.rewrite_paths(value, locate)
        try:
            return detach(value.coerce(decl.type))
        except Exception:
            if urls:
                raise fetcher.missing(urls[0], what) from None
            if missing:
                raise TaskError(f"{what}: file not found: {missing[0]}") from None
            raise


def _fresh_subdirs(task_dir: str) -> bool:
    """Make the task's empty ``work/`` and ``tmp/`` (or find them left, empty, by the last task
    of a recycled directory); False if ``task_dir`` holds anything else."""
    try:
        for name in sorted(_KEPT_SUBDIRS):
            os.mkdir(os.path.join(task_dir, name))
        return True
    except FileExistsError:
        if set(os.listdir(task_dir)) != _KEPT_SUBDIRS:
            return False
        return not any(os.listdir(os.path.join(task_dir, n)) for n in _KEPT_SUBDIRS)


def _return_codes(value: Value.Base | None) -> set[int] | None:
    """Allowed exit statuses; None for any (``"*"`` or ``true``)."""
    if value is None or isinstance(value, Value.Null):
        return {0}
    if isinstance(value, Value.Boolean):
        return None if value.value else {0}
    if isinstance(value, Value.String) and value.value.strip() == "*":
        return None
    if isinstance(value, Value.Array):
        return {int(v.coerce(Type.Int()).value) for v in value.value}
    return {int(value.coerce(Type.Int()).value)}


def _cores(value: Value.Base | None) -> float | None:
    """``runtime.cpu`` as a number of cores for the engine, or None if absent."""
    if value is None or isinstance(value, Value.Null):
        return None
    try:
        cores = float(value.value)
    except (TypeError, ValueError):
        return None
    return cores if cores > 0 else None


def _int(value: Value.Base | None, default: int) -> int:
    if value is None or isinstance(value, Value.Null):
        return default
    return max(0, int(value.coerce(Type.Int()).value))


def _with_set_env(env: dict[str, str] | None, entries: tuple[str, ...]) -> dict[str, str] | None:
    """A container's variables with the run's ``--setEnv`` ones."""
    if not entries:
        return env
    return {**(env or {}), **variables(entries)}
