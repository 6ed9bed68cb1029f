"""Imports flow one way: backends import only backends; runner never imports languages or
a concrete backend; languages may import runner and backends' contracts."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = {
    "backends",
    "backends.errors",
    "backends.registry",
    "backends.jobstore",
    "backends.jobstore.base",
    "backends.batch",
    "backends.batch.base",
    "backends.settings",
    "backends.urls",
}


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
    bad = [
        (f, m)
        for f, m in imports_of("backends")
        if m.split(".")[0] in ("runner", "languages", "conformance")
    ]
    assert bad == []


def test_runner_imports_no_language_and_no_concrete_backend() -> None:
    bad = [
        (f, m)
        for f, m in imports_of("runner")
        if m.split(".")[0] == "languages" or (m.split(".")[0] == "backends" and m not in CONTRACTS)
    ]
    assert bad == []


def test_languages_do_not_import_each_other() -> None:
    bad = [
        (f, m)
        for f, m in imports_of("languages")
        if m.startswith("languages.") and m.split(".")[1] != f.split("/")[1]
    ]
    assert bad == []


# -- the whole project: no import cycle, no private name taken from another module ---------
PROJECT = ("runner", "backends", "languages", "conformance", "tests", "bench")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PROJECT
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:`` (never imported when running)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out.update(id(n) for child in node.body for n in ast.walk(child))
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


class _Module:
    """What one module imports (its project modules, lazily or not) and the private names
    it takes from other project modules (``from m import _x``, ``m._x``)."""

    def __init__(self, name: str, path: Path, modules: dict[str, Path]) -> None:
        self.name = name
        self.imports: set[str] = set()
        self.private: list[str] = []
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._add(alias.name, modules)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in modules:
                        self._add(full, modules)
                        aliases[alias.asname or alias.name] = full
                        continue
                    self._add(base, modules)
                    if _private(alias.name) and base in modules and base != name:
                        self.private.append(f"from {base} import {alias.name}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and _private(node.attr)
            ):
                target = aliases.get(node.value.id)
                if target in modules and target != name:
                    self.private.append(f"{target}.{node.attr}")

    def _add(self, module: str, modules: dict[str, Path]) -> None:
        if module in modules and module != self.name:
            self.imports.add(module)


@functools.cache
def _analysed() -> dict[str, _Module]:
    modules = _project_modules()
    return {name: _Module(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_import_cycle_anywhere() -> None:
    """Imports inside functions count: a lazy import that closes a cycle still ties the two
    modules together. Imports under ``if TYPE_CHECKING:`` do not (they never run)."""
    graph = {name: module.imports for name, module in _analysed().items()}
    assert _cycles(graph) == []


def test_no_module_takes_another_modules_private_name() -> None:
    taken = {name: module.private for name, module in _analysed().items() if module.private}
    assert taken == {}


def test_the_checks_see_a_cycle_and_a_private_name(tmp_path: Path) -> None:
    """The analysis itself: a made-up pair of modules that import each other (one lazily,
    relatively) and reach for a private name."""
    (tmp_path / "a.py").write_text("from pkg.b import thing\n")
    (tmp_path / "b.py").write_text("def f():\n    from . import a\n    return a._hidden\n")
    modules = {"pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py"}
    analysed = {name: _Module(name, path, modules) for name, path in modules.items()}
    assert _cycles({n: m.imports for n, m in analysed.items()}) == [["pkg.a", "pkg.b"]]
    assert analysed["pkg.b"].private == ["pkg.a._hidden"]
    assert analysed["pkg.a"].private == []
