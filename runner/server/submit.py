"""``POST /runs``: a request turned into a queued run, or refused with a reason.

Steps, each of which may refuse the request (``SubmitError``: HTTP 400, or 413 for too
many bytes), leaving nothing behind:

1. the fields: ``workflow_type`` (CWL, WDL or PY, any case), ``workflow_type_version``
   (one the service lists), ``workflow_url``, and the JSON of ``workflow_params``,
   ``tags`` and ``workflow_engine_parameters``;
2. the attachments, staged in ``RUN/workflow/`` (``runner.server.staging``);
3. the workflow: a relative ``workflow_url`` names an attachment (a ``.zip`` one is
   unpacked, Toil's form); ``http(s)://`` is given to the engine as it is; a local path or
   ``file:`` URL only inside a ``--local_inputs`` directory;
4. the inputs: every ``location``/``path`` of a CWL File or Directory (and, for WDL, every
   string that is an absolute path, a ``file:`` URL or climbs with ``..``) must be a remote
   URL or lie inside the run's directory or a ``--local_inputs`` directory (symlinks
   resolved), so a request cannot read the server's files or another run's;
5. the engine options, against the allow-list (``runner.server.options``);
6. the document, validated by the engine itself (``toil-cwl-runner --validate``,
   ``toil-wdl-runner --validate``; a Python script is compiled): an invalid one is refused
   with the engine's message, ``file:line:col`` naming the attachment.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

from runner.errors import MoilError
from runner.server.config import ServerConfig
from runner.server.options import OptionError, check_engine_options
from runner.server.staging import Stager, StagingError, plan_zip, safe_relative
from runner.server.state import RunFiles

TYPE_VERSIONS = {
    "CWL": ("v1.0", "v1.1", "v1.2"),
    "WDL": ("draft-2", "1.0", "1.1"),
    "PY": ("3", "3.11", "3.12", "3.13"),
}
ENGINES = ("moil", "toil")
REMOTE_SCHEMES = ("http", "https", "ftp", "s3", "gs")
ENGINE_OUTPUT_TIMEOUT = 120.0


class SubmitError(MoilError, ValueError):
    """A request that cannot become a run; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Attachment:
    """One uploaded file of a request."""

    name: str
    stream: IO[bytes]


@dataclass
class Request:
    """The fields of a RunRequest as strings (multipart) or parsed (a JSON body)."""

    fields: dict[str, Any]
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class Accepted:
    """What a valid request gives the scheduler."""

    request: dict[str, Any]
    workflow_type: str
    argv: list[str]
    notes: list[str]


def _json_field(fields: dict[str, Any], name: str, default: Any) -> Any:
    raw = fields.get(name)
    if raw is None or raw == "":
        return default
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SubmitError(f"{name} is not valid JSON: {exc}") from None


def parse_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The RunRequest with its JSON fields parsed and checked (step 1)."""
    kind = str(fields.get("workflow_type") or "").strip().upper()
    if kind not in TYPE_VERSIONS:
        raise SubmitError(
            f"workflow_type {fields.get('workflow_type')!r} is not supported; use one of "
            + ", ".join(TYPE_VERSIONS)
        )
    version = str(fields.get("workflow_type_version") or "").strip()
    if kind == "CWL" and version and not version.startswith("v"):
        version = "v" + version
    if kind == "PY" and version:
        version = ".".join(version.split(".")[:2])
        version = version if version in TYPE_VERSIONS["PY"] else "3"
    if version not in TYPE_VERSIONS[kind]:
        raise SubmitError(
            f"workflow_type_version {fields.get('workflow_type_version')!r} is not supported "
            f"for {kind}; use one of {', '.join(TYPE_VERSIONS[kind])}"
        )
    url = str(fields.get("workflow_url") or "").strip()
    if not url:
        raise SubmitError("workflow_url is required")
    params = _json_field(fields, "workflow_params", {})
    tags = _json_field(fields, "tags", {})
    engine = _json_field(fields, "workflow_engine_parameters", {})
    for name, value in (
        ("workflow_params", params),
        ("tags", tags),
        ("workflow_engine_parameters", engine),
    ):
        if not isinstance(value, dict):
            raise SubmitError(f"{name} must be a JSON object")
    tags = {str(k): str(v) for k, v in tags.items()}
    engine_name = fields.get("workflow_engine")
    if engine_name and str(engine_name).lower() not in ENGINES:
        raise SubmitError(f"workflow_engine {engine_name!r} is not served here; use moil")
    request: dict[str, Any] = {
        "workflow_type": kind,
        "workflow_type_version": version,
        "workflow_url": url,
        "workflow_params": params,
        "tags": tags,
        "workflow_engine_parameters": {str(k): v for k, v in engine.items()},
    }
    for name in ("workflow_engine", "workflow_engine_version"):
        if fields.get(name):
            request[name] = str(fields[name])
    return request


class Confiner:
    """Says whether a local path may be read by a run (step 4)."""

    def __init__(self, run_root: Path, allowed: tuple[Path, ...]) -> None:
        self.roots = [run_root.resolve(), *(a.resolve() for a in allowed)]

    def check(self, value: str, base: Path, what: str) -> None:
        """Raise SubmitError unless ``value`` (a path or URL) is remote or inside one of
        the allowed roots."""
        parsed = urlparse(value)
        scheme = parsed.scheme.lower()
        if scheme in REMOTE_SCHEMES or value.startswith("_:"):
            return
        if scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise SubmitError(f"{what} {value!r} names another host's file")
            local = Path(unquote(parsed.path))
        elif scheme and len(scheme) > 1 and "://" in value:
            raise SubmitError(f"{what} {value!r}: the scheme {scheme}: is not supported")
        else:
            local = Path(value)  # a relative name, even one with a colon ("colon:x.txt")
        target = (base / local).resolve()
        if not any(target == root or root in target.parents for root in self.roots):
            raise SubmitError(
                f"{what} {value!r} lies outside the run: attach the file (workflow_attachment) "
                "or name a URL; the server's --local_inputs directories are readable too"
            )


_FILE_KEYS = ("location", "path")


def check_cwl_inputs(params: Any, confiner: Confiner, base: Path) -> None:
    """Every File/Directory location in CWL inputs (nested, secondaryFiles, listings)."""
    for item in _walk(params):
        if isinstance(item, dict) and item.get("class") in ("File", "Directory"):
            for key in _FILE_KEYS:
                value = item.get(key)
                if isinstance(value, str):
                    confiner.check(value, base, f"input {item.get('class')} {key}")


_CLIMB = re.compile(r"(^|/)\.\.(/|$)")


def check_wdl_inputs(params: Any, confiner: Confiner, base: Path) -> None:
    """Every WDL input string that names a local place outside the run (a WDL input
    document does not say which strings are files, so any that looks like a path is
    checked: absolute, ``file:``, or climbing with ``..``)."""
    for item in _walk(params):
        if isinstance(item, str) and (item.startswith(("/", "file:")) or _CLIMB.search(item)):
            confiner.check(item, base, "input")


def _walk(value: Any) -> Iterator[Any]:
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def engine_command(name: str) -> str:
    """The path of one of moil's commands: beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name) or name


def stage(
    request: dict[str, Any], attachments: list[Attachment], files: RunFiles, config: ServerConfig
) -> tuple[str, dict[str, Any]]:
    """Steps 2-4: the attachments written, the workflow found (a path relative to the
    run's ``workflow/`` or a URL), and the inputs (a zip's merged under the request's)."""
    url: str = request["workflow_url"]
    attachments, url = _one_file_bundle(attachments, url)
    stager = Stager(files.workflow, config.max_upload)
    for attachment in attachments:
        stager.add(attachment.name, attachment.stream)
    params: dict[str, Any] = request["workflow_params"]
    confiner = Confiner(files.root, config.local_inputs)
    parsed = urlparse(url)
    if url.split("#", 1)[0] in stager.names:
        parsed = urlparse("")  # an attachment, whatever its name looks like ("colon:x.cwl")
    if parsed.scheme.lower() in ("http", "https"):
        workflow = url
    elif parsed.scheme.lower() == "file" or url.startswith("/"):
        confiner.check(url, files.workflow, "workflow_url")
        workflow = unquote(parsed.path) if parsed.scheme else url
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise SubmitError(f"workflow_url {url!r}: the scheme {parsed.scheme}: is not supported")
    else:
        relative = str(safe_relative(url.split("#", 1)[0]))
        if relative not in stager.names:
            raise SubmitError(
                f"workflow_url {url!r} names no attachment of the request; attach the "
                "document (workflow_attachment) or give an http(s) URL"
            )
        if relative.endswith(".zip"):
            unpacked = files.workflow / "bundle"
            unpacked.mkdir(mode=0o700)
            names = Stager(unpacked, config.max_upload - stager.total).unpack_zip(
                files.workflow / relative
            )
            main, zipped = plan_zip(unpacked, names, request["workflow_type"])
            params = zipped | params
            relative = f"bundle/{main}"
        fragment = url.split("#", 1)[1] if "#" in url else ""
        workflow = str(files.workflow / relative) + (f"#{fragment}" if fragment else "")
    if request["workflow_type"] == "CWL":
        check_cwl_inputs(params, confiner, files.workflow)
    elif request["workflow_type"] == "WDL":
        check_wdl_inputs(params, confiner, files.workflow)
    return workflow, params


def _one_file_bundle(attachments: list[Attachment], url: str) -> tuple[list[Attachment], str]:
    """Toil 9.6's ``toil-wes-cwl-runner`` names its attachments after the folder all of
    them are in; when they are all the workflow itself, that folder is the file, so they
    come as ``.`` and ``workflow_url`` as ``../NAME``. Read that as the file ``NAME``."""
    if not attachments or any(a.name not in (".", "./") for a in attachments):
        return attachments, url
    name = url.split("#", 1)[0]
    if not name.startswith("../") or "/" in name[3:] or name[3:] in ("", ".", ".."):
        return attachments, url
    renamed = [Attachment(name[3:], a.stream) for a in attachments]
    return renamed, url[3:]


def build_argv(
    kind: str, workflow: str, files: RunFiles, defaults: tuple[str, ...], options: list[str]
) -> list[str]:
    """The run's command: the server's ``--opt`` defaults, the request's options, then the
    run's own places (last, so nothing before can move them)."""
    places = [
        "--jobStore",
        f"file:{files.jobstore}",
        "--workDir",
        str(files.tmp),
        "--stats",
        "--clean",
        "never",
        "--disableProgress",
    ]
    if kind == "CWL":
        return [
            engine_command("toil-cwl-runner"),
            *defaults,
            *options,
            *places,
            "--outdir",
            str(files.outdir),
            workflow,
            str(files.inputs),
        ]
    if kind == "WDL":
        return [
            engine_command("toil-wdl-runner"),
            *defaults,
            *options,
            *places,
            "--outputDirectory",
            str(files.outdir),
            "--outputFile",
            str(files.root / "outputs.json"),
            workflow,
            str(files.inputs),
        ]
    return [sys.executable, workflow, f"file:{files.jobstore}", *defaults, *options, *places[2:]]


#: validations at once: each is an engine process (~100 MiB, mostly CPU), so a burst of
#: submissions queues here instead of starting one process per request
_VALIDATIONS = asyncio.Semaphore(max(2, os.cpu_count() or 1))


async def validate(
    kind: str, workflow: str, options: list[str], files: RunFiles, timeout: float
) -> None:
    """Step 6; raises SubmitError with the engine's message for an invalid document."""
    if kind == "PY":
        _compile_script(workflow, files)
        return
    async with _VALIDATIONS:
        await _validate_with_engine(kind, workflow, options, files, timeout)


async def _validate_with_engine(
    kind: str, workflow: str, options: list[str], files: RunFiles, timeout: float
) -> None:
    command = engine_command("toil-cwl-runner" if kind == "CWL" else "toil-wdl-runner")
    wanted = [o for o in options if o.startswith(("--enable-", "--relax-", "--noQuant"))]
    process = await asyncio.create_subprocess_exec(
        command,
        "--validate",
        *wanted,
        workflow,
        cwd=str(files.root),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_validation_env(),
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SubmitError(f"the document could not be validated in {timeout:.0f} s") from None
    if process.returncode != 0:
        raise SubmitError(_engine_message(err.decode(errors="replace"), files))


def _validation_env() -> dict[str, str]:
    from runner.server.config import TOKEN_ENV

    return {k: v for k, v in os.environ.items() if k != TOKEN_ENV}


_STAMP = re.compile(r"^\[[^\]]*\]\s+(ERROR|CRITICAL|WARNING)\s+", re.MULTILINE)


def _engine_message(text: str, files: RunFiles) -> str:
    """The engine's complaint, with the run's directory taken out of paths (the user
    knows the attachments by their own names)."""
    text = _STAMP.sub("", text).strip()
    for prefix in (f"file://{files.workflow}/", f"{files.workflow}/"):
        text = text.replace(prefix, "")
    lines = [line for line in text.splitlines() if line.strip()]
    return "invalid document: " + "\n".join(lines[-40:]) if lines else "invalid document"


def _compile_script(workflow: str, files: RunFiles) -> None:
    path = Path(workflow)
    try:
        source = path.read_bytes()
        compile(source, path.name, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"{exc.filename}:{exc.lineno}:{exc.offset}"
        raise SubmitError(f"invalid document: {where}: {exc.msg}") from None
    except (OSError, ValueError) as exc:
        raise SubmitError(f"invalid document: {path.name}: {exc}") from None


def _prepare(
    request: dict[str, Any], attachments: list[Attachment], files: RunFiles, config: ServerConfig
) -> str:
    """Steps 2-4 on disk: the run's directories, files and inputs; the workflow."""
    files.workflow.mkdir(mode=0o700)
    files.tmp.mkdir(mode=0o700)
    try:
        workflow, params = stage(request, attachments, files, config)
    except StagingError as exc:
        raise SubmitError(str(exc), exc.status) from None
    with open(files.inputs, "x", encoding="utf-8") as stream:
        json.dump(params, stream)
    return workflow


async def accept(req: Request, files: RunFiles, config: ServerConfig) -> Accepted:
    """Steps 1-6 for one request; on SubmitError the run's directory is removed."""
    request = parse_fields(req.fields)
    kind = request["workflow_type"]
    try:
        options, notes = check_engine_options(kind, request["workflow_engine_parameters"])
    except OptionError as exc:
        raise SubmitError(str(exc)) from None
    files.root.mkdir(mode=0o700)
    try:
        workflow = await asyncio.to_thread(_prepare, request, req.attachments, files, config)
        await validate(kind, workflow, options, files, config.validate_timeout)
    except BaseException:
        shutil.rmtree(files.root, ignore_errors=True)
        raise
    argv = build_argv(kind, workflow, files, config.engine_options, options)
    return Accepted(request, kind, argv, notes)
