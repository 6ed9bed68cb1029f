"""Expressions evaluated by the leader: step ``valueFrom`` and ``when``, ExpressionTools.

cwltool's evaluator (and its node sandbox for InlineJavascriptRequirement) does the work.
Values that hold stored files are first made local (``languages.cwl.files``) so that
``self.path``, ``loadContents`` and directory listings work; results go back to the store.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from languages.cwl.files import Globalizer, Localizer, iter_files
from languages.cwl.load import ProcRef
from languages.cwl.runtime import run_process, runtime_context
from languages.cwl.settings import CwlSettings, cwl_settings
from runner.errors import PermanentJobError


class ExpressionFailed(PermanentJobError):
    """An expression or ExpressionTool failed; the message says which and why."""


def evaluate(
    expression: Any,
    inputs: dict[str, Any],
    requirements: list[dict[str, Any]],
    settings: CwlSettings,
    context: Any = None,
) -> Any:
    """The value of a CWL parameter reference or JavaScript expression (or the literal)."""
    from cwl_utils.expression import do_eval
    from cwltool.errors import WorkflowException

    try:
        return do_eval(
            expression,
            inputs,
            cast(Any, requirements),
            None,
            None,
            {},
            context=context,
            timeout=settings.eval_timeout,
            debug=False,
            js_console=settings.js_console,
            container_engine="docker",
        )
    except WorkflowException as exc:
        raise ExpressionFailed(f"expression {_short(expression)} failed: {exc}") from None


def _short(expression: Any) -> str:
    text = str(expression).strip().replace("\n", " ")
    return repr(text if len(text) < 80 else text[:77] + "...")


def has_files(value: Any) -> bool:
    return next(iter(iter_files(value)), None) is not None


@contextmanager
def local_files(ctx: Any) -> Iterator[tuple[Localizer, Globalizer]]:
    """A Localizer and a Globalizer over the job's store, sharing the way back."""
    store = ctx.file_store.store
    temp = ctx.file_store.local_temp_dir
    localizer = Localizer(store, os.path.join(temp, "eval"))
    globalizer = Globalizer(
        store,
        localizer.back,
        owned=[temp],
        checksums=localizer.checksums,
        checksum=not cwl_settings(ctx.config).no_compute_checksum,
    )
    yield localizer, globalizer


def load_contents(value: Any) -> None:
    """Fill ``contents`` of local File values (first 64 KiB), as ``loadContents`` does."""
    from cwltool.builder import content_limit_respected_read

    for obj in iter_files(value):
        if obj.get("class") == "File" and obj.get("contents") is None and obj.get("path"):
            with open(obj["path"], "rb") as stream:
                obj["contents"] = content_limit_respected_read(stream)


def deep_listing(value: Any) -> None:
    """Give every local Directory value its full listing (what valueFrom sees)."""
    from cwltool.stdfsaccess import StdFsAccess
    from cwltool.utils import adjustDirObjs, get_listing

    adjustDirObjs(value, functools.partial(get_listing, StdFsAccess(""), recursive=True))


def run_expression_tool(ctx: Any, ref: ProcRef, process: Any, job: dict[str, Any]) -> Any:
    """Run an ExpressionTool in the leader; its outputs, with files in the store."""
    with local_files(ctx) as (localizer, globalizer):
        local_job = localizer.localize(job)
        rc = runtime_context(ctx.config, ctx.file_store.local_temp_dir)
        run = run_process(process, local_job, rc)
        if run.status != "success" or run.outputs is None:
            reason = "; ".join(m.strip() for m in run.messages[-3:]) or run.status
            raise ExpressionFailed(f"expression tool {ref.label} failed: {reason}")
        return globalizer.globalize(run.outputs)
