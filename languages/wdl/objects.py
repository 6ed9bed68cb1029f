"""WDL's ``Object`` type (draft-2 and 1.0; deprecated in 1.1), which miniwdl does not declare.

miniwdl parses ``object { a: 1, b: "x" }`` literals and gives them its transient
``Type.Object``, but reads the type name ``Object`` in a declaration as a struct nobody
defined ("Unknown type Object"). ``install()`` teaches miniwdl what the specification means
by an Object: a value with named members whose types are known only at run time.

- The type name ``Object`` parses as ``Type.Object`` (it is a type keyword of the draft-2,
  1.0 and 1.1 grammars, so no struct can take the name). miniwdl then accepts an object
  literal or a struct value where an Object is declared, and keeps the members.
- A ``Map[String, X]`` (what ``read_object`` and ``read_map`` give) coerces to an Object,
  each key becoming a member.
- An Object input's JSON is an object whose values give the members their types (numbers,
  strings, lists, nested objects; a file path is a String, as in any untyped JSON).
- ``o.member`` on an Object has the member's type when the object's members are known (an
  object literal) and is checked at run time otherwise; a member the value lacks is an error
  that names it.

An Object's JSON is the mapping of its members, as Cromwell writes it.
"""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    """Teach miniwdl the ``Object`` type (idempotent)."""
    global _installed
    if _installed:
        return
    _parse_object_type()
    _map_to_object()
    _object_from_json()
    _object_members()
    _installed = True


def _parse_object_type() -> None:
    import lark
    from WDL import Type, _parser

    # the class's methods are lark v_args(meta=True) wrappers: wrap ours the same way
    parse_type = _parser._DocTransformer.__dict__["type"].base_func

    def type_with_object(self: Any, meta: Any, items: Any) -> Type.Base:
        ans: Type.Base = parse_type(self, meta, items)
        if isinstance(ans, Type.StructInstance) and ans.type_name == "Object":
            obj = Type.Object({})
            obj._optional = ans.optional
            obj.pos = ans.pos
            return obj
        return ans

    _parser._DocTransformer.type = lark.v_args(meta=True)(  # type: ignore[method-assign]
        type_with_object  # miniwdl's, extended
    )


def _map_to_object() -> None:
    from WDL import Type, Value

    map_check = Type.Map.check

    def check(self: Type.Map, rhs: Type.Base, check_quant: bool = True) -> None:
        if isinstance(rhs, Type.Object) and self.item_type[0].coerces(Type.String()):
            return self._check_optional(rhs, check_quant)
        return map_check(self, rhs, check_quant)

    Type.Map.check = check  # type: ignore[method-assign] # miniwdl's, extended

    map_coerce = Value.Map.coerce

    def coerce(self: Value.Map, desired_type: Type.Base | None = None) -> Value.Base:
        if isinstance(desired_type, Type.Object):
            members = {str(k.coerce(Type.String()).value): v for k, v in self.value}
            member_types = {k: v.type for k, v in members.items()}
            return Value.Struct(Type.Object(member_types), members, self.expr)
        return map_coerce(self, desired_type)

    Value.Map.coerce = coerce  # type: ignore[method-assign] # miniwdl's, extended


def _object_from_json() -> None:
    from WDL import Type, Value

    from_json = Value.from_json

    def object_from_json(type: Type.Base, value: Any) -> Value.Base:
        if isinstance(type, Type.Object) and isinstance(value, dict):
            return Value._infer_from_json(value)
        return from_json(type, value)

    Value.from_json = object_from_json


def _object_members() -> None:
    from WDL import Env, Error, Expr, Type, Value

    infer = Expr.Get._infer_type

    def infer_type(self: Expr.Get, type_env: Env.Bindings[Type.Base]) -> Type.Base:
        try:
            return infer(self, type_env)
        except Error.NoSuchMember:
            inner = getattr(self.expr, "_type", None)
            if not isinstance(inner, Type.Object) or self.member is None:
                raise
            # an Object's members are known only at run time unless it is a literal
            return inner.members.get(self.member) or Type.Any()

    Expr.Get._infer_type = infer_type  # type: ignore[method-assign] # miniwdl's, extended

    evaluate = Expr.Get._eval

    def eval_get(self: Expr.Get, env: Env.Bindings[Value.Base], stdlib: Any) -> Value.Base:
        if self.member and isinstance(getattr(self.expr, "_type", None), Type.Object):
            value = self.expr.eval(env, stdlib)
            if isinstance(value, Value.Struct) and self.member not in value.value:
                raise Error.EvalError(self, f"the Object has no member {self.member!r}")
        return evaluate(self, env, stdlib)

    Expr.Get._eval = eval_get  # type: ignore[method-assign] # miniwdl's, extended
