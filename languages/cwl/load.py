"""Loading CWL documents with cwltool/schema-salad, and finding loaded processes again.

A process (the document's tool or workflow, or the tool a step runs) is named in job
payloads by a ``ProcRef``: the document's URI, the load options, and the path of step IDs
from the document's process down to it. Every process loaded in this process is cached, so
a worker forked from the leader finds it at once; a fresh worker (``python -m
runner.worker`` on a cluster node) loads the document again on its first miss.

Errors: ``InvalidDocument`` (exit 2) carries schema-salad's ``file:line:col: message`` text.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from languages.cwl.uris import InvalidFileUri, canonical_file_uri, canonical_locations
from runner.errors import UnsupportedRequirement, UsageError

if TYPE_CHECKING:
    from cwltool.context import LoadingContext
    from cwltool.process import Process
    from cwltool.workflow import WorkflowStep

log = logging.getLogger(__name__)


class InvalidDocument(UsageError):
    """The CWL document does not load or validate; the message names file:line:col."""


@dataclass(frozen=True)
class LoadOptions:
    """What changes how a document loads (so a fresh worker loads it the same way)."""

    enable_dev: bool = False
    enable_ext: bool = False
    relax_path_checks: bool = True
    strict: bool = True
    do_validate: bool = True
    fast_parser: bool = False


@dataclass(frozen=True)
class ProcRef:
    """A loaded process: the document URI, load options, and step IDs down to it."""

    uri: str
    options: LoadOptions
    steps: tuple[str, ...] = ()

    def step(self, step_id: str) -> ProcRef:
        """The reference of the process run by step ``step_id`` of this workflow."""
        return ProcRef(self.uri, self.options, self.steps + (step_id,))

    @property
    def label(self) -> str:
        """A short human name: the document's file name and the step path."""
        base = os.path.basename(urllib.parse.urlparse(self.uri).path) or self.uri
        names = [s.rsplit("#", 1)[-1].rsplit("/", 1)[-1] for s in self.steps]
        return "/".join([base] + names)


_ROOTS: dict[tuple[str, LoadOptions], Process] = {}
_STEPS: dict[ProcRef, WorkflowStep] = {}


def forget_documents() -> None:
    """Drop the documents and steps this process has loaded: ``resolve`` loads them again,
    as a worker started on another host does."""
    _ROOTS.clear()
    _STEPS.clear()


_schemas_ready: set[bool] = set()


def loading_context(options: LoadOptions) -> LoadingContext:
    """A cwltool LoadingContext for ``options`` (cwltool imported here, not at module load)."""
    from cwltool.context import LoadingContext
    from cwltool.load_tool import default_loader

    from languages.cwl import sandbox, schema_cache, uris
    from languages.cwl.containers import make_tool

    schema_cache.install()
    sandbox.install()  # before any expression: cwltool's engine lets them reach the host
    _share_step_tools()
    _setup_schemas(options.enable_ext)
    ctx = LoadingContext()
    ctx.fetcher_constructor = uris.fetcher_constructor()  # file: URIs of any RFC 8089 form
    ctx.loader = default_loader(ctx.fetcher_constructor, enable_dev=options.enable_dev)
    ctx.enable_dev = options.enable_dev
    ctx.relax_path_checks = options.relax_path_checks
    ctx.strict = options.strict
    ctx.do_validate = options.do_validate
    ctx.disable_js_validation = True  # only ever warns, and costs a node start per document
    ctx.construct_tool_object = make_tool
    ctx.do_update = True
    ctx.fast_parser = options.fast_parser
    return ctx


_step_tools: dict[tuple[Any, ...], Process] = {}
_step_tools_shared: list[bool] = []


def _share_step_tools() -> None:
    """Load a tool file that several steps run once, not once per step.

    cwltool loads and validates ``run: tool.cwl`` anew for every step naming it (about
    20 ms each). Two steps with the same document, inherited requirements and hints get the
    same Process object: cwltool only reads it when it runs a job."""
    if _step_tools_shared:
        return
    import json

    from cwltool import workflow as workflow_module

    workflow: Any = workflow_module
    load: Callable[[Any, Any], Process] = workflow.load_tool

    def load_tool(argsworkflow: Any, loading_context: Any = None) -> Process:
        if not isinstance(argsworkflow, str) or loading_context is None:
            return load(argsworkflow, loading_context)
        key = (
            argsworkflow,
            id(loading_context.loader),
            json.dumps(
                [
                    loading_context.requirements,
                    loading_context.hints,
                    loading_context.overrides_list,
                ],
                sort_keys=True,
                default=str,
            ),
        )
        process = _step_tools.get(key)
        if process is None:
            process = _step_tools[key] = load(argsworkflow, loading_context)
        return process

    workflow.load_tool = load_tool
    _step_tools_shared.append(True)


def _setup_schemas(enable_ext: bool) -> None:
    """Switch cwltool's schemas to (or from) the cwltool extensions, once per process."""
    if enable_ext in _schemas_ready or (not enable_ext and not _schemas_ready):
        return
    from importlib.resources import files

    from cwltool.process import use_custom_schema, use_standard_schema

    versions = {
        "v1.0": "extensions.yml",
        "v1.1": "extensions-v1.1.yml",
        "v1.2": "extensions-v1.2.yml",
        "v1.3.0-dev1": "extensions-v1.3.yml",
    }
    for version, name in versions.items():
        if enable_ext:
            text = files("cwltool").joinpath(name).read_text("utf-8")
            use_custom_schema(version, "http://commonwl.org/cwltool", text)
        else:
            use_standard_schema(version)
    _schemas_ready.clear()
    _schemas_ready.add(enable_ext)


def document_uri(path_or_uri: str) -> str:
    """The absolute URI of a document given as a path, ``file://`` or ``http(s)://`` URL."""
    split = urllib.parse.urlsplit(path_or_uri)
    if split.scheme in ("http", "https"):
        return path_or_uri
    if split.scheme == "file":
        try:
            return canonical_file_uri(path_or_uri)
        except InvalidFileUri as exc:
            raise InvalidDocument(str(exc)) from None
    path = os.path.abspath(path_or_uri.split("#", 1)[0])
    if not os.path.exists(path):
        raise InvalidDocument(f"{path_or_uri}: no such file")
    if os.path.isdir(path):
        raise InvalidDocument(f"{path_or_uri}: is a directory; name a CWL document")
    from schema_salad.ref_resolver import file_uri

    frag = path_or_uri.split("#", 1)[1] if "#" in path_or_uri else ""
    return file_uri(path) + (f"#{frag}" if frag else "")


def load_document(path_or_uri: str, options: LoadOptions) -> tuple[ProcRef, Process]:
    """Load, validate and cache the process of a document. Raises InvalidDocument."""
    uri = document_uri(path_or_uri)
    key = (uri, options)
    cached = _ROOTS.get(key)
    if cached is not None:
        return ProcRef(uri, options), cached
    process = _load(uri, options)
    from languages.cwl.hints import literal_hint_problem

    for each in walk_processes(process):
        _canonical_defaults(each)
        problem = literal_hint_problem(each)
        if problem is not None:
            raise InvalidDocument(problem)
    _ROOTS[key] = process
    return ProcRef(uri, options), process


def _canonical_defaults(process: Process) -> None:
    """Files and Directories in the defaults of a process's inputs and of its steps' inputs
    (and loops) with ``file:`` locations in one form (``languages.cwl.uris``)."""
    params = list(process.tool.get("inputs") or ())
    for step in getattr(process, "steps", ()):
        params += list(step.tool.get("inputs") or ()) + list(step.tool.get("loop") or ())
    for param in params:
        if "default" in param:
            try:
                canonical_locations(param["default"])
            except InvalidFileUri as exc:
                raise InvalidDocument(f"the default of {param.get('id')}: {exc}") from None


def _load(uri: str, options: LoadOptions) -> Process:
    from cwltool.errors import UnsupportedRequirement as CwlUnsupported
    from cwltool.errors import WorkflowException
    from cwltool.load_tool import load_tool
    from schema_salad.exceptions import ValidationException

    try:
        return load_tool(uri, loading_context(options))
    except CwlUnsupported as exc:
        raise UnsupportedRequirement(str(exc)) from None
    except (ValidationException, WorkflowException) as exc:
        raise InvalidDocument(f"invalid CWL document {uri}:\n{exc}") from None
    except StopIteration:  # schema-salad's answer to a document with nothing in it
        raise InvalidDocument(
            f"{uri}: the document is empty; a CWL document is a YAML mapping with "
            "cwlVersion and class"
        ) from None
    except RecursionError:
        raise InvalidDocument(f"{uri}: the document is nested too deeply to load") from None
    except UnicodeDecodeError as exc:
        from runner.userinput.userdata import not_text

        raise InvalidDocument(f"{uri}: {not_text(exc)}; is it a CWL document?") from None
    except (OSError, RuntimeError, ValueError) as exc:  # InvalidFileUri too
        raise InvalidDocument(f"cannot load {uri}: {exc}") from None
    except TypeError as exc:  # cwltool fails so on a cwltool:Loop under hints
        raise InvalidDocument(_loop_hint(uri) or f"cannot load {uri}: {exc}") from None


LOOP_CLASSES = ("cwltool:Loop", "http://commonwl.org/cwltool#Loop")


def _loop_hint(uri: str) -> str | None:
    """``file:line:col: ...`` for a cwltool:Loop among a local document's hints, if any."""
    from schema_salad.utils import yaml_no_ts

    path = urllib.parse.unquote(urllib.parse.urlsplit(uri).path)
    try:
        with open(path, encoding="utf-8") as stream:
            doc = yaml_no_ts().load(stream)
    except (OSError, ValueError):
        return None
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        if not isinstance(node, dict):
            continue
        hints: Any = node.get("hints")
        lc: Any = getattr(hints, "lc", None)  # ruamel's line and column of each entry
        if isinstance(hints, dict):
            where = [(k, lc.key(k)) for k in hints if k in LOOP_CLASSES]
        elif isinstance(hints, list):
            where = [
                (h["class"], lc.item(i))
                for i, h in enumerate(hints)
                if isinstance(h, dict) and h.get("class") in LOOP_CLASSES
            ]
        else:
            where = []
        for cls, (line, col) in where:
            return (
                f"{os.path.relpath(path)}:{line + 1}:{col + 1}: {cls} is valid only under the "
                "requirements of a workflow step, not under hints"
            )
        stack.extend(node.values())
    return None


def resolve(ref: ProcRef) -> Process:
    """The process ``ref`` names (loading its document if this process has not)."""
    if not ref.steps:
        return load_document(ref.uri, ref.options)[1]
    return resolve_step(ref).embedded_tool


def resolve_step(ref: ProcRef) -> WorkflowStep:
    """The workflow step whose ID is the last of ``ref.steps``."""
    step = _STEPS.get(ref)
    if step is not None:
        return step
    parent = resolve(ProcRef(ref.uri, ref.options, ref.steps[:-1]))
    candidates: list[WorkflowStep] = list(getattr(parent, "steps", ()))
    for candidate in candidates:
        if candidate.id == ref.steps[-1]:
            _STEPS[ref] = candidate
            return candidate
    raise InvalidDocument(f"{ref.label}: no step {ref.steps[-1]!r} in the loaded document")


def tool_class(process: Process) -> str:
    """``CommandLineTool``, ``ExpressionTool``, ``Workflow`` or ``Operation``."""
    return str(process.tool.get("class"))


def walk_processes(process: Process) -> list[Any]:
    """The process and every process below it (step tools, recursively)."""
    out = [process]
    for step in getattr(process, "steps", ()):
        out.extend(walk_processes(step.embedded_tool))
    return out
