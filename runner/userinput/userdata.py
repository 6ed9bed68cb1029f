"""What is wrong with a user's file, said in one line: a value read from an input file
(JSON or YAML) too deep or too big to take, bytes that are not text.

A value nested hundreds of levels deep makes the recursive code of the libraries that
read inputs (schema-salad, cwltool, miniwdl) fail with RecursionError, and a few lines of
YAML aliases can stand for billions of values (the "billion laughs"), or for a value that
contains itself: each would otherwise end in a traceback, or in a run that never starts.
``shape_problem`` finds these without recursion, in time linear in the distinct values.
"""

from __future__ import annotations

from typing import Any

#: deepest nesting of lists and mappings taken (cwltool's own inputs nest a few levels)
MAX_DEPTH = 100
#: most values taken, counting a YAML alias each time it is used
MAX_VALUES = 10_000_000


def shape_problem(value: Any) -> str | None:
    """Why ``value`` (dicts, lists and scalars as a JSON/YAML parser gives them) cannot be
    taken as inputs, as the end of a sentence ("is nested more than 100 levels deep
    under 'x'"); None if it can.

    A walk level by level finds the depth (a tree, as JSON always gives, is seen once);
    only a value that holds the same list or mapping twice (YAML aliases) is walked again
    to count what the aliases expand to and to find one that contains itself."""
    if not isinstance(value, dict | list):
        return None
    seen = {id(value)}
    shared = False
    for name, top in value.items() if isinstance(value, dict) else enumerate(value):
        if not isinstance(top, dict | list):
            continue
        if id(top) in seen:
            shared = True
            continue
        seen.add(id(top))
        level = [top]
        for _ in range(MAX_DEPTH - 1):
            below = []
            for node in level:
                for child in node.values() if isinstance(node, dict) else node:
                    if isinstance(child, dict | list):
                        if id(child) in seen:
                            shared = True
                        else:
                            seen.add(id(child))
                            below.append(child)
            if not below:
                break
            level = below
        else:
            return f"is nested more than {MAX_DEPTH} levels deep under {name!r}"
    return _expansion_problem(value) if shared else None


def _expansion_problem(value: Any) -> str | None:
    """The count of values with every alias expanded, depth first with an explicit stack
    (each distinct list or mapping is counted once and its count reused)."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, closing = stack.pop()
        children = list(node.values() if isinstance(node, dict) else node)
        if closing:
            open_nodes.discard(id(node))
            size[id(node)] = 1 + sum(size.get(id(c), 1) for c in children)
            if size[id(node)] > MAX_VALUES:
                return f"holds more than {MAX_VALUES} values (a YAML alias counts each time)"
            continue
        if id(node) in size:
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if isinstance(child, dict | list):
                if id(child) in open_nodes:
                    return "contains itself (a recursive YAML alias)"
                stack.append((child, False))
    return None


def not_text(exc: UnicodeDecodeError) -> str:
    """What a UnicodeDecodeError says of a user's file, as the end of a sentence."""
    return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"


def syntax_error(where: str, exc: Exception) -> str:
    """One line for a JSON/YAML file (or string) that does not parse: ``WHERE:LINE:COL:
    not valid JSON (nor YAML): what`` (the position where the YAML parser gives one)."""
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or exc).strip().splitlines()
    if mark is not None:
        where += f":{mark.line + 1}:{mark.column + 1}"
    return f"{where}: not valid JSON (nor YAML): {problem[0] if problem else type(exc).__name__}"
