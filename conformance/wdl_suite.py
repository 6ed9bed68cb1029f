"""The WDL conformance suite's data: its tests, and WDL sources rewritten for another version.

``conformance.yaml`` (DataBiosphere's WDL conformance tests) lists tests as::

    - id: stdout
      description: ...
      tags: [stdout, standard_library]
      versions: ["draft-2", "1.0"]        # WDL versions the test applies to
      inputs: {dir: tests/basic_stdout, wdl: basic_stdout.wdl, json: basic_stdout.json}
      outputs: {wf.out: {type: File, value: {md5sum: ...}}}
      fail: true                          # optional: the run must fail

Paths in ``inputs`` and inside the input JSON are relative to the suite's root, which is
the working directory the suite expects runners to start in.

Each test has one WDL source, written in one version. For the other versions it applies
to, the suite's own harness rewrites the source with a few line-based rules, reproduced
(not copied) in `convert_wdl` so results stay comparable with the suite's harness:
replace the ``version`` line (draft-2 has none); for draft-2 also drop the ``input { }``
wrappers and turn ``~{`` into ``${`` inside command sections; for 1.0 and older turn
``container:`` into ``docker:`` in runtime sections.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from conformance.gate import HarnessError

WDL_VERSIONS = ("draft-2", "1.0", "1.1", "1.2", "development")
"""Every version the suite knows, oldest first."""

_VERSION_LINE = re.compile(r"^\s*version\s+(\S+)")


@dataclass(frozen=True)
class WdlCase:
    """One test of the suite (see the module docstring for the fields' meaning)."""

    id: str
    description: str
    tags: tuple[str, ...]
    versions: tuple[str, ...]
    directory: str
    wdl: str
    json: str
    outputs: dict[str, Any] = field(default_factory=dict)
    fail: bool = False


def _case_from(entry: Any, index: int, source: Path) -> WdlCase:
    where = f"{source}: test #{index + 1}"
    if not isinstance(entry, dict):
        raise HarnessError(f"{where} is not a mapping")
    try:
        inputs = entry["inputs"]
        directory = str(inputs["dir"])
        return WdlCase(
            id=str(entry["id"]),
            description=str(entry.get("description", "")).strip(),
            tags=tuple(str(tag) for tag in entry.get("tags") or ()),
            versions=tuple(str(v) for v in entry["versions"]),
            directory=directory,
            wdl=str(inputs.get("wdl", Path(directory).name + ".wdl")),
            json=str(inputs.get("json", Path(directory).name + ".json")),
            outputs=dict(entry.get("outputs") or {}),
            fail=bool(entry.get("fail", False)),
        )
    except (KeyError, TypeError) as exc:
        raise HarnessError(f"{where} lacks or mistypes {exc}") from exc


def load_suite(list_file: Path) -> list[WdlCase]:
    """Read every test of `list_file`; raises `HarnessError` on malformed data or reused ids."""
    data = YAML(typ="safe", pure=True).load(list_file.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise HarnessError(f"{list_file}: expected a list of tests")
    cases = [_case_from(entry, index, list_file) for index, entry in enumerate(data)]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise HarnessError(f"{list_file}: test id {case.id!r} is used twice")
        seen.add(case.id)
    return cases


def wdl_version_of(text: str) -> str:
    """The version a WDL source declares on its first code line (``draft-2`` if none)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _VERSION_LINE.match(line)
        return match.group(1) if match else "draft-2"
    return "draft-2"


def _older_or_same(version: str, than: str) -> bool:
    return WDL_VERSIONS.index(version) <= WDL_VERSIONS.index(than)


def _replace_version(lines: list[str], target: str) -> Iterator[str]:
    done = False
    for line in lines:
        if not done and line.strip() and not line.strip().startswith("#"):
            done = True
            if target != "draft-2":
                yield f"version {target}\n"
            if _VERSION_LINE.match(line):
                continue
        yield line


def _brace_delta(line: str) -> int:
    return line.count("{") - line.count("}")


def _drop_input_wrappers(lines: list[str]) -> Iterator[str]:
    depth = 0
    for line in lines:
        if depth == 0 and line.strip() == "input {":
            depth = 1
            continue
        if depth > 0:
            depth = max(depth + _brace_delta(line), 0)
            if depth == 0 and line.strip() == "}":
                continue  # the wrapper's closing brace
        yield line


def _draft2_commands(lines: list[str]) -> Iterator[str]:
    closer: str | None = None
    depth = 0
    for line in lines:
        stripped = line.strip()
        if closer is None:
            if stripped in ("command <<<", "command {"):
                closer = ">>>" if stripped.endswith("<<<") else "}"
                depth = 1
            yield line
            continue
        if closer == "}":
            depth += _brace_delta(line)
            ended = depth <= 0
        else:
            ended = stripped == ">>>"
        if ended:
            closer = None
        yield line if ended else line.replace("~{", "${")


def _docker_in_runtime(lines: list[str]) -> Iterator[str]:
    in_runtime = False
    for line in lines:
        stripped = line.strip()
        if not in_runtime:
            in_runtime = stripped == "runtime {"
            yield line
            continue
        if stripped == "}":
            in_runtime = False
        yield re.sub(r"^(\s*)container(\s*):", r"\1docker\2:", line)


def convert_wdl(text: str, target: str) -> str:
    """Rewrite a WDL source for version `target` (the rules are in the module docstring).

    A source already in `target` comes back unchanged.
    """
    if wdl_version_of(text) == target:
        return text
    lines = list(_replace_version(text.splitlines(keepends=True), target))
    if target == "draft-2":
        lines = list(_draft2_commands(list(_drop_input_wrappers(lines))))
    if _older_or_same(target, "1.0"):
        lines = list(_docker_in_runtime(lines))
    return "".join(lines)


def prepare_source(case: WdlCase, suite_root: Path, version: str, work: Path) -> Path:
    """Return the WDL file to run for `case` at `version`, rewriting it into `work` if needed.

    A rewritten source lives in ``work/src`` beside symlinks to the rest of the test's
    directory, so its relative imports still resolve.
    """
    test_dir = suite_root / case.directory
    original = test_dir / case.wdl
    if not original.is_file():
        raise HarnessError(f"test {case.id}: no WDL file {original}")
    text = original.read_text(encoding="utf-8")
    converted = convert_wdl(text, version)
    if converted == text:
        return original
    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    for entry in test_dir.iterdir():
        (src / entry.name).symlink_to(entry)
    target = src / f"_version_{version}_{original.name}"
    target.write_text(converted, encoding="utf-8")
    return target
