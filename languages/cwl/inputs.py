"""The run's input object: from a YAML/JSON job file, stdin (``-``) or ``--name value``
arguments after the document, completed and validated as cwltool does before a run.

Errors: ``InvalidInputs`` (exit 1, as cwltool) names what is wrong with the inputs.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from typing import Any, NoReturn

from languages.cwl.load import ProcRef
from languages.cwl.uris import InvalidFileUri, canonical_locations
from runner.errors import MoilError, UsageError
from runner.userinput.fileuri import file_uri_path, is_file_uri
from runner.userinput.suggest import did_you_mean
from runner.userinput.userdata import not_text, shape_problem, syntax_error

log = logging.getLogger(__name__)

REQUIREMENTS_KEY = "https://w3id.org/cwl/cwl#requirements"


class InvalidInputs(MoilError):
    """The input object does not fit the process's inputs (exit 1)."""


def load_job_order(argv: list[str], ref: ProcRef, process: Any) -> tuple[dict[str, Any], str]:
    """The raw input object and the directory its relative paths are relative to."""
    from cwltool.load_tool import jobloaderctx
    from schema_salad.ref_resolver import Loader

    loader = Loader(copy.deepcopy(jobloaderctx))
    basedir = os.getcwd()
    first = argv[0] if argv and (argv[0] == "-" or not argv[0].startswith("-")) else None
    if first:
        first = _local_job_path(first)
    job = plain(_read_job(first, loader) or {}) if first else {}
    if first and first != "-":
        basedir = os.path.dirname(os.path.abspath(first))
    rest = argv[1:] if first else argv
    if rest:
        arguments, job_file = _tool_arguments(rest, ref, process, loader)
        if job_file is not None:  # cwltool's ``wf.cwl --x 1 job.yml``
            if first:
                raise UsageError(f"two input objects given: {first} and {job_file}")
            job_file = _local_job_path(job_file)
            job = plain(_read_job(job_file, loader) or {})
            basedir = os.path.dirname(os.path.abspath(job_file))
        job.update(arguments)
    return job, basedir


def _local_job_path(source: str) -> str:
    """A job file given as a ``file:`` URI, as the local path it names (read as a local
    file is); anything else unchanged."""
    if not is_file_uri(source):
        return source
    try:
        return file_uri_path(source)
    except InvalidFileUri as exc:
        raise InvalidInputs(str(exc)) from None


def _read_job(source: str, loader: Any) -> Any:
    """The input object in ``source`` (a path, a URL, or ``-`` for stdin), resolved as
    cwltool resolves it; None if it is empty. Raises InvalidInputs naming ``source``."""
    from cwltool import CWL_CONTENT_TYPES
    from schema_salad.ref_resolver import file_uri

    name = "from stdin" if source == "-" else source
    try:
        if source == "-":
            job = _resolve(_parse(sys.stdin.read(), name), file_uri(os.getcwd()) + "/", loader)
        elif os.path.isfile(source):
            job = _read_local_job(source, loader)
        elif os.path.isdir(source):
            raise InvalidInputs(f"the input object {source} is a directory; name a YAML/JSON file")
        else:
            job, _ = loader.resolve_ref(source, checklinks=False, content_types=CWL_CONTENT_TYPES)
    except StopIteration:
        raise InvalidInputs(f"the input object {name} is empty; use {{}}") from None
    except InvalidInputs:
        raise
    except UnicodeDecodeError as exc:
        raise InvalidInputs(f"the input object {name}: {not_text(exc)}") from None
    except RecursionError:
        raise InvalidInputs(f"the input object {name} is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 (salad raises many kinds)
        if getattr(exc, "problem_mark", None) is not None:  # YAML (or JSON) that does not parse
            raise InvalidInputs(f"the input object {syntax_error(source, exc)}") from None
        raise InvalidInputs(f"cannot read the input object {name}: {exc}") from None
    if job is not None and not isinstance(job, dict):
        kind = "a list" if isinstance(job, list) else f"a {type(job).__name__}"
        raise InvalidInputs(f"the input object {name} must be a mapping of input names, not {kind}")
    return job


def _read_local_job(path: str, loader: Any) -> Any:
    """A local job file, parsed fast (JSON, or YAML without round-trip data; a 1000-element
    list costs ruamel's round-trip parser a second), then resolved as cwltool does."""
    from schema_salad.ref_resolver import file_uri

    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    return _resolve(_parse(text, path), file_uri(os.path.abspath(path)), loader)


def _parse(text: str, name: str) -> Any:
    """JSON or YAML text as plain values (StopIteration if there are none); InvalidInputs
    if it is too deep or too big to take (``runner.userinput.userdata``)."""
    if not text.strip():
        raise StopIteration
    try:
        data = json.loads(text)
    except ValueError:
        data = _safe_yaml().load(text)
    if data is None:
        raise StopIteration
    problem = shape_problem(data)
    if problem:
        raise InvalidInputs(f"the input object {name} {problem}")
    return data


def _resolve(data: Any, base_uri: str, loader: Any) -> Any:
    if not isinstance(data, dict):
        return data
    from schema_salad.sourceline import cmap

    return loader.resolve_all(cmap(data), base_uri, checklinks=False)[0]


def _safe_yaml() -> Any:
    """ruamel's safe loader, with timestamps left as strings (as schema-salad does)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor

    class _NoTimestamps(SafeConstructor):
        pass

    _NoTimestamps.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _NoTimestamps
    return yaml


def plain(value: Any) -> Any:
    """``value`` as plain dicts and lists (ruamel's commented containers deep-copy slowly)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class _ToolParser(argparse.ArgumentParser):
    """cwltool's parser of a tool's inputs, whose errors are ours to print (one line)."""

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            wrong = [w for w in message[len(prefix) :].split() if w.startswith("--")]
            known = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
            hint = did_you_mean(wrong, known)
            message += f"; {hint}" if hint else ""
        raise UsageError(f"{self.prog}: {message} (inputs given after the document)")


def _tool_arguments(
    argv: list[str], ref: ProcRef, process: Any, loader: Any
) -> tuple[dict[str, Any], str | None]:
    """Inputs given as ``--name value`` after the document (cwltool's tool parser), and
    the job file named after them, if any."""
    from cwltool.argparser import generate_parser
    from schema_salad.ref_resolver import file_uri

    namemap: dict[str, str] = {}
    records: list[str] = []
    parser = generate_parser(
        _ToolParser(prog=ref.label),
        process,
        namemap,
        records,
        False,  # a missing input is named by the validation after (with file:line:col)
        loader.fetcher.urljoin,
        file_uri(os.getcwd()) + "/",
    )
    parsed = vars(parser.parse_args(argv))
    for record in records:
        fields = {k: v for k, v in parsed.items() if k.startswith(record + "_")}
        for key in fields:
            del parsed[key]
        parsed[record] = {k[len(record) + 1 :]: v for k, v in fields.items()}
    job_file = parsed.pop("job_order", None)
    result: dict[str, Any] = plain(
        {namemap.get(k, k): v for k, v in parsed.items() if v is not None}
    )
    return result, job_file if isinstance(job_file, str) else None


def complete_job_order(
    job: dict[str, Any], process: Any, basedir: str, source: str | None = None
) -> dict[str, Any]:
    """Defaults, locations, sizes, formats and validation: the input object of the run.
    ``source``: the job file it was read from, whose ``file:line:col`` an invalid field's
    error gets (cwltool's form)."""
    from cwltool.errors import WorkflowException
    from cwltool.load_tool import jobloader_id_name
    from cwltool.process import add_sizes, shortname
    from cwltool.stdfsaccess import StdFsAccess
    from cwltool.utils import (
        adjustDirObjs,
        normalizeFilesDirs,
        path_to_loc,
        trim_listing,
        visit_files,
        visit_files_directories,
    )
    from schema_salad.exceptions import ValidationException
    from schema_salad.ref_resolver import Loader

    extra = job.pop(REQUIREMENTS_KEY, None)
    if extra:
        process.requirements.extend(extra)
    for key in ("cwl:tool", jobloader_id_name, "id"):
        job.pop(key, None)
    _warn_unknown(job, [shortname(p["id"]) for p in process.tool["inputs"]])
    for param in process.tool["inputs"]:
        if "default" in param and shortname(param["id"]) not in job:
            job[shortname(param["id"])] = copy.deepcopy(param["default"])
    namespaces = dict(job.pop("$namespaces", {}) or {})
    namespaces.update(process.metadata.get("$namespaces", {}))
    expander = Loader(namespaces)
    visit_files_directories(job, path_to_loc)
    try:
        canonical_locations(job)
    except InvalidFileUri as exc:
        raise InvalidInputs(f"the input object is not valid: {exc}") from None
    visit_files(job, functools.partial(_add_size, StdFsAccess(basedir), add_sizes))

    def expand_format(obj: Any) -> None:
        if "format" in obj:
            obj["format"] = expander.expand_url(obj["format"], "")

    visit_files(job, expand_format)
    adjustDirObjs(job, trim_listing)
    normalizeFilesDirs(job)
    try:
        return _validate(job, process, basedir)
    except (ValidationException, WorkflowException) as exc:
        text = _one_line(str(exc))
        raise InvalidInputs(
            f"the input object is not valid: {_at_field(source, text)}{text}"
        ) from None


def _warn_unknown(job: dict[str, Any], names: list[str]) -> None:
    """Say once which keys of the input object name no input (cwltool ignores them
    silently; a misspelt input name then looks like a missing one)."""
    unknown = sorted(k for k in job if k not in names and not k.startswith("$") and ":" not in k)
    if unknown:
        log.warning(
            "the input object names %s, which the process does not take (%sits inputs: %s)",
            ", ".join(repr(k) for k in unknown),
            (hint + " ")
            if (hint := did_you_mean(unknown, [n for n in names if n not in job]))
            else "",
            ", ".join(names) or "none",
        )


_FIELD = re.compile(r"^the '([^']+)' field is not valid")


def _at_field(source: str | None, text: str) -> str:
    """``FILE:LINE:COL: `` of the field ``text`` (cwltool's message) is about, in the job
    file ``source`` (read again, with positions: only on this error path); "" if unknown
    or the message already has a position."""
    match = _FIELD.match(text)
    if source is None or match is None or not os.path.isfile(source):
        return ""
    from ruamel.yaml import YAML

    try:
        with open(source, encoding="utf-8") as stream:
            data = YAML(typ="rt").load(stream)
        line, col = data.lc.key(match.group(1))
    except Exception:  # noqa: BLE001 (a position is a help, never a second error)
        return ""
    return f"{source}:{line + 1}:{col + 1}: "


def job_file_of(argv: list[str]) -> str | None:
    """The job file given first after the document (as ``load_job_order`` reads it), if
    it is a local file."""
    first = argv[0] if argv and not argv[0].startswith("-") else None
    path = _local_job_path(first) if first else None
    return path if path is not None and os.path.isfile(path) else None


def _one_line(text: str, width: int = 400) -> str:
    """cwltool's indented, many-line validation message as one line (what is past
    ``width`` characters stays, on the lines after it)."""
    lines = [line.strip() for line in text.splitlines()]
    words = " ".join(line for line in lines if line and line != "Invalid job input record:")
    if len(words) <= width:
        return words
    cut = words.rfind(" ", 0, width)
    return words[:cut] + "\n" + words[cut + 1 :]


def _add_size(fs_access: Any, add_sizes: Any, obj: dict[str, Any]) -> None:
    """cwltool's ``add_sizes``, except for a FIFO or device: its size says nothing."""
    from languages.cwl.files import is_special_file, local_path_of

    path = local_path_of(str(obj.get("location") or ""))
    if path is None or not is_special_file(path):
        add_sizes(fs_access, obj)


def _validate(job: dict[str, Any], process: Any, basedir: str) -> dict[str, Any]:
    """cwltool's own checks and completion (secondaryFiles discovery, listings)."""
    from cwltool.context import RuntimeContext

    scratch = tempfile.mkdtemp(prefix="moil-validate-")
    try:
        rc = RuntimeContext()
        rc.basedir = basedir
        rc.toplevel = True
        rc.use_container = False
        rc.outdir = rc.tmpdir = rc.stagedir = scratch
        builder = process._init_job(job, rc)
        validated = dict(builder.job)
        if process.tool.get("class") != "Workflow":
            from cwltool.utils import adjustDirObjs, trim_listing

            # the tool lists its directories itself when it runs, as cwltool's does once
            adjustDirObjs(validated, trim_listing)
        return validated
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
