"""A request's files put inside its run's directory, and nothing outside it.

Attachments (``workflow_attachment`` parts) are written under ``RUN/workflow/`` by their
relative names: an absolute name, a ``..`` component, a NUL, a name used twice, or one
that would pass through a file are refused (``StagingError``, HTTP 400). Every directory
and file is created by this module with ``O_EXCL | O_NOFOLLOW``, and no symlink is ever
made, so nothing can lead out of the directory. All attachments of a request together may
hold at most ``limit`` bytes (HTTP 413 beyond).

A zip given as ``workflow_url`` (Toil's form, from the Amazon Genomics CLI) is unpacked
the same way: symlink entries are refused, and its unpacked size counts against the same
limit (a zip bomb stops at the limit). Inside it, ``MANIFEST.json`` names the workflow
(``mainWorkflowURL``) and input files (``inputFileURLs``, merged in order); without one, a
zip of one file is that workflow, else ``main.<type>`` is, with ``inputs*.json`` merged.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO, Any

from runner.errors import MoilError

CHUNK = 1 << 20
RESERVED = ".moil-wes-inputs.json"


class StagingError(MoilError, ValueError):
    """A request's file cannot be staged (the message says which and why)."""

    status = 400


class TooLarge(StagingError):
    """The request's files exceed the server's limit."""

    status = 413


def safe_relative(name: str) -> PurePosixPath:
    """``name`` as a relative path with no ``..``; raises StagingError otherwise."""
    if not name or "\x00" in name or "\\" in name:
        raise StagingError(f"attachment name {name!r} is not allowed")
    path = PurePosixPath(name)
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or ".." in parts or not parts:
        raise StagingError(
            f"attachment name {name!r} must be a relative path inside the run (no '..', "
            "not absolute)"
        )
    if parts == [RESERVED]:
        raise StagingError(f"attachment name {name!r} is reserved for the run's inputs")
    return PurePosixPath(*parts)


class Stager:
    """Writes one request's files under ``root`` (which must exist and be empty)."""

    def __init__(self, root: Path, limit: int) -> None:
        self.root = root
        self.limit = limit
        self.total = 0
        self.names: set[str] = set()

    def add(self, name: str, source: IO[bytes]) -> Path:
        """Write ``source`` as ``name`` (see the module docstring); the path written."""
        relative = safe_relative(name)
        if str(relative) in self.names:
            self._same_again(name, self.root / relative, source)
            return self.root / relative
        self.names.add(str(relative))
        target = self._make_parents(relative)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            raise StagingError(f"attachment {name!r} collides with another one") from None
        except (IsADirectoryError, NotADirectoryError):
            raise StagingError(f"attachment {name!r} collides with another one") from None
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                self._count(len(chunk))
                out.write(chunk)
        return target

    def _same_again(self, name: str, existing: Path, source: IO[bytes]) -> None:
        """A name given twice is fine with the same bytes (clients list a workflow among
        its own dependencies), refused with others."""
        with open(existing, "rb") as first:
            while chunk := source.read(CHUNK):
                self._count(len(chunk))
                if first.read(len(chunk)) != chunk:
                    raise StagingError(f"attachment {name!r} is given twice, with other bytes")
            if first.read(1):
                raise StagingError(f"attachment {name!r} is given twice, with other bytes")

    def _count(self, size: int) -> None:
        self.total += size
        if self.total > self.limit:
            raise TooLarge(f"the request's files exceed the server's limit of {self.limit} bytes")

    def _make_parents(self, relative: PurePosixPath) -> Path:
        current = self.root
        for part in relative.parts[:-1]:
            current = current / part
            try:
                os.mkdir(current, 0o700)
            except FileExistsError:
                mode = os.lstat(current).st_mode
                if not stat.S_ISDIR(mode):
                    raise StagingError(
                        f"attachment {relative}: {part} is a file, not a directory"
                    ) from None
        return current / relative.parts[-1]

    def unpack_zip(self, archive: Path) -> list[str]:
        """Unpack ``archive`` into the root; the names it held. Raises StagingError for an
        entry that is a symlink, leaves the directory, or is not a valid zip."""
        names: list[str] = []
        try:
            with zipfile.ZipFile(archive) as bundle:
                for info in bundle.infolist():
                    if stat.S_ISLNK(info.external_attr >> 16):
                        raise StagingError(f"zip entry {info.filename!r} is a symlink")
                    if info.is_dir():
                        self._make_parents(safe_relative(info.filename) / "x")
                        continue
                    with bundle.open(info) as source:
                        self.add(info.filename, source)
                    names.append(str(safe_relative(info.filename)))
        except zipfile.BadZipFile as exc:
            raise StagingError(f"workflow zip {archive.name}: {exc}") from None
        return names


def plan_zip(root: Path, names: list[str], workflow_type: str) -> tuple[str, dict[str, Any]]:
    """The workflow file (relative to ``root``) and the inputs merged from a zip's
    manifest or its ``inputs*.json`` files."""
    ext = {"CWL": "cwl", "WDL": "wdl", "PY": "py"}[workflow_type]
    if "MANIFEST.json" in names:
        manifest = _read_json(root / "MANIFEST.json", "MANIFEST.json")
        main = manifest.get("mainWorkflowURL")
        if not isinstance(main, str) or str(safe_relative(main)) not in names:
            raise StagingError("MANIFEST.json: mainWorkflowURL must name a file of the zip")
        inputs = manifest.get("inputFileURLs") or []
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise StagingError("MANIFEST.json: inputFileURLs must be a list of file names")
        return str(safe_relative(main)), _merge(root, inputs, names)
    if len(names) == 1:
        return names[0], {}
    if f"main.{ext}" not in names:
        raise StagingError(f"the zip holds no MANIFEST.json and no main.{ext}")
    inputs = sorted(
        n for n in names if "/" not in n and n.startswith("inputs") and n.endswith(".json")
    )
    return f"main.{ext}", _merge(root, inputs, names)


def _merge(root: Path, inputs: Iterable[str], names: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in inputs:
        relative = str(safe_relative(name))
        if relative not in names:
            raise StagingError(f"zip: input file {name!r} is not in the zip")
        data = _read_json(root / relative, relative)
        merged.update(data)
    return merged


def _read_json(path: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StagingError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise StagingError(f"{name} must hold a JSON object")
    return data
