"""Executors of the WDL front end's local nodes (run by the leader).

- ``run_root``: imports the input files into the job store and builds the workflow (or the
  lone task); returns the outputs by name (values or promises).
- ``evaluate``: a declaration or call input whose expression read promises.
- ``expand_section``: a scatter or ``if`` whose array or condition was a promise.
- ``prepare_task``: a task call whose resources depend on promised inputs.

The work node of a task call runs ``languages.wdl.task:run_task``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from WDL import Error, Tree, Value

from languages.wdl import calls
from languages.wdl.compile import (
    Builder,
    EvalPayload,
    EvaluationError,
    SectionPayload,
    confine,
    gathered_types,
)
from languages.wdl.confine import InputPaths, record_input_paths
from languages.wdl.expressions import describe_error
from languages.wdl.expressions import evaluate as evaluate_expr
from languages.wdl.fetch import UrlFetcher
from languages.wdl.load import CallableRef, InvalidInputs
from languages.wdl.stdlib import WorkflowLib
from languages.wdl.values import FileRef, detach, group_of_dir
from runner.errors import PermanentJobError
from runner.jobenv.filestore import FileStore
from runner.model.graph import JobContext
from runner.model.promise import Promise


@dataclass(frozen=True)
class RootPayload:
    """The run: what to run and its inputs (``name`` or ``call.name``; files as local paths
    or URLs)."""

    target: CallableRef
    inputs: dict[str, Value.Base]
    #: leave local input files where they are (tasks read them in place)
    reference_inputs: bool = False


def run_root(ctx: JobContext, payload: RootPayload) -> dict[str, Any]:
    """Import the inputs' files and build the run; the outputs by name."""
    target = payload.target.resolve()
    importer = _Importer(ctx.file_store, payload.reference_inputs)
    inputs = {name: importer.value(name, v) for name, v in payload.inputs.items()}
    # the local paths that stay in place: the only ones workflow values may name
    record_input_paths(ctx.file_store, InputPaths.of(inputs.values()))
    if isinstance(target, Tree.Task):
        lib = WorkflowLib(target.effective_wdl_version, ctx.file_store)
        job = calls.task_job(ctx, target, payload.target, inputs, target.name, lib)
        ctx.add_child(job)
        return {out.name: job.rv(out.name) for out in target.outputs}
    builder = Builder(
        ctx, target, payload.target, extra={k: v for k, v in inputs.items() if "." in k}
    )
    return builder.run_workflow({k: v for k, v in inputs.items() if "." not in k})


class _Importer:
    """Input files into the job store once each: local files by hard link, URLs by one
    download. Files of one directory share a group, so they stay siblings in tasks."""

    def __init__(self, file_store: FileStore, reference: bool = False) -> None:
        self.file_store = file_store
        self.reference = reference
        self.done: dict[str, str] = {}

    def value(self, key: str, value: Value.Base) -> Value.Base:
        def one(f: Value.File | Value.Directory) -> str:
            where = str(f.value)
            if isinstance(f, Value.Directory) or (self.reference and "://" not in where):
                return where
            try:
                return self.file(where)
            except (OSError, ValueError) as exc:
                raise InvalidInputs(f"input {key}: cannot read {where}: {exc}") from None

        return detach(Value.rewrite_paths(value, one))

    def file(self, where: str) -> str:
        if where not in self.done:
            if "://" in where and not where.startswith("file://"):
                file_id = self.file_store.import_url(where)
                directory, _, name = where.rpartition("/")
            else:
                file_id = self.file_store.write_file(where)
                directory, name = os.path.dirname(where), os.path.basename(where)
            self.done[where] = FileRef(str(file_id), group_of_dir(directory), name or "file").uri()
        return self.done[where]


def evaluate(ctx: JobContext, payload: EvalPayload) -> Value.Base:
    """The value of a deferred declaration or call input."""
    wf, node = payload.node.resolve()
    lib = WorkflowLib(wf.effective_wdl_version, ctx.file_store)
    if isinstance(node, Tree.Decl):
        assert node.expr is not None
        expr, want = node.expr, node.type
    else:
        assert isinstance(node, Tree.Call) and payload.input_name is not None
        expr = node.inputs[payload.input_name]
        assert node.callee is not None
        want = calls.input_type(node.callee, payload.input_name)
    try:
        value = evaluate_expr(expr, payload.values, lib, want)
    except (Error.RuntimeError, Error.EvalError, ValueError) as exc:
        raise EvaluationError(describe_error(exc)) from None
    return confine(ctx, value, want, node, payload.input_name, wf.name, UrlFetcher(ctx.file_store))


def expand_section(ctx: JobContext, payload: SectionPayload) -> dict[str, Any]:
    """Expand a scatter or ``if`` now that its array or condition is known; the names it
    makes visible (values or promises)."""
    wf, node = payload.node.resolve()
    assert isinstance(node, Tree.Scatter | Tree.Conditional)
    builder = Builder(ctx, wf, payload.node.workflow, extra=payload.extra, label=payload.label)
    env = dict(payload.values)
    builder.section(node, env)
    return {name: env[name] for name in gathered_types(node)}


def prepare_task(ctx: JobContext, payload: calls.TaskPayload) -> Promise:
    """Compute a task call's resources from its now known inputs and add its work node."""
    task = payload.task.resolve()
    if not isinstance(task, Tree.Task):
        raise PermanentJobError(f"{payload.label}: {payload.task.name} is not a task")
    lib = WorkflowLib(task.effective_wdl_version, ctx.file_store)
    job = calls.work_node(task, payload, lib, ctx.config)
    ctx.add_child(job)
    return job.rv()
