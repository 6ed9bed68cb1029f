"""Imports flow one way: backends import only backends; runner never imports languages or
a concrete backend; languages may import runner and backends' contracts."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = {"backends", "backends.errors", "backends.registry", "backends.jobstore",
             "backends.jobstore.base", "backends.batch", "backends.batch.base",
             "backends.settings", "backends.urls"}


def imports_of(package: str) -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for item in ast.walk(tree):
            if isinstance(item, ast.Import):
                out += [(str(path.relative_to(ROOT)), a.name) for a in item.names]
            elif isinstance(item, ast.ImportFrom) and item.module and item.level == 0:
                out.append((str(path.relative_to(ROOT)), item.module))
    return out


def test_backends_import_only_backends() -> None:
    bad = [(f, m) for f, m in imports_of("backends")
           if m.split(".")[0] in ("runner", "languages", "conformance")]
    assert bad == []


def test_runner_imports_no_language_and_no_concrete_backend() -> None:
    bad = [(f, m) for f, m in imports_of("runner")
           if m.split(".")[0] == "languages"
           or (m.split(".")[0] == "backends" and m not in CONTRACTS)]
    assert bad == []


def test_languages_do_not_import_each_other() -> None:
    bad = [(f, m) for f, m in imports_of("languages")
           if m.startswith("languages.") and m.split(".")[1] != f.split("/")[1]]
    assert bad == []
