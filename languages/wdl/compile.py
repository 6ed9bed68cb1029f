"""Compiling a WDL workflow into runner nodes, as far as its values are known.

The ``Builder`` walks a workflow's nodes in dependency order with an environment mapping each
name (``x``, ``call.out``, a scatter variable) to a value or to a promise of it:

- a declaration whose expression reads only known values is evaluated on the spot; one that
  reads promises becomes a local *expression* node (or, if it is just a name of the right
  type, takes that name's promise);
- a task call becomes a *work* node (see ``languages.wdl.calls``); its outputs are promises;
- a subworkflow call is expanded in place with its inputs as they are (values or promises);
- a ``scatter`` over a known array (or an array whose elements are promises) and an ``if``
  on a known condition are expanded in place; the gathered names become arrays of the
  iterations' values or promises (``if``: the value, or null). A section whose array or
  condition is a promise becomes a local *section* node that expands it once known.

So a scatter over a workflow input of N elements makes exactly N work nodes and nothing else.
Every value a declaration, call input or output gets may name only files of the run
(``languages.wdl.confine``); a URL in an output is fetched into the job store.
All nodes made while an executor runs are added as its children. This module follows the
evaluation rules of miniwdl's workflow state machine (``WDL/runtime/_workflow_state.py``).
"""

from __future__ import annotations

import logging
from collections import ChainMap
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from WDL import Error, Tree, Type, Value

from languages.wdl import calls
from languages.wdl.confine import confine_workflow_value
from languages.wdl.expressions import (
    describe_error,
    evaluate,
    free_names,
    passthrough_name,
    same_type,
)
from languages.wdl.fetch import UrlFetcher
from languages.wdl.load import CallableRef
from languages.wdl.stdlib import WorkflowLib
from languages.wdl.values import detach, is_ready, iter_promises
from runner.errors import PermanentJobError
from runner.model.graph import JobContext, JobNode
from runner.model.promise import Promise

log = logging.getLogger(__name__)

#: Suffix of the name under which a call's completion is kept (for ``after`` clauses).
DONE = "._done"

Env = MutableMapping[str, Any]


class EvaluationError(PermanentJobError):
    """A WDL expression failed to evaluate (the message has file:line:col)."""


@dataclass(frozen=True)
class NodeRef:
    """A node of a workflow, found again by its ID."""

    workflow: CallableRef
    node_id: str

    def resolve(self) -> tuple[Tree.Workflow, Tree.WorkflowNode]:
        wf = self.workflow.resolve()
        assert isinstance(wf, Tree.Workflow)
        return wf, wf.get_node(self.node_id)


@dataclass(frozen=True)
class EvalPayload:
    """A deferred expression: a declaration, or the input ``input_name`` of a call."""

    node: NodeRef
    input_name: str | None
    values: dict[str, Any]


@dataclass(frozen=True)
class SectionPayload:
    """A deferred scatter or ``if``, with every outside value its body reads."""

    node: NodeRef
    values: dict[str, Any]
    extra: dict[str, Value.Base]
    label: str


class Builder:
    """Turns one workflow (or section) into nodes added as children of ``ctx``'s job."""

    def __init__(
        self,
        ctx: JobContext,
        workflow: Tree.Workflow,
        ref: CallableRef,
        *,
        extra: dict[str, Value.Base] | None = None,
        label: str = "",
        after: list[Promise] | None = None,
    ) -> None:
        self.ctx = ctx
        self.workflow = workflow
        self.ref = ref
        self.extra = extra or {}
        self.label = label or workflow.name
        self.after = after or []
        self.inputs: dict[str, Any] = {}
        # inputs: the input section, or (draft-2) every declaration at the top of the body
        top = workflow.inputs if workflow.inputs is not None else workflow.body
        self.input_ids = {d.workflow_node_id for d in top if isinstance(d, Tree.Decl)}
        self.created: list[JobNode] = []
        self._lib: WorkflowLib | None = None
        self._fetcher: UrlFetcher | None = None
        self._index: list[int] = []

    @property
    def lib(self) -> WorkflowLib:
        if self._lib is None:
            self._lib = WorkflowLib(self.workflow.effective_wdl_version, self.ctx.file_store)
        return self._lib

    @property
    def fetcher(self) -> UrlFetcher:
        if self._fetcher is None:
            self._fetcher = UrlFetcher(self.ctx.file_store)
        return self._fetcher

    # -- whole workflows ---------------------------------------------------------------------
    def run_workflow(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Build the workflow; its outputs by name (values or promises)."""
        wf = self.workflow
        declared = {d.name: d for d in wf.inputs or []}
        self.inputs = {
            name: v
            for name, v in inputs.items()
            if not (
                isinstance(v, Value.Null)
                and name in declared
                and declared[name].expr is not None
                and not declared[name].type.optional
            )
        }
        env: Env = {}
        self.expand((wf.inputs or []) + wf.body, env)
        if wf.outputs is None:
            return {b.name: env[b.name] for b in wf.effective_outputs}
        out: Env = ChainMap({}, env)
        self.expand(wf.outputs, out)
        return {d.name: out[d.name] for d in wf.outputs}

    def expand(self, nodes: Sequence[Tree.WorkflowNode], env: Env) -> None:
        """Build ``nodes`` (a body or outputs) in dependency order, binding what they make."""
        for node in _toposort(nodes):
            if isinstance(node, Tree.Decl):
                self.decl(node, env)
            elif isinstance(node, Tree.Call):
                self.call(node, env)
            elif isinstance(node, Tree.Scatter | Tree.Conditional):
                self.section(node, env)
            else:
                raise EvaluationError(f"unsupported workflow element {node.workflow_node_id}")

    # -- declarations ---------------------------------------------------------------------------
    def decl(self, node: Tree.Decl, env: Env) -> None:
        name = node.name
        if node.workflow_node_id in self.input_ids and name in self.inputs:
            value = self.inputs[name]
            env[name] = _coerce(value, node.type, node) if is_ready(value) else value
        elif node.expr is None:
            env[name] = Value.Null()
        else:
            env[name] = self.value_of(node.expr, node.type, env, node, None)

    def value_of(
        self,
        expr: Any,
        want: Type.Base | None,
        env: Env,
        node: Tree.WorkflowNode,
        input_name: str | None,
    ) -> Any:
        """The value of ``expr`` now, or the promise of a node that evaluates it later."""
        values = {n: env[n] for n in free_names(expr) if n in env}
        if all(is_ready(v) for v in values.values()):
            try:
                value = evaluate(expr, values, self.lib, want)
            except (Error.RuntimeError, Error.EvalError, ValueError) as exc:
                raise EvaluationError(describe_error(exc)) from None
            return confine(self.ctx, value, want, node, input_name, self.label, self.fetcher)
        source = passthrough_name(expr)
        if source is not None and (want is None or same_type(expr.type, want)):
            return env[source]
        what = getattr(node, "name", node.workflow_node_id) + (
            f".{input_name}" if input_name else ""
        )
        job = JobNode(
            executor="languages.wdl.nodes:evaluate",
            payload=EvalPayload(NodeRef(self.ref, node.workflow_node_id), input_name, values),
            name="wdl-expression",
            display_name=f"{self.label}.{what}{self.suffix()}",
            local=True,
        )
        return self.add(job).rv()

    # -- calls ----------------------------------------------------------------------------------
    def call(self, node: Tree.Call, env: Env) -> None:
        callee = node.callee
        assert isinstance(callee, Tree.Task | Tree.Workflow)
        inputs: dict[str, Any] = {}
        for name, expr in node.inputs.items():
            inputs[name] = self.value_of(expr, calls.input_type(callee, name), env, node, name)
        after = [p for a in node.after for p in iter_promises(env.get(a + DONE, []))]
        extra = {
            k[len(node.name) + 1 :]: v
            for k, v in self.extra.items()
            if k.startswith(node.name + ".")
        }
        label = f"{self.label}.{node.name}{self.suffix()}"
        if isinstance(callee, Tree.Task):
            inputs.update((k, v) for k, v in extra.items() if "." not in k)
            job = calls.task_job(
                self.ctx,
                callee,
                self.ref.sibling(callee),
                inputs,
                label,
                self.lib,
            )
            job.after.extend(after)
            self.add(job)
            for out in callee.outputs:
                env[f"{node.name}.{out.name}"] = job.rv(out.name)
            env[node.name + DONE] = [job.rv()]
            return
        sub = Builder(
            self.ctx,
            callee,
            self.ref.sibling(callee),
            extra={k: v for k, v in extra.items() if "." in k},
            label=label,
            after=self.after + after,
        )
        outputs = sub.run_workflow({**inputs, **{k: v for k, v in extra.items() if "." not in k}})
        self.created.extend(sub.created)
        for name, value in outputs.items():
            env[f"{node.name}.{name}"] = value
        env[node.name + DONE] = [j.rv() for j in sub.created]

    # -- scatter and if ---------------------------------------------------------------------------
    def section(self, node: Tree.Scatter | Tree.Conditional, env: Env) -> None:
        values = {n: env[n] for n in free_names(node.expr) if n in env}
        source = passthrough_name(node.expr)
        if all(is_ready(v) for v in values.values()):
            try:
                value = evaluate(node.expr, values, self.lib)
            except (Error.RuntimeError, Error.EvalError, ValueError) as exc:
                raise EvaluationError(describe_error(exc)) from None
        elif (
            isinstance(node, Tree.Scatter)
            and source is not None
            and isinstance(env[source], Value.Array)
        ):
            value = env[source]
        else:
            self.defer_section(node, env)
            return
        if isinstance(node, Tree.Scatter):
            items: list[Any] = list(value.value)
        else:
            items = [None] if value.value else []
        results = []
        for i, item in enumerate(items):
            layer: dict[str, Any] = {}
            if isinstance(node, Tree.Scatter):
                layer[node.variable] = item
            with self._at(i if isinstance(node, Tree.Scatter) else None):
                self.expand(node.body, ChainMap(layer, env))
            results.append(layer)
        env.update(gather(node, results))

    def defer_section(self, node: Tree.Scatter | Tree.Conditional, env: Env) -> None:
        """A local node that expands the section once its array or condition is known."""
        values = {n: env[n] for n in section_names(node) if n in env}
        job = JobNode(
            executor="languages.wdl.nodes:expand_section",
            payload=SectionPayload(
                NodeRef(self.ref, node.workflow_node_id),
                values,
                self.extra,
                self.label + self.suffix(),
            ),
            name="wdl-section",
            display_name=f"{self.label}.{node.workflow_node_id}{self.suffix()}",
            local=True,
        )
        self.add(job)
        for name in gathered_types(node):
            env[name] = job.rv(name)

    # -- plumbing -------------------------------------------------------------------------------
    def add(self, job: JobNode) -> JobNode:
        job.after.extend(self.after)
        self.ctx.add_child(job)
        self.created.append(job)
        return job

    def suffix(self) -> str:
        return "".join(f"[{i}]" for i in self._index)

    @contextmanager
    def _at(self, index: int | None) -> Iterator[None]:
        if index is None:
            yield
            return
        self._index.append(index)
        try:
            yield
        finally:
            self._index.pop()


def confine(
    ctx: JobContext,
    value: Value.Base,
    want: Type.Base | None,
    node: Tree.WorkflowNode,
    input_name: str | None,
    label: str,
    fetcher: UrlFetcher,
) -> Value.Base:
    """The value of a declaration, call input or output (``node``) with its files checked:
    local paths must be inputs of the run; an output's URLs are fetched."""
    output = node.workflow_node_id.startswith("output-")
    if isinstance(node, Tree.Call):
        what = f"{label}: call {node.name}, input {input_name}"
    else:
        what = f"{label}: {'output' if output else 'declaration'} {getattr(node, 'name', '')}"
    return confine_workflow_value(
        value, ctx.file_store, what, want=want, fetcher=fetcher if output else None
    )


def _coerce(value: Value.Base, want: Type.Base, node: Tree.Decl) -> Value.Base:
    try:
        return detach(value.coerce(want))
    except (Error.RuntimeError, ValueError) as exc:
        raise EvaluationError(f"{node.name}: {describe_error(exc)}") from None


# -- graph helpers ------------------------------------------------------------------------------
def _toposort(nodes: Sequence[Tree.WorkflowNode]) -> list[Tree.WorkflowNode]:
    """``nodes`` with each after the ones (of ``nodes``) it depends on; source order where
    free. A dependency on a gather counts as one on its section."""
    owner: dict[str, Tree.WorkflowNode] = {}
    for n in nodes:
        owner[n.workflow_node_id] = n
        if isinstance(n, Tree.WorkflowSection):
            for g in n.gathers.values():
                owner[g.workflow_node_id] = n
    out: list[Tree.WorkflowNode] = []
    state: dict[str, int] = {}

    def visit(n: Tree.WorkflowNode) -> None:
        key = n.workflow_node_id
        if state.get(key) == 2:
            return
        state[key] = 1
        for dep in sorted(_deps(n)):
            target = owner.get(dep)
            if target is not None and target is not n and state.get(target.workflow_node_id) != 1:
                visit(target)
        state[key] = 2
        out.append(n)

    for n in nodes:
        visit(n)
    return out


def _deps(node: Tree.WorkflowNode) -> Iterable[str]:
    """A node's dependencies, including (for a section) those of everything in its body."""
    yield from node.workflow_node_dependencies
    if isinstance(node, Tree.WorkflowSection):
        for child in node.body:
            yield from _deps(child)


_section_names: dict[int, tuple[Tree.Scatter | Tree.Conditional, frozenset[str]]] = {}


def section_names(node: Tree.Scatter | Tree.Conditional) -> frozenset[str]:
    """Every name read anywhere in a section (some defined inside it)."""
    hit = _section_names.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    names: set[str] = set(free_names(node.expr))
    for child in node.body:
        if isinstance(child, Tree.Decl) and child.expr is not None:
            names |= free_names(child.expr)
        elif isinstance(child, Tree.Call):
            for expr in child.inputs.values():
                names |= free_names(expr)
            names |= {a + DONE for a in child.after}
        elif isinstance(child, Tree.Scatter | Tree.Conditional):
            names |= section_names(child)
    result = frozenset(names)
    _section_names[id(node)] = (node, result)
    return result


def gathered_types(section: Tree.WorkflowSection) -> dict[str, Type.Base | None]:
    """The names a section makes visible after it, with their type inside one iteration
    (None for a call's completion marker)."""
    out: dict[str, Type.Base | None] = {}
    for g in section.gathers.values():
        out.update(_inner_types(g.referee))
    return out


def _inner_types(referee: Tree.WorkflowNode) -> dict[str, Type.Base | None]:
    if isinstance(referee, Tree.Decl):
        return {referee.name: referee.type}
    if isinstance(referee, Tree.Call):
        found: dict[str, Type.Base | None] = {b.name: b.value for b in referee.effective_outputs}
        found[referee.name + DONE] = None
        return found
    assert isinstance(referee, Tree.Gather)
    inner = _inner_types(referee.referee)
    if isinstance(referee.section, Tree.Scatter):
        return {k: (None if t is None else Type.Array(t)) for k, t in inner.items()}
    return {k: (None if t is None else t.copy(optional=True)) for k, t in inner.items()}


def gather(section: Tree.WorkflowSection, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The values a section makes visible, from each iteration's bindings."""
    out: dict[str, Any] = {}
    for name, item_type in gathered_types(section).items():
        items = [r[name] for r in results]
        if item_type is None:
            out[name] = [p for item in items for p in item]
        elif isinstance(section, Tree.Scatter):
            out[name] = Value.Array(item_type, items)
        else:
            out[name] = items[0] if items else Value.Null()
    return out
