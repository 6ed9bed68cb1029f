"""The inputs of a workflow step: sources merged, defaults, valueFrom and ``when``.

Mirrors cwltool's ``object_from_state`` and ``postScatterEval`` (the CWL rules), on values
whose promises the core has already resolved.
"""

from __future__ import annotations

from typing import Any

from languages.cwl.expressions import (
    ExpressionFailed,
    deep_listing,
    evaluate,
    has_files,
    load_contents,
    local_files,
)
from languages.cwl.settings import cwl_settings


def shortname(identifier: str) -> str:
    """The last path segment of an ID's fragment (``file:///w.cwl#step/in`` -> ``in``)."""
    from cwltool.process import shortname as cwl_shortname

    return str(cwl_shortname(identifier))


def get_output(outputs: Any, name: str) -> Any:
    """Output ``name`` of a process's outputs (a dict, or a promise of the whole object)."""
    if isinstance(outputs, dict):
        return outputs.get(name)
    return outputs[name]  # a promise of the whole output object


def merge_sources(param: dict[str, Any], values: list[Any], multiple_ok: bool) -> Any:
    """One value from the values of a parameter's sources (linkMerge, then pickValue)."""
    name = shortname(param["id"])
    if len(values) > 1 and not multiple_ok:
        raise ExpressionFailed(
            f"'{name}' has several sources but MultipleInputFeatureRequirement is not declared"
        )
    link_merge = param.get("linkMerge", "merge_nested" if len(values) > 1 else None)
    if link_merge == "merge_nested":
        value: Any = list(values)
    elif link_merge == "merge_flattened":
        value = []
        for v in values:
            value.extend(v) if isinstance(v, list) else value.append(v)
    elif link_merge is None:
        value = values[0] if values else None
    else:
        raise ExpressionFailed(f"'{name}': unknown linkMerge {link_merge!r}")
    if "pickValue" in param and isinstance(value, list):
        value = pick_value(name, param["pickValue"], value)
    return value


def pick_value(name: str, method: str, values: list[Any]) -> Any:
    """CWL v1.2 pickValue over the merged list of a parameter's sources."""
    present = [v for v in values if v is not None]
    if method == "all_non_null":
        return present
    if not present:
        raise ExpressionFailed(f"all sources for '{name}' are null ({method})")
    if method == "first_non_null":
        return present[0]
    if method == "the_only_non_null":
        if len(present) > 1:
            raise ExpressionFailed(
                f"expected only one source for '{name}' to be non-null, got {len(present)}"
            )
        return present[0]
    raise ExpressionFailed(f"'{name}': unknown pickValue {method!r}")


def gather_inputs(
    params: list[dict[str, Any]], sources: dict[str, list[Any]], multiple_ok: bool
) -> dict[str, Any]:
    """The step's input object (full IDs as keys) from its sources' values."""
    out: dict[str, Any] = {}
    for param in params:
        pid = param["id"]
        if pid in sources:
            out[pid] = merge_sources(param, sources[pid], multiple_ok)
        if out.get(pid) is None and "default" in param:
            out[pid] = param["default"]
        if pid not in out:
            if "valueFrom" not in param:
                raise ExpressionFailed(f"no value for step input '{shortname(pid)}'")
            out[pid] = None
    return out


class StepEvaluator:
    """Applies loadContents, valueFrom and ``when`` of one step to its gathered inputs."""

    def __init__(self, ctx: Any, step: Any, workflow: Any) -> None:
        self.ctx = ctx
        self.settings = cwl_settings(ctx.config)
        self.step = step
        self.requirements: list[dict[str, Any]] = workflow.requirements
        params = step.tool["inputs"]
        self.value_from = {p["id"]: p["valueFrom"] for p in params if "valueFrom" in p}
        self.load_contents = {p["id"] for p in params if p.get("loadContents")}
        self.when = step.tool.get("when")
        self.connected = [p["id"] for p in params if not p.get("not_connected")]
        if self.value_from and not workflow.get_requirement("StepInputExpressionRequirement")[0]:
            raise ExpressionFailed(
                f"step {shortname(step.id)} uses valueFrom but StepInputExpressionRequirement "
                "is not in the workflow's requirements"
            )

    @property
    def trivial(self) -> bool:
        """Nothing to evaluate: the gathered inputs go to the tool as they are."""
        return not (self.value_from or self.load_contents or self.when)

    def tool_inputs(self, io: dict[str, Any]) -> dict[str, Any] | None:
        """The inputs of the step's process (short names), or None if ``when`` is false."""
        evaluated = self.evaluate_io(io)
        return None if evaluated is None else self.tool_job(evaluated)

    def evaluate_io(self, io: dict[str, Any]) -> dict[str, Any] | None:
        """``io`` (full IDs) after loadContents and valueFrom, or None if ``when`` is false."""
        if self.trivial:
            return io
        if has_files(io):
            with local_files(self.ctx) as (localizer, globalizer):
                evaluated = self._evaluate(localizer.localize(io))
                return None if evaluated is None else dict(globalizer.globalize(evaluated))
        return self._evaluate(dict(io))

    def tool_job(self, io: dict[str, Any]) -> dict[str, Any]:
        """The input object of the step's process (short names) from an evaluated ``io``."""
        return {shortname(pid): io.get(pid) for pid in self.connected}

    def _evaluate(self, io: dict[str, Any]) -> dict[str, Any] | None:
        for pid in self.load_contents:
            if io.get(pid) is not None:
                load_contents(io[pid])
        short = {shortname(k): v for k, v in io.items()}
        result = dict(io)
        for pid, expression in self.value_from.items():
            value = io.get(pid)
            deep_listing(value)
            result[pid] = evaluate(expression, short, self.requirements, self.settings, value)
        if self.when is None:
            return result
        flag = evaluate(
            self.when,
            {shortname(k): v for k, v in result.items()},
            self.requirements,
            self.settings,
        )
        if flag is True:
            return result
        if flag is False:
            return None
        raise ExpressionFailed(
            f"step {shortname(self.step.id)}: 'when' must evaluate to true or false, not {flag!r}"
        )
