"""The run's input object: from a YAML/JSON job file, stdin (``-``) or ``--name value``
arguments after the document, completed and validated as cwltool does before a run.

Errors: ``InvalidInputs`` (exit 1, as cwltool) names what is wrong with the inputs.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import shutil
import sys
import tempfile
from typing import Any

from languages.cwl.load import ProcRef
from languages.cwl.uris import InvalidFileUri, canonical_locations
from runner.errors import MoilError, UsageError
from runner.fileuri import file_uri_path, is_file_uri

REQUIREMENTS_KEY = "https://w3id.org/cwl/cwl#requirements"


class InvalidInputs(MoilError):
    """The input object does not fit the process's inputs (exit 1)."""


def load_job_order(argv: list[str], ref: ProcRef, process: Any) -> tuple[dict[str, Any], str]:
    """The raw input object and the directory its relative paths are relative to."""
    from cwltool import CWL_CONTENT_TYPES
    from cwltool.load_tool import jobloaderctx
    from schema_salad.ref_resolver import Loader, file_uri

    loader = Loader(copy.deepcopy(jobloaderctx))
    cwd = os.getcwd()
    job: Any = None
    basedir = cwd
    rest = argv
    if argv and argv[0] == "-":
        from schema_salad.utils import yaml_no_ts

        job, _ = loader.resolve_all(yaml_no_ts().load(sys.stdin), file_uri(cwd) + "/")
        rest = argv[1:]
    elif argv and not argv[0].startswith("-"):
        if is_file_uri(argv[0]):  # the job file as a file: URI: read it as the local file
            try:
                argv = [file_uri_path(argv[0]), *argv[1:]]
            except InvalidFileUri as exc:
                raise InvalidInputs(str(exc)) from None
        try:
            if os.path.isfile(argv[0]):
                job = _read_local_job(argv[0], loader)
            else:
                job, _ = loader.resolve_ref(
                    argv[0], checklinks=False, content_types=CWL_CONTENT_TYPES
                )
        except StopIteration:
            raise InvalidInputs(f"the input object {argv[0]} is empty; use {{}}") from None
        except Exception as exc:  # noqa: BLE001 (salad raises many kinds)
            raise InvalidInputs(f"cannot read the input object {argv[0]}: {exc}") from None
        basedir = os.path.dirname(os.path.abspath(argv[0]))
        rest = argv[1:]
    if job is not None and not isinstance(job, dict):
        raise InvalidInputs(f"the input object must be a mapping, not {type(job).__name__}")
    job = plain(job or {})
    if rest:
        job.update(_tool_arguments(rest, ref, process, loader))
    return job, basedir


def _read_local_job(path: str, loader: Any) -> Any:
    """A local job file, parsed fast (JSON, or YAML without round-trip data; a 1000-element
    list costs ruamel's round-trip parser a second), then resolved as cwltool does."""
    from schema_salad.ref_resolver import file_uri

    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    if not text.strip():
        raise StopIteration
    try:
        data = json.loads(text)
    except ValueError:
        data = _safe_yaml().load(text)
    if data is None:
        raise StopIteration
    from schema_salad.sourceline import cmap

    return loader.resolve_all(cmap(data), file_uri(os.path.abspath(path)), checklinks=False)[0]


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


def _tool_arguments(argv: list[str], ref: ProcRef, process: Any, loader: Any) -> dict[str, Any]:
    """Inputs given as ``--name value`` after the document (cwltool's tool parser)."""
    from cwltool.argparser import generate_parser
    from schema_salad.ref_resolver import file_uri

    namemap: dict[str, str] = {}
    records: list[str] = []
    parser = generate_parser(
        argparse.ArgumentParser(prog=ref.label),
        process,
        namemap,
        records,
        True,
        loader.fetcher.urljoin,
        file_uri(os.getcwd()) + "/",
    )
    try:
        parsed = vars(parser.parse_args(argv))
    except SystemExit as exc:
        raise UsageError(f"bad input arguments {' '.join(argv)}") from exc
    for record in records:
        fields = {k: v for k, v in parsed.items() if k.startswith(record + "_")}
        for key in fields:
            del parsed[key]
        parsed[record] = {k[len(record) + 1 :]: v for k, v in fields.items()}
    parsed.pop("job_order", None)
    result: dict[str, Any] = plain(
        {namemap.get(k, k): v for k, v in parsed.items() if v is not None}
    )
    return result


def complete_job_order(job: dict[str, Any], process: Any, basedir: str) -> dict[str, Any]:
    """Defaults, locations, sizes, formats and validation: the input object of the run."""
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
        raise InvalidInputs(f"the input object is not valid:\n{exc}") from None


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
