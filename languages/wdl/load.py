"""Loading a WDL document and its inputs with miniwdl: parse, resolve imports (paths and URLs),
type check; read the inputs JSON into typed values.

Errors are ``InvalidDocument`` (the document) and ``InvalidInputs`` (the inputs), both usage
errors (exit code 2) whose message names the place: ``file:line:col`` for the document, the
input's key for inputs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import WDL
from WDL import Error, Tree, Type, Value

from languages.wdl import objects, serialize
from runner.errors import UsageError
from runner.userinput.fileuri import InvalidFileUri, file_uri_path, is_file_uri, local_path
from runner.userinput.suggest import did_you_mean
from runner.userinput.userdata import not_text, shape_problem, syntax_error

log = logging.getLogger(__name__)

_URL_SCHEMES = ("http://", "https://")


class InvalidDocument(UsageError):
    """The WDL document (or an import) cannot be parsed or does not type check."""


class InvalidInputs(UsageError):
    """The inputs are not valid for the workflow: unknown, missing, mistyped, or a file that does
    not exist."""


# -- documents --------------------------------------------------------------------------------
_cache: dict[tuple[str, bool], Tree.Document] = {}
_cache_lock = threading.Lock()


async def _read_source(
    uri: str, path: list[str], importer: Tree.Document | None
) -> Tree.ReadSourceResult:
    """miniwdl's source reader, plus URLs (also relative imports inside a document at a URL)."""
    if importer is not None and importer.pos.uri.startswith(_URL_SCHEMES) and "://" not in uri:
        uri = urllib.parse.urljoin(importer.pos.uri, uri)
    if uri.startswith(_URL_SCHEMES):
        result = Tree.ReadSourceResult(await asyncio.to_thread(_fetch_text, uri), uri)
    else:
        result = await WDL.read_source_default(local_path(uri), path, importer)
    _prepare_parser(result.source_text)
    return result


_VERSION = re.compile(r"^\s*version\s+(\S+)", re.MULTILINE)


def _prepare_parser(source: str) -> None:
    """Give miniwdl a parser for the source's WDL version that Lark keeps analysed on disk.

    Building the parser from the grammar costs ~0.15 s of CPU in every process (the leader
    and each worker); Lark's cache (``cache=True``: a file in the temp directory, keyed by the
    grammar, the options and Lark's version) brings that to ~0.02 s. The options are the ones
    miniwdl's ``_parser.parse`` uses, so the parser behaves the same."""
    from WDL import _grammar, _parser

    match = _VERSION.search(source)
    version = match.group(1) if match else "draft-2"
    try:
        grammar, _ = _grammar.get(version)
    except KeyError:
        return  # miniwdl reports the unknown version itself
    key = (grammar, "document")
    with _parser._lark_lock:
        if key not in _parser._lark_cache:
            import lark

            _parser._lark_cache[key] = lark.Lark(
                grammar,
                start="document",
                parser="lalr",
                maybe_placeholders=False,
                propagate_positions=True,
                lexer_callbacks={"COMMENT": _parser._lark_comments_buffer.append},
                cache=True,
            )


def _fetch_text(url: str) -> str:
    with urllib.request.urlopen(url) as response:
        text: str = response.read().decode("utf-8")
    return text


def document_key(uri: str) -> str:
    """The absolute form of a document's path or URL, used to find it again in a worker."""
    if uri.startswith(_URL_SCHEMES):
        return uri
    try:
        return os.path.abspath(local_path(uri))
    except InvalidFileUri as exc:
        raise InvalidDocument(f"cannot read WDL document: {exc}") from None


def load_document(uri: str, *, check_quant: bool = True) -> Tree.Document:
    """The type-checked document at ``uri`` (loaded once per process).

    Raises InvalidDocument with ``file:line:col`` and the offending source line."""
    key = (document_key(uri), check_quant)
    with _cache_lock:
        doc = _cache.get(key)
        if doc is not None:
            return doc
        objects.install()
        serialize.install()
        if os.path.isdir(key[0]):
            raise InvalidDocument(f"{uri}: is a directory; name a WDL document")
        try:
            doc = asyncio.run(
                WDL.load_async(key[0], check_quant=check_quant, read_source=_read_source)
            )
        except (
            Error.SyntaxError,
            Error.ValidationError,
            Error.MultipleValidationErrors,
            Error.ImportError,
        ) as exc:
            raise InvalidDocument(format_error(exc)) from None
        except (OSError, urllib.error.URLError) as exc:
            raise InvalidDocument(f"cannot read WDL document {uri}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise InvalidDocument(f"{uri}: {not_text(exc)}; is it a WDL document?") from None
        except RecursionError:
            raise InvalidDocument(f"{uri}: the document is nested too deeply to load") from None
        check_version_rules(doc)
        _cache[key] = doc
        return doc


_COMPOUND = (Type.Array, Type.Map, Type.Pair, Type.StructInstance, Type.Object)


def check_version_rules(doc: Tree.Document) -> None:
    """Rules of WDL 1.1 that miniwdl's type checker lets through: a compound value (Array,
    Map, Pair, struct) is never coerced to String, so an array literal cannot mix one with
    strings. Raises InvalidDocument at the literal."""
    stack: list[Any] = [doc]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Tree.Document) and node.effective_wdl_version in ("draft-2", "1.0"):
            stack.extend(i.doc for i in node.imports if i.doc is not None)
            continue
        if (
            isinstance(node, WDL.Expr.Array)
            and isinstance(node.type, Type.Array)
            and isinstance(node.type.item_type, Type.String)
        ):
            for item in node.items:
                if isinstance(item.type, _COMPOUND):
                    err = Error.StaticTypeMismatch(
                        item,
                        Type.String(),
                        item.type,
                        "WDL 1.1 does not coerce compound values to String",
                    )
                    raise InvalidDocument(format_error(err))
        stack.extend(getattr(node, "children", ()))


def format_error(exc: BaseException) -> str:
    """A document error as ``file:line:col: message``, with the source line underlined."""
    if isinstance(exc, Error.MultipleValidationErrors):
        return "\n".join(format_error(e) for e in exc.exceptions)
    pos = getattr(exc, "pos", None)
    if not isinstance(pos, Error.SourcePosition):
        text = str(exc)
    else:
        where = pos.abspath or pos.uri
        text = f"{where}:{pos.line}:{pos.column}: {exc}"
        source = getattr(exc, "source_text", None)
        if source and 0 < pos.line <= len(source.split("\n")):
            line = source.split("\n")[pos.line - 1].replace("\t", " ")
            width = pos.end_column - pos.column if pos.end_line == pos.line else 1
            text += f"\n    {line}\n    {' ' * (pos.column - 1)}{'^' * max(1, width)}"
    if isinstance(exc, Error.ImportError) and exc.__cause__ is not None:
        text += "\n" + format_error(exc.__cause__)
    return text


def find_target(doc: Tree.Document, task_name: str | None = None) -> Tree.Workflow | Tree.Task:
    """What to run: the named task, else the workflow, else the document's lone task."""
    if task_name:
        for task in doc.tasks:
            if task.name == task_name:
                return task
        raise InvalidDocument(f"no task named {task_name!r} in {doc.pos.uri}")
    if doc.workflow is not None:
        return doc.workflow
    if len(doc.tasks) == 1:
        return doc.tasks[0]
    if doc.tasks:
        names = ", ".join(t.name for t in doc.tasks)
        raise InvalidDocument(f"{doc.pos.uri} has no workflow and several tasks ({names})")
    raise InvalidDocument(f"{doc.pos.uri} has no workflow and no task")


def find_document(root: Tree.Document, key: str) -> Tree.Document:
    """The document of ``root``'s import tree whose absolute path or URL is ``key``."""
    stack = [root]
    while stack:
        doc = stack.pop()
        if doc.pos.abspath == key or doc.pos.uri == key:
            return doc
        stack.extend(imp.doc for imp in doc.imports if imp.doc is not None)
    raise KeyError(f"document {key} is not imported by {root.pos.uri}")


def find_callable(root: Tree.Document, key: str, name: str) -> Tree.Workflow | Tree.Task:
    """The workflow or task ``name`` of the document ``key`` in ``root``'s import tree."""
    doc = find_document(root, key)
    if doc.workflow is not None and doc.workflow.name == name:
        return doc.workflow
    for task in doc.tasks:
        if task.name == name:
            return task
    raise KeyError(f"no workflow or task {name} in {key}")


@dataclass(frozen=True)
class CallableRef:
    """Names a workflow or task so that a worker can find it: the main document (loaded once
    per process), the document that defines it, and its name."""

    main: str
    doc: str
    name: str
    check_quant: bool = True

    @staticmethod
    def of(
        main: Tree.Document, node: Tree.Workflow | Tree.Task, check_quant: bool = True
    ) -> CallableRef:
        return CallableRef(main.pos.abspath, node.pos.abspath, node.name, check_quant)

    def sibling(self, node: Tree.Workflow | Tree.Task) -> CallableRef:
        """The reference of another workflow or task of the same main document's tree."""
        return CallableRef(self.main, node.pos.abspath, node.name, self.check_quant)

    def resolve(self) -> Tree.Workflow | Tree.Task:
        root = load_document(self.main, check_quant=self.check_quant)
        return find_callable(root, self.doc, self.name)


# -- inputs -----------------------------------------------------------------------------------
def read_inputs_json(text_or_path: str | None) -> tuple[dict[str, Any], str | None]:
    """The inputs object and the directory relative paths in it start from (None: the current
    directory). ``text_or_path`` is a JSON string or a path/URL to a JSON (or YAML) file."""
    if text_or_path is None or not text_or_path.strip():
        return {}, None
    text = text_or_path.strip()
    base: str | None = None
    if not text.startswith("{"):
        base = os.path.dirname(os.path.abspath(text)) if "://" not in text else None
        try:
            if text.startswith(_URL_SCHEMES):
                text = _fetch_text(text)
            else:
                with open(text, encoding="utf-8") as f:
                    text = f.read()
        except (OSError, urllib.error.URLError) as exc:
            raise InvalidInputs(f"cannot read inputs file {text_or_path}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise InvalidInputs(f"inputs file {text_or_path}: {not_text(exc)}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        from ruamel.yaml import YAML

        try:
            data = YAML(typ="safe", pure=True).load(text)
        except RecursionError:
            raise InvalidInputs("the inputs are nested too deeply") from None
        except Exception as exc:  # noqa: BLE001 (any parse error is the user's input)
            where = "the inputs JSON" if text_or_path.strip().startswith("{") else text_or_path
            raise InvalidInputs(syntax_error(where, exc)) from None
    except RecursionError:
        raise InvalidInputs("the inputs are nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidInputs('inputs must be a JSON object of "workflow.input": value')
    problem = shape_problem(data)
    if problem:
        raise InvalidInputs(f"the inputs {problem}")
    return data, base


def parse_inputs(
    target: Tree.Workflow | Tree.Task, data: dict[str, Any], base_dir: str | None
) -> WDL.Env.Bindings[Value.Base]:
    """Typed inputs of ``target`` from the inputs object; local file paths made absolute.

    Keys are ``<workflow>.<input>`` or ``<workflow>.<call>.<input>`` where allowed (a lone
    task: ``<task>.<input>`` or ``<input>``). Raises InvalidInputs naming the key."""
    namespace = target.name
    try:
        env = WDL.values_from_json(data, target.available_inputs, namespace=namespace)
    except Error.InputError as exc:
        raise InvalidInputs(
            f"inputs of {namespace}: {exc}{_suggestion(target, data, exc)}"
        ) from None
    except Exception as exc:  # noqa: BLE001 (miniwdl raises plain errors for bad values)
        raise InvalidInputs(f"inputs of {namespace}: {exc}") from None
    missing = target.required_inputs.subtract(env)
    if missing:
        names = ", ".join(f"{namespace}.{b.name}" for b in missing)
        raise InvalidInputs(f"missing required input(s) of {namespace}: {names}")

    def resolve(binding: WDL.Env.Binding[Value.Base]) -> WDL.Env.Binding[Value.Base]:
        value = Value.rewrite_paths(
            binding.value, lambda f: _resolve_path(f, base_dir, f"{namespace}.{binding.name}")
        )
        return WDL.Env.Binding(binding.name, value, binding.info)

    return env.map(resolve)


def _suggestion(target: Tree.Workflow | Tree.Task, data: dict[str, Any], exc: Exception) -> str:
    """ "; did you mean ...?" for an unknown input key close to an input's name."""
    text = str(exc)
    prefix = "unknown input/output: "
    if not text.startswith(prefix):
        return ""
    wrong = text[len(prefix) :].strip()
    names = [f"{target.name}.{b.name}" for b in target.available_inputs]
    hint = did_you_mean([wrong], [n for n in names if n not in data])
    return f"; {hint}" if hint else ""


def _resolve_path(value: Value.File | Value.Directory, base_dir: str | None, key: str) -> str:
    """The absolute path of an input file (relative to the inputs file, then to the current
    directory), or the URL unchanged."""
    path = str(value.value)
    if is_file_uri(path):  # every form RFC 8089 allows: file:/p, file:///p, file://localhost/p
        try:
            path = file_uri_path(path)
        except InvalidFileUri as exc:
            raise InvalidInputs(f"input {key}: {exc}") from None
    elif "://" in path:
        return path
    candidates = (
        [path]
        if os.path.isabs(path)
        else [os.path.join(d, path) for d in (base_dir, os.getcwd()) if d]
    )
    want_dir = isinstance(value, Value.Directory)
    for candidate in candidates:
        if os.path.isdir(candidate) if want_dir else os.path.isfile(candidate):
            return os.path.abspath(candidate)
    kind = "directory" if want_dir else "file"
    raise InvalidInputs(f"input {key}: {kind} not found: {value.value}")
