"""Type-aware comparison of a WDL runner's outputs with a conformance test's expectations.

The suite (DataBiosphere's ``conformance.yaml``) states each expected output as
``{type: T, value: V}``. ``T`` is a WDL type string (``Array[Pair[Int,Int]]``, ``File?``,
``Map[String, String]``) or, for structs and objects, a mapping of member names to types.
``V`` is the expected JSON value, except that a File is ``{md5sum: HEX}`` (of its content)
or ``{regex: RE}`` (searched in its text), and a Directory is ``{listing: [...]}`` of
``{type: File|Directory, basename, listing}`` entries, compared without regard to order.
``null`` is an absent optional value.

`compare_outputs` returns None when everything matches, else a one-paragraph reason.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

PRIMITIVES = frozenset({"Int", "Float", "Boolean", "String", "File", "Directory"})
COMPOUND_ARITY = {"Array": 1, "Map": 2, "Pair": 2}
FLOAT_REL_TOL = 1e-12
"""Floats match within this relative (and absolute) tolerance: arithmetic order may differ."""


class TypeSyntaxError(ValueError):
    """A type in the suite's data cannot be parsed."""


class Mismatch(Exception):
    """An output differs from its expectation; `path` names where (``wf.out[2].left``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class WdlType:
    """A parsed WDL type; `name` is a primitive, ``Array``/``Map``/``Pair`` or ``Struct``."""

    name: str
    params: tuple[WdlType, ...] = ()
    members: tuple[tuple[str, WdlType], ...] = ()
    optional: bool = False
    nonempty: bool = False


_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|(.))")


def _tokens(text: str) -> list[str]:
    tokens = []
    for match in _TOKEN.finditer(text):
        word, symbol = match.groups()
        token = word or symbol
        if token and not token.isspace():
            tokens.append(token)
    return tokens


def _parse_tokens(tokens: list[str], pos: int, text: str) -> tuple[WdlType, int]:
    if pos >= len(tokens) or not re.match(r"[A-Za-z_]", tokens[pos]):
        raise TypeSyntaxError(f"expected a type name in {text!r}")
    name = tokens[pos]
    pos += 1
    params: list[WdlType] = []
    if pos < len(tokens) and tokens[pos] == "[":
        pos += 1
        while True:
            param, pos = _parse_tokens(tokens, pos, text)
            params.append(param)
            if pos < len(tokens) and tokens[pos] == ",":
                pos += 1
                continue
            if pos < len(tokens) and tokens[pos] == "]":
                pos += 1
                break
            raise TypeSyntaxError(f"expected ',' or ']' in {text!r}")
    if name in COMPOUND_ARITY and len(params) != COMPOUND_ARITY[name]:
        raise TypeSyntaxError(f"{name} takes {COMPOUND_ARITY[name]} type parameter(s): {text!r}")
    if name not in COMPOUND_ARITY and (params or name not in PRIMITIVES | {"Object"}):
        raise TypeSyntaxError(f"unknown type {name!r} in {text!r}")
    optional = nonempty = False
    while pos < len(tokens) and tokens[pos] in ("?", "+"):
        optional = optional or tokens[pos] == "?"
        nonempty = nonempty or tokens[pos] == "+"
        pos += 1
    return WdlType(name, tuple(params), optional=optional, nonempty=nonempty), pos


def parse_type(spec: Any) -> WdlType:
    """Parse a type of the suite: a WDL type string, or a mapping of struct members to types.

    Raises `TypeSyntaxError` for anything else.
    """
    if isinstance(spec, Mapping):
        members = tuple((str(key), parse_type(value)) for key, value in spec.items())
        return WdlType("Struct", members=members)
    if not isinstance(spec, str):
        raise TypeSyntaxError(f"a type must be a string or a mapping, not {spec!r}")
    tokens = _tokens(spec)
    parsed, pos = _parse_tokens(tokens, 0, spec)
    if pos != len(tokens):
        raise TypeSyntaxError(f"unexpected {tokens[pos]!r} in {spec!r}")
    return parsed


def local_path(value: Any, base_dir: Path) -> Path | None:
    """The local path a runner's File/Directory output names, or None if it names none.

    Accepts a plain path (relative ones against `base_dir`) or a ``file://`` URI.
    """
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("file://"):
        return Path(unquote(urlparse(value).path))
    if "://" in value:
        return None
    path = Path(value)
    return path if path.is_absolute() else base_dir / path


def _check_file(expected: Any, actual: Any, where: str, base_dir: Path) -> None:
    path = local_path(actual, base_dir)
    if path is None or not path.is_file():
        raise Mismatch(where, f"output file {actual!r} does not exist")
    if not isinstance(expected, Mapping) or not ({"md5sum", "regex"} & set(expected)):
        raise Mismatch(where, f"expectation {expected!r} has neither 'md5sum' nor 'regex'")
    if "regex" in expected:
        pattern = expected["regex"]
        if not isinstance(pattern, str) or not pattern:
            raise Mismatch(where, "the expected regex is empty")
        text = path.read_text(encoding="utf-8", errors="replace")
        if re.search(pattern, text) is None:
            raise Mismatch(where, f"content {text[:200]!r} does not match regex {pattern!r}")
    if "md5sum" in expected:
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        if digest != str(expected["md5sum"]).lower():
            raise Mismatch(where, f"md5 {digest} of {path.name}, expected {expected['md5sum']}")


def _listing(path: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for child in sorted(path.iterdir()):
        if child.is_dir():
            entries.append(
                {"type": "Directory", "basename": child.name, "listing": _listing(child)}
            )
        else:
            entries.append({"type": "File", "basename": child.name})
    return entries


def _check_listing(expected: Any, actual: list[dict[str, Any]], where: str) -> None:
    if not isinstance(expected, list):
        raise Mismatch(where, f"expected listing {expected!r} is not a list")
    want = sorted((str(e.get("type")), str(e.get("basename"))) for e in expected)
    got = sorted((e["type"], e["basename"]) for e in actual)
    if want != got:
        raise Mismatch(where, f"listing {got}, expected {want}")
    by_name = {e["basename"]: e for e in actual}
    for entry in expected:
        if entry.get("type") == "Directory" and "listing" in entry:
            child = by_name[str(entry["basename"])]
            _check_listing(entry["listing"], child["listing"], f"{where}/{entry['basename']}")


def _check_directory(expected: Any, actual: Any, where: str, base_dir: Path) -> None:
    path = local_path(actual, base_dir)
    if path is None or not path.is_dir():
        raise Mismatch(where, f"output directory {actual!r} does not exist")
    if not isinstance(expected, Mapping):
        raise Mismatch(where, f"expectation {expected!r} of a Directory is not a mapping")
    if "basename" in expected and expected["basename"] != path.name:
        raise Mismatch(where, f"basename {path.name!r}, expected {expected['basename']!r}")
    if "listing" in expected:
        _check_listing(expected["listing"], _listing(path), where)


def _check_primitive(expected: Any, actual: Any, typ: WdlType, where: str) -> None:
    if typ.name == "Float":
        numeric = isinstance(actual, (int, float)) and not isinstance(actual, bool)
        if not numeric or not math.isclose(
            float(actual), float(expected), rel_tol=FLOAT_REL_TOL, abs_tol=FLOAT_REL_TOL
        ):
            raise Mismatch(where, f"{actual!r}, expected Float {expected!r}")
        return
    python_type = {"Int": int, "Boolean": bool, "String": str}[typ.name]
    # bool is an int in Python; an Int output of true (or a Boolean of 1) is still wrong.
    if type(actual) is not python_type or actual != expected:
        raise Mismatch(where, f"{actual!r}, expected {typ.name} {expected!r}")


def _check_keys(expected: Any, actual: Any, where: str, kind: str) -> dict[str, Any]:
    if not isinstance(actual, Mapping) or not isinstance(expected, Mapping):
        raise Mismatch(where, f"{actual!r} is not a {kind} like {expected!r}")
    got = {str(key): value for key, value in actual.items()}
    want = {str(key) for key in expected}
    if set(got) != want:
        raise Mismatch(where, f"{kind} keys {sorted(got)}, expected {sorted(want)}")
    return got


def compare_value(expected: Any, actual: Any, typ: WdlType, where: str, base_dir: Path) -> None:
    """Raise `Mismatch` unless `actual` (a runner's JSON output) meets `expected` of `typ`."""
    if expected is None or actual is None:
        if expected is not actual:
            raise Mismatch(where, f"{actual!r}, expected {expected!r}")
        return
    if typ.name == "File":
        _check_file(expected, actual, where, base_dir)
    elif typ.name == "Directory":
        _check_directory(expected, actual, where, base_dir)
    elif typ.name in ("Int", "Float", "Boolean", "String"):
        _check_primitive(expected, actual, typ, where)
    elif typ.name == "Array":
        if not isinstance(actual, list) or not isinstance(expected, list):
            raise Mismatch(where, f"{actual!r} is not an array like {expected!r}")
        if len(actual) != len(expected):
            raise Mismatch(where, f"{len(actual)} items, expected {len(expected)}: {actual!r}")
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            compare_value(want, got, typ.params[0], f"{where}[{index}]", base_dir)
    elif typ.name == "Pair":
        got = _check_keys(expected, actual, where, "pair")
        for side, side_type in zip(("left", "right"), typ.params, strict=True):
            compare_value(expected[side], got[side], side_type, f"{where}.{side}", base_dir)
    elif typ.name == "Map":
        got = _check_keys(expected, actual, where, "map")
        for key, want in expected.items():
            compare_value(want, got[str(key)], typ.params[1], f"{where}[{key!r}]", base_dir)
    elif typ.name in ("Struct", "Object"):
        got = _check_keys(expected, actual, where, "struct")
        members = dict(typ.members)
        for key, want in expected.items():
            member_type = members.get(str(key))
            if member_type is None:
                raise Mismatch(where, f"member {key!r} has no type in the expectation")
            compare_value(want, got[str(key)], member_type, f"{where}.{key}", base_dir)
    else:
        raise Mismatch(where, f"cannot compare values of type {typ.name}")


def compare_outputs(
    expected: Mapping[str, Any], actual: Mapping[str, Any], base_dir: Path
) -> str | None:
    """Compare a runner's ``{"wf.out": value}`` with the test's expected outputs.

    Every expected output must be present and match; an output the test does not expect is a
    mismatch too. Relative file paths resolve against `base_dir` (the runner's working
    directory). Returns None on a match, else the first difference found.
    """
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing or extra:
        return f"outputs differ: missing {missing}, unexpected {extra}"
    for name in sorted(expected):
        spec = expected[name]
        if not isinstance(spec, Mapping) or "type" not in spec or "value" not in spec:
            return f"{name}: the test's expectation needs 'type' and 'value'"
        try:
            typ = parse_type(spec["type"])
            compare_value(spec["value"], actual[name], typ, name, base_dir)
        except TypeSyntaxError as exc:
            return f"{name}: bad type in the test: {exc}"
        except Mismatch as exc:
            return str(exc)
    return None


def expand_vars(value: Any, variables: Mapping[str, str]) -> Any:
    """Replace ``${NAME}``/``$NAME`` of `variables` in every string inside `value`.

    The suite writes ``${WDL_DIR}`` for the directory tests run from.
    """
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            return variables.get(name, match.group(0))

        return re.sub(r"\$(?:\{(\w+)\}|(\w+))", substitute, value)
    if isinstance(value, list):
        return [expand_vars(item, variables) for item in value]
    if isinstance(value, Mapping):
        return {key: expand_vars(item, variables) for key, item in value.items()}
    return value


def output_map(document: Any) -> dict[str, Any] | None:
    """Extract ``{"wf.out": value}`` from a runner's output JSON, or None if there is none.

    Accepts the plain Cromwell-style map and miniwdl's ``{"outputs": {...}, "dir": ...}``.
    """
    if not isinstance(document, dict):
        return None
    inner = document.get("outputs")
    # miniwdl nests the map; a workflow's own outputs always have a dotted name.
    if isinstance(inner, dict) and all("." not in key for key in document):
        return dict(inner)
    return dict(document)


__all__ = [
    "Mismatch",
    "TypeSyntaxError",
    "WdlType",
    "compare_outputs",
    "compare_value",
    "expand_vars",
    "local_path",
    "output_map",
    "parse_type",
]
