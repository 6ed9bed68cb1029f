"""The end of a run: output files out of the job store into the output directory (hard
links), and the output JSON in Cromwell's or miniwdl's form."""

from __future__ import annotations

import json
import os
from typing import Any

from WDL import Value

from backends.jobstore.base import JobStore
from languages.wdl.values import parse_ref


class Exporter:
    """Places stored files under ``out_dir``: at their own relative path when free, else in
    a subdirectory named after their group."""

    def __init__(self, store: JobStore, out_dir: str) -> None:
        self.store = store
        self.out_dir = os.path.abspath(out_dir)
        self.placed: dict[str, str] = {}  # path -> file ID
        self.done: dict[str, str] = {}  # reference -> path

    def value(self, value: Value.Base) -> Value.Base:
        return Value.rewrite_paths(value, lambda f: self.file(f.value))

    def file(self, text: str) -> str:
        ref = parse_ref(text)
        if ref is None:
            return text
        if text in self.done:
            return self.done[text]
        dest = os.path.join(self.out_dir, ref.relpath)
        n = 0
        while dest in self.placed and self.placed[dest] != ref.file_id:
            n += 1
            sub = ref.group if n == 1 else f"{ref.group}-{n}"
            dest = os.path.join(self.out_dir, sub, ref.relpath)
        if dest not in self.placed:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.lexists(dest):
                os.unlink(dest)
            self.store.export_local(ref.file_id, dest)
            self.placed[dest] = ref.file_id
        self.done[text] = dest
        return dest


def export_outputs(
    store: JobStore,
    outputs: dict[str, Value.Base],
    out_dir: str,
    files: dict[str, str] | None = None,
) -> dict[str, Value.Base]:
    """``outputs`` with their files placed under ``out_dir`` (created if needed); ``files``,
    if given, gets each placed file's path -> stored file ID."""
    os.makedirs(out_dir, exist_ok=True)
    exporter = Exporter(store, out_dir)
    out = {name: exporter.value(v) for name, v in outputs.items()}
    if files is not None:
        files.update(exporter.placed)
    return out


def output_json(
    outputs: dict[str, Value.Base], namespace: str, dialect: str, out_dir: str
) -> dict[str, Any]:
    """The output object: Cromwell's ``{"wf.out": value}``, or miniwdl's
    ``{"outputs": {...}, "dir": out_dir}``."""
    body = {f"{namespace}.{name}": v.json for name, v in outputs.items()}
    if dialect == "miniwdl":
        return {"outputs": body, "dir": os.path.abspath(out_dir)}
    return body


def write_json(data: dict[str, Any], path: str | None) -> None:
    """Print ``data`` on stdout, or write it to ``path``."""
    text = json.dumps(data, indent=2, sort_keys=True)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text, flush=True)
