"""CWL processes as nodes of the runner's job graph.

- The *root* node (local) instantiates the document's process on the run's inputs.
- A CommandLineTool becomes a *work* node (``languages.cwl.tool``) with its resources.
- An ExpressionTool is evaluated at once by the local node that reaches it.
- A Workflow becomes one local *step* node per step, added as children of the node that
  reaches it, wired by promises: a step input holds the promises of its sources, so the
  core starts a step when its sources are done. Its outputs are the promises of the steps
  (or of an *outputs* node when linkMerge/pickValue must combine several sources).
- A step node gathers its inputs (linkMerge, pickValue, defaults), evaluates valueFrom and
  ``when`` (a false ``when`` gives null outputs), then instantiates the step's process once,
  or once per element for a scatter, returning the promises of the instances' outputs (the
  gather needs no node of its own: the core resolves promises inside return values).
- A looping step (cwltool:Loop) adds one iteration at a time: see ``languages.cwl.loop``.
"""

from __future__ import annotations

from typing import Any

from languages.cwl import loop
from languages.cwl.cachekey import KEYER_PATH
from languages.cwl.expressions import ExpressionFailed, run_expression_tool
from languages.cwl.load import ProcRef, resolve, resolve_step, tool_class
from languages.cwl.resources import resource_spec
from languages.cwl.scatter import expand, reshape
from languages.cwl.steps import (
    StepEvaluator,
    gather_inputs,
    get_output,
    merge_sources,
    shortname,
)
from languages.cwl.tool import EXECUTOR as TOOL_EXECUTOR
from runner.model.graph import JobNode

ROOT_EXECUTOR = "languages.cwl.compile:run_root"
STEP_EXECUTOR = "languages.cwl.compile:run_step"
OUTPUTS_EXECUTOR = "languages.cwl.compile:collect_outputs"


def root_node(ref: ProcRef, inputs: dict[str, Any]) -> JobNode:
    """The node whose value is the outputs of the document's process on ``inputs``."""
    return JobNode(
        ROOT_EXECUTOR, payload={"proc": ref, "inputs": inputs}, name=ref.label, local=True
    )


def run_root(ctx: Any, payload: dict[str, Any]) -> Any:
    """Executor of the root node."""
    return instantiate(ctx, payload["proc"], payload["inputs"])


def instantiate(ctx: Any, ref: ProcRef, job: dict[str, Any], index: int | None = None) -> Any:
    """Start the process ``ref`` on ``job`` (short names); its outputs, maybe promised.
    ``index``: the element's place in its step's scatter (``[3]`` ends the tool's display
    name, and names it in the cache's lines)."""
    process = resolve(ref)
    kind = tool_class(process)
    if kind == "CommandLineTool":
        node = JobNode(
            TOOL_EXECUTOR,
            payload={"tool": ref, "inputs": job, "index": index},
            name=ref.label,
            display_name=ref.label + ("" if index is None else f"[{index}]"),
            resources=resource_spec(process, job, ctx),
            cache=KEYER_PATH,
        )
        ctx.add_child(node)
        return node.rv()
    if kind == "ExpressionTool":
        return run_expression_tool(ctx, ref, process, job)
    if kind == "Workflow":
        return instantiate_workflow(ctx, ref, process, job)
    raise ExpressionFailed(f"{ref.label}: a {kind} cannot be run")


def instantiate_workflow(ctx: Any, ref: ProcRef, workflow: Any, job: dict[str, Any]) -> Any:
    """Add one step node per step as children of ``ctx``; the workflow's outputs."""
    state: dict[str, Any] = {}
    for param in workflow.tool["inputs"]:
        value = job.get(shortname(param["id"]))
        if value is None and "default" in param:
            value = param["default"]
        state[param["id"]] = value
    nodes = {}
    for step in workflow.steps:
        node = JobNode(STEP_EXECUTOR, name=f"{ref.label}/{shortname(step.id)}", local=True)
        nodes[step.id] = node
        for out in step.tool["outputs"]:
            state[out["id"]] = node.rv(shortname(out["id"]))
    for step in workflow.steps:
        sources = {
            param["id"]: [state[s] for s in _aslist(param["source"])]
            for param in step.tool["inputs"]
            if "source" in param
        }
        node = nodes[step.id]
        node.payload = {"step": ref.step(step.id), "sources": sources}
        ctx.add_child(node)
    return _workflow_outputs(ctx, ref, workflow, state)


def _workflow_outputs(ctx: Any, ref: ProcRef, workflow: Any, state: dict[str, Any]) -> Any:
    direct: dict[str, Any] = {}
    sources: dict[str, list[Any]] = {}
    for param in workflow.tool["outputs"]:
        links = _aslist(param.get("outputSource"))
        sources[param["id"]] = [state[s] for s in links]
        if len(links) == 1 and "linkMerge" not in param and "pickValue" not in param:
            direct[shortname(param["id"])] = state[links[0]]
        elif not links:
            direct[shortname(param["id"])] = None
    if len(direct) == len(sources):
        return direct
    node = JobNode(
        OUTPUTS_EXECUTOR,
        payload={"proc": ref, "sources": sources},
        name=f"{ref.label}/outputs",
        local=True,
    )
    ctx.add_child(node)
    return node.rv()


def collect_outputs(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Executor of a workflow's outputs node: merge and pick the sources of each output."""
    workflow = resolve(payload["proc"])
    multiple = bool(workflow.get_requirement("MultipleInputFeatureRequirement")[0])
    out = {}
    for param in workflow.tool["outputs"]:
        values = payload["sources"].get(param["id"], [])
        out[shortname(param["id"])] = merge_sources(param, values, multiple) if values else None
    return out


def run_step(ctx: Any, payload: dict[str, Any]) -> Any:
    """Executor of a step node."""
    ref: ProcRef = payload["step"]
    step = resolve_step(ref)
    workflow = resolve(ProcRef(ref.uri, ref.options, ref.steps[:-1]))
    multiple = bool(workflow.get_requirement("MultipleInputFeatureRequirement")[0])
    io = gather_inputs(step.tool["inputs"], payload["sources"], multiple)
    evaluator = StepEvaluator(ctx, step, workflow)
    names = [shortname(o["id"]) for o in step.tool["outputs"]]
    if loop.is_loop(step):
        return loop.start_loop(ctx, ref, step, evaluator, io, instantiate)
    if "scatter" in step.tool:
        return _scatter(ctx, ref, step, io, evaluator, names)
    job = evaluator.tool_inputs(io)
    if job is None:
        return {name: None for name in names}
    outputs = instantiate(ctx, ref, job)
    return {name: get_output(outputs, name) for name in names}


def _scatter(
    ctx: Any,
    ref: ProcRef,
    step: Any,
    io: dict[str, Any],
    evaluator: StepEvaluator,
    names: list[str],
) -> dict[str, Any]:
    elements, dims = expand(io, _aslist(step.tool["scatter"]), step.tool.get("scatterMethod"))
    results = []
    for index, element in enumerate(elements):
        job = evaluator.tool_inputs(element)
        results.append(None if job is None else instantiate(ctx, ref, job, index))
    return {
        name: reshape([None if r is None else get_output(r, name) for r in results], dims)
        for name in names
    }


def run_loop_node(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Executor of a looping step's loop node (``languages.cwl.loop.run_loop_node``)."""
    return loop.run_loop_node(ctx, payload, instantiate)


def _aslist(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
