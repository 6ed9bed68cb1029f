"""The WDL standard library's writers, as the specification has them where miniwdl differs.

``install()`` extends every miniwdl standard library (the type checker's and the runtime's):

- ``File write_object(Object)`` and ``File write_objects(Array[Object])``, which miniwdl
  lacks: a TSV file whose first line holds the member names and each further line one
  object's values (WDL 1.1, "write_object"). A member value must be primitive (``Int``,
  ``Float``, ``Boolean``, ``String``, ``File``); a compound or null value, a tab or newline
  in a name or value, or (``write_objects``) objects with different member names are errors.
  An empty array gives an empty file. A ``Map[String, X]`` is accepted where an
  ``Object`` is expected (``languages.wdl.objects``).
- ``write_json(X)`` in WDL 1.1 refuses a ``Map`` whose key type is not ``String`` (also inside
  other values), as "JSON Serialization of WDL Types" says; miniwdl writes the keys as strings.
  The same section says a ``Pair`` cannot be serialized either, but the public conformance
  suite expects ``{"left": ..., "right": ...}`` (``zip``, ``cross``, ``as_pairs``: what
  Cromwell and miniwdl write), so Pairs are still written that way.
"""

from __future__ import annotations

from typing import IO, Any

from WDL import StdLib, Type, Value

from languages.wdl.values import children

_PRIMITIVE = (Value.String, Value.Int, Value.Float, Value.Boolean, Value.File)
_installed = False


def install() -> None:
    """Add the writers to miniwdl's standard library (idempotent)."""
    global _installed
    if _installed:
        return
    base_init = StdLib.Base.__init__

    def init(self: StdLib.Base, wdl_version: str, *args: Any, **kwargs: Any) -> None:
        base_init(self, wdl_version, *args, **kwargs)
        _add_writers(self)

    StdLib.Base.__init__ = init  # type: ignore[method-assign] # miniwdl's, extended
    _installed = True


def _add_writers(lib: StdLib.Base) -> None:
    lib.write_object = StdLib.StaticFunction(  # type: ignore[attr-defined]
        "write_object", [Type.Object({})], Type.File(), lib._write(_write_object)
    )
    lib.write_objects = StdLib.StaticFunction(  # type: ignore[attr-defined]
        "write_objects", [Type.Array(Type.Object({}))], Type.File(), lib._write(_write_objects)
    )
    if lib.wdl_version not in ("draft-2", "1.0"):
        write_json = getattr(lib, "write_json")  # noqa: B009 (set by miniwdl's __init__)
        assert isinstance(write_json, StdLib.StaticFunction)
        original = write_json.F

        def checked(value: Value.Base) -> Value.File:
            check_json(value)
            result: Value.File = original(value)
            return result

        write_json.F = checked


# -- write_object(s) ------------------------------------------------------------------------------
def _members(obj: Value.Base, where: str) -> dict[str, Value.Base]:
    """The members of an Object (or a struct, or a Map coerced to one)."""
    if isinstance(obj, Value.Map):
        return {str(k.coerce(Type.String()).value): v for k, v in obj.value}
    if isinstance(obj, Value.Struct):
        return dict(obj.value)
    raise ValueError(f"{where}: {obj.type} is not an Object")


def _field(text: str, what: str, where: str) -> str:
    if "\t" in text or "\n" in text or "\r" in text:
        raise ValueError(f"{where}: {what} {text!r} holds a tab or a line break")
    return text


def _row_values(members: dict[str, Value.Base], where: str) -> list[str]:
    out = []
    for name, value in members.items():
        if isinstance(value, Value.Null):
            raise TypeError(f"{where}: member {name} is null; only primitive values can be written")
        if not isinstance(value, _PRIMITIVE):
            raise TypeError(
                f"{where}: member {name} is a {value.type}; only primitive values "
                "(Int, Float, Boolean, String, File) can be written"
            )
        out.append(_field(str(value.coerce(Type.String()).value), f"the value of {name}", where))
    return out


def _tsv(rows: list[list[str]], outfile: IO[bytes]) -> None:
    outfile.write("".join("\t".join(row) + "\n" for row in rows).encode("utf-8"))


def _write_object(obj: Value.Base, outfile: IO[bytes]) -> None:
    members = _members(obj, "write_object()")
    names = [_field(n, "the member name", "write_object()") for n in members]
    _tsv([names, _row_values(members, "write_object()")], outfile)


def _write_objects(objs: Value.Base, outfile: IO[bytes]) -> None:
    assert isinstance(objs, Value.Array)
    rows: list[list[str]] = []
    names: list[str] = []
    for i, obj in enumerate(objs.value):
        where = f"write_objects(): object {i}"
        members = _members(obj, where)
        if not rows:
            names = [_field(n, "the member name", where) for n in members]
            rows.append(names)
        elif sorted(members) != sorted(names):
            raise ValueError(
                f"{where} has the members {', '.join(members)}, object 0 has {', '.join(names)}: "
                "all objects must have the same members"
            )
        rows.append(_row_values({n: members[n] for n in names}, where))
    _tsv(rows, outfile)


# -- write_json ------------------------------------------------------------------------------------
def check_json(value: Value.Base) -> None:
    """Raise ValueError if ``value`` holds what WDL 1.1 cannot write as JSON: a Map whose keys
    are not Strings (Pairs are written: see the module's docstring)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Value.Map):
            key_type = v.type.item_type[0] if isinstance(v.type, Type.Map) else Type.Any()
            if not isinstance(key_type, Type.String | Type.Any) or not all(
                isinstance(k, Value.String) for k, _ in v.value
            ):
                raise ValueError(
                    f"write_json(): a {v.type} cannot be written as JSON: WDL 1.1 writes only "
                    "Maps with String keys (make it a struct of two arrays, keys and values)"
                )
        stack.extend(children(v))
