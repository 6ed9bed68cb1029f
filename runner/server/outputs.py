"""A finished run's outputs, as the engine gave them, with URLs to fetch them.

CWL: the output object ``toil-cwl-runner`` printed on stdout (the last JSON object there:
a resumed run's stdout holds every attempt's). Its File and Directory objects keep their
``location`` (a ``file:`` URI on the server's host, which a client on the same host, such
as cwltest, reads) and get ``url``, the HTTP address the server serves them at. WDL: the
outputs JSON ``toil-wdl-runner`` wrote (``--outputFile``): a map of names to values, file
paths as they are. Python: the script's stdout is not an output object; none.

With ``--dest_bucket_base``, files the run's supervisor uploaded (``exported.json``) are
named by their S3 URL: a CWL File's ``location`` (its ``path``, a file of the server's
host, dropped), a Directory's ``location`` the prefix its files went under, a WDL path
the URL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from runner.server.state import RunFiles


def read_outputs(files: RunFiles, workflow_type: str) -> dict[str, Any] | None:
    """The outputs, or None if the run wrote none (yet)."""
    if workflow_type == "WDL":
        try:
            data = json.loads((files.root / "outputs.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None
    if workflow_type == "CWL":
        try:
            text = files.stdout.read_text(errors="replace")
        except OSError:
            return None
        return last_json_object(text)
    return None


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last JSON object in ``text`` that starts at the beginning of a line."""
    decoder = json.JSONDecoder()
    position = len(text)
    while True:
        position = text.rfind("{", 0, position)
        if position < 0:
            return None
        if position == 0 or text[position - 1] == "\n":
            try:
                value, _ = decoder.raw_decode(text, position)
            except ValueError:
                pass
            else:
                if isinstance(value, dict):
                    return value
        if position == 0:
            return None


def with_urls(outputs: dict[str, Any], outdir: Path, base_url: str) -> dict[str, Any]:
    """``outputs`` with a ``url`` on each CWL File/Directory that lies in ``outdir``."""
    root = os.path.realpath(outdir)

    def visit(value: Any) -> Any:
        if isinstance(value, list):
            return [visit(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: visit(v) for k, v in value.items()}
        if out.get("class") in ("File", "Directory") and isinstance(out.get("location"), str):
            parsed = urlparse(out["location"])
            if parsed.scheme == "file":
                path = os.path.realpath(unquote(parsed.path))
                if path.startswith(root + os.sep):
                    out["url"] = f"{base_url}/{quote(os.path.relpath(path, root))}"
        return out

    return {k: visit(v) for k, v in outputs.items()}


def resolve_output(outdir: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside ``outdir`` (symlinks resolved), or None if it
    is missing or leads out of it."""
    root = os.path.realpath(outdir)
    target = os.path.realpath(os.path.join(root, relative))
    if target != root and not target.startswith(root + os.sep):
        return None
    return Path(target) if os.path.exists(target) else None


def with_exported(
    outputs: dict[str, Any], outdir: Path, exported: dict[str, str]
) -> dict[str, Any]:
    """``outputs`` with the files under ``outdir`` that were uploaded named by their URLs
    (``exported``: path relative to ``outdir`` -> URL)."""
    root = os.path.realpath(outdir)

    def relative(path: str) -> str | None:
        real = os.path.realpath(path)
        return os.path.relpath(real, root) if real.startswith(root + os.sep) else None

    def directory_url(inside: str) -> str | None:
        for rel, url in exported.items():
            if rel.startswith(inside + "/"):
                return url[: len(url) - len(rel)] + inside
        return None

    def visit(value: Any) -> Any:
        if isinstance(value, list):
            return [visit(v) for v in value]
        if isinstance(value, str) and os.path.isabs(value):
            rel = relative(value)
            return exported.get(rel, value) if rel else value
        if not isinstance(value, dict):
            return value
        out = {k: visit(v) if k != "location" else v for k, v in value.items()}
        location = out.get("location")
        if out.get("class") in ("File", "Directory") and isinstance(location, str):
            parsed = urlparse(location)
            rel = relative(unquote(parsed.path)) if parsed.scheme == "file" else None
            url = None
            if rel is not None:
                url = exported.get(rel) if out["class"] == "File" else directory_url(rel)
            if url is not None:
                out["location"] = url
                out.pop("path", None)
        return out

    return {k: visit(v) for k, v in outputs.items()}
