"""Looping steps: cwltool's ``cwltool:Loop`` (``--enable-ext``) and CWL v1.3's ``loop``.

cwltool loads a ``cwltool:Loop`` requirement of a step into the fields CWL v1.3.0-dev1 gives
the step itself, and so do we: ``when`` (the requirement's ``loopWhen``), ``loop`` (one entry
per step input fed back: ``outputSource`` (the requirement's ``loopSource``), ``linkMerge``,
``pickValue``, ``default``, ``valueFrom``) and ``outputMethod`` (``last_iteration`` or
``all_iterations``; the extension's ``last`` and ``all``). The semantics are cwltool's:

- the step's inputs are gathered and evaluated (``valueFrom``) once; ``loopWhen`` false on
  them skips the step (outputs null, or empty arrays with ``all_iterations``);
- after iteration k, the inputs of iteration k+1 are those of iteration k with each ``loop``
  entry replaced by its sources among iteration k's outputs (merged, picked, ``default`` when
  null), then its ``valueFrom`` (``inputs`` = iteration k's inputs, ``self`` = that value);
  iteration k+1 runs while ``loopWhen`` holds on them;
- the step's outputs are the last iteration's (``last_iteration``) or, per output, the array
  of every iteration's (``all_iterations``).

In the job graph a loop is dynamic. The step node starts iteration 1 (the process's nodes)
and a local *loop node* that waits for its outputs. Loop node k computes iteration k+1's
inputs and either starts iteration k+1 and loop node k+1 as its own children, or adds the
*result* node, whose value is the step's outputs. Each node is journaled as it runs, so a
``--restart`` after a kill goes on after the last finished iteration.

The nodes of one loop take IDs derived from a random base chosen by the step node: loop node
k can then name the values of loop nodes 1..k (``all_iterations``), and the step node can
return a promise of the result node before that node exists. So no node carries the outputs
of all earlier iterations, and no chain of forwarded promises grows with the iterations.

``--loop-iteration-limit N`` (moil's; cwltool has no limit) fails a loop whose ``loopWhen``
still holds after N iterations, instead of running on forever.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from languages.cwl.expressions import (
    ExpressionFailed,
    deep_listing,
    evaluate,
    has_files,
    local_files,
)
from languages.cwl.load import ProcRef, resolve, resolve_step
from languages.cwl.settings import cwl_settings
from languages.cwl.steps import StepEvaluator, get_output, merge_sources, shortname
from runner.model.graph import JobNode, new_job_id
from runner.model.promise import Promise

#: the loop node's executor: ``compile.run_loop_node`` calls ``run_loop_node`` here with
#: ``compile.instantiate``, so that this module does not import the compiler back
LOOP_EXECUTOR = "languages.cwl.compile:run_loop_node"
RESULT_EXECUTOR = "languages.cwl.loop:run_result_node"
ALL = "all_iterations"


def is_loop(step: Any) -> bool:
    """Whether a workflow step loops (cwltool:Loop, or CWL v1.3's ``loop``)."""
    return "loop" in step.tool


def output_method(step: Any) -> str:
    """``last_iteration`` or ``all_iterations`` (the extension's ``last``/``all`` mapped)."""
    method = str(step.tool.get("outputMethod") or "last_iteration")
    return {"all": ALL, "last": "last_iteration"}.get(method, method)


#: ``instantiate(ctx, ref, job)``: add the jobs of a step's process on the inputs ``job``
#: and return their outputs (``languages.cwl.compile.instantiate``)
Instantiate = Callable[[Any, ProcRef, dict[str, Any]], Any]


def start_loop(
    ctx: Any,
    ref: ProcRef,
    step: Any,
    evaluator: StepEvaluator,
    io: dict[str, Any],
    instantiate: Instantiate,
) -> Any:
    """The outputs of a looping step on its gathered inputs ``io`` (full IDs): a promise
    of the result node, or the skipped step's outputs if ``loopWhen`` is false at once."""
    names = [shortname(o["id"]) for o in step.tool["outputs"]]
    if "scatter" in step.tool:  # cwltool refuses it when it validates; be sure here too
        raise ExpressionFailed(f"step {shortname(step.id)}: a loop cannot also scatter")
    evaluated = evaluator.evaluate_io(io)
    if evaluated is None:
        return {name: [] if output_method(step) == ALL else None for name in names}
    base = new_job_id()
    _start_iteration(ctx, ref, evaluator, evaluated, base, 1, instantiate)
    return Promise(result_id(base))


def loop_node_id(base: str, iteration: int) -> str:
    """The ID of the loop node that follows iteration ``iteration`` of the loop ``base``."""
    return hashlib.sha256(f"{base}/{iteration}".encode()).hexdigest()[:32]


def result_id(base: str) -> str:
    """The ID of the result node of the loop ``base``."""
    return hashlib.sha256(f"{base}/result".encode()).hexdigest()[:32]


def _start_iteration(
    ctx: Any,
    ref: ProcRef,
    evaluator: StepEvaluator,
    io: dict[str, Any],
    base: str,
    iteration: int,
    instantiate: Instantiate,
) -> None:
    """Add iteration ``iteration`` on ``io`` and the loop node that waits for it."""
    outputs = instantiate(ctx, ref, evaluator.tool_job(io))
    names = [shortname(o["id"]) for o in evaluator.step.tool["outputs"]]
    node = JobNode(
        LOOP_EXECUTOR,
        payload={
            "step": ref,
            "io": io,
            "outputs": {name: get_output(outputs, name) for name in names},
            "iteration": iteration,
            "base": base,
        },
        name=f"{ref.label}/iteration-{iteration}",
        local=True,
        id=loop_node_id(base, iteration),
    )
    ctx.add_child(node)


def run_loop_node(ctx: Any, payload: dict[str, Any], instantiate: Instantiate) -> dict[str, Any]:
    """What a loop node does (its executor is ``LOOP_EXECUTOR``): start the next
    iteration, or the result node. Its value is the outputs of the iteration it followed."""
    ref: ProcRef = payload["step"]
    step = resolve_step(ref)
    workflow = resolve(ProcRef(ref.uri, ref.options, ref.steps[:-1]))
    outputs: dict[str, Any] = payload["outputs"]
    iteration: int = payload["iteration"]
    base: str = payload["base"]
    io = next_inputs(ctx, step, payload["io"], outputs)
    if loop_when(ctx, step, io):
        limit = cwl_settings(ctx.config).loop_iteration_limit
        if limit and iteration >= limit:
            raise ExpressionFailed(
                f"step {shortname(step.id)}: loopWhen still holds after {iteration} "
                f"iterations, the limit set by --loop-iteration-limit {limit}"
            )
        evaluator = StepEvaluator(ctx, step, workflow)
        _start_iteration(ctx, ref, evaluator, io, base, iteration + 1, instantiate)
        return outputs
    if output_method(step) == ALL:
        ids = [loop_node_id(base, i) for i in range(1, iteration + 1)]
        result: dict[str, Any] = {name: [Promise(i, (name,)) for i in ids] for name in outputs}
    else:
        result = dict(outputs)
    ctx.add_child(
        JobNode(
            RESULT_EXECUTOR,
            payload=result,
            name=f"{ref.label}/loop-outputs",
            local=True,
            id=result_id(base),
        )
    )
    return outputs


def run_result_node(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Executor of a loop's result node: the step's outputs, as gathered."""
    return payload


def next_inputs(ctx: Any, step: Any, io: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs (full IDs) of the iteration after the one that ran on ``io`` and gave
    ``outputs`` (short names), by the step's ``loop`` entries."""
    entries: list[dict[str, Any]] = list(step.tool["loop"])
    multiple = bool(step.get_requirement("MultipleInputFeatureRequirement")[0])
    fed: dict[str, Any] = {}
    for entry in entries:
        pid = entry["id"]
        sources = _aslist(entry.get("outputSource"))
        if sources:
            fed[pid] = merge_sources(entry, [outputs.get(shortname(s)) for s in sources], multiple)
        if fed.get(pid) is None and "default" in entry:
            fed[pid] = entry["default"]
        if pid not in fed:
            if "valueFrom" not in entry:
                raise ExpressionFailed(
                    f"step {shortname(step.id)}: loop input '{shortname(pid)}' has no "
                    "loopSource, default or valueFrom"
                )
            fed[pid] = None
    value_from = {e["id"]: e["valueFrom"] for e in entries if "valueFrom" in e}
    if not value_from:
        return {**io, **fed}
    if not step.get_requirement("StepInputExpressionRequirement")[0]:
        raise ExpressionFailed(
            f"step {shortname(step.id)} uses valueFrom in its loop but "
            "StepInputExpressionRequirement is not in its requirements"
        )
    with _local(ctx, {"io": io, "fed": fed}) as (local, globalize):
        before = {shortname(k): v for k, v in local["io"].items()}
        deep_listing(local["fed"])
        computed = {
            pid: evaluate(
                expression,
                before,
                step.requirements,
                cwl_settings(ctx.config),
                local["fed"].get(pid),
            )
            for pid, expression in value_from.items()
        }
        return {**io, **fed, **globalize(computed)}


def loop_when(ctx: Any, step: Any, io: dict[str, Any]) -> bool:
    """Whether ``loopWhen`` holds on ``io`` (full IDs); an error unless true or false."""
    with _local(ctx, io) as (local, _):
        flag = evaluate(
            step.tool["when"],
            {shortname(k): v for k, v in local.items()},
            step.requirements,
            cwl_settings(ctx.config),
        )
    if isinstance(flag, bool):
        return flag
    raise ExpressionFailed(
        f"step {shortname(step.id)}: loopWhen must evaluate to true or false, not {flag!r}"
    )


@contextmanager
def _local(ctx: Any, value: Any) -> Iterator[tuple[Any, Callable[[Any], Any]]]:
    """``value`` with its stored files made local for expressions, and the function that
    stores the files of what they return."""
    if not has_files(value):
        yield value, lambda v: v
        return
    with local_files(ctx) as (localizer, globalizer):
        yield localizer.localize(value), globalizer.globalize


def _aslist(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
