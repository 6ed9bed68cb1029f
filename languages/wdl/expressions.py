"""Small helpers over miniwdl expressions: the names an expression reads, whether it only
passes a name through, and evaluation against a name -> value dict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from WDL import Error, Expr, StdLib, Tree, Type, Value

from languages.wdl.values import detach, env_to_bindings

# keyed by id(); the expression is kept so that the id stays its own (syntax nodes define
# __eq__ by source position and are not hashable)
_free: dict[int, tuple[Expr.Base, frozenset[str]]] = {}


def free_names(expr: Expr.Base) -> frozenset[str]:
    """The names (``x``, ``call.out``) the expression reads."""
    hit = _free.get(id(expr))
    if hit is not None and hit[0] is expr:
        return hit[1]
    out: set[str] = set()
    stack: list[Any] = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, Expr.Ident):
            out.add(e.name)
        stack.extend(e.children)
    names = frozenset(out)
    _free[id(expr)] = (expr, names)
    return names


def passthrough_name(expr: Expr.Base) -> str | None:
    """The name the expression is, if it is just a name (``x``, ``call.out``)."""
    if isinstance(expr, Expr.Get) and expr.member is None and isinstance(expr.expr, Expr.Ident):
        return expr.expr.name
    return None


def same_type(a: Type.Base, b: Type.Base) -> bool:
    """Whether a value of static type ``a`` needs no coercion to be a ``b``."""
    return str(a.copy(optional=False)) == str(b.copy(optional=False))


def evaluate(
    expr: Expr.Base,
    values: Mapping[str, Value.Base],
    stdlib: StdLib.Base,
    want: Type.Base | None = None,
) -> Value.Base:
    """The value of ``expr`` with ``values`` bound (coerced to ``want``), detached from the
    syntax tree. Raises miniwdl's EvalError/RuntimeError."""
    names = free_names(expr)
    env = env_to_bindings({n: values[n] for n in names if n in values})
    value = expr.eval(env, stdlib=stdlib)
    if want is not None:
        value = value.coerce(want)
    return detach(value)


def decl_order(decls: Iterable[Tree.Decl]) -> list[Tree.Decl]:
    """Declarations in an order where each comes after those it reads (source order kept
    where free). Cycles were rejected by the type checker."""
    decls = list(decls)
    by_name = {d.name: d for d in decls}
    out: list[Tree.Decl] = []
    seen: set[str] = set()

    def visit(d: Tree.Decl) -> None:
        if d.name in seen:
            return
        seen.add(d.name)
        if d.expr is not None:
            for name in sorted(free_names(d.expr)):
                if name in by_name:
                    visit(by_name[name])
        out.append(d)

    for d in decls:
        visit(d)
    return out


def describe_error(exc: BaseException) -> str:
    """An evaluation error with its place in the document, ``file:line:col: message``."""
    pos = getattr(exc, "pos", None)
    if isinstance(pos, Error.SourcePosition):
        return f"{pos.abspath or pos.uri}:{pos.line}:{pos.column}: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
