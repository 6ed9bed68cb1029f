"""Hints and requirements whose fields take literal values only, checked as the document
loads (Toil refuses ``arv:UsePreemptible: {usePreemptible: $(...)}`` the same way).

cwltool checks a hint against the schema only when it knows the class: it does not know
Arvados' ``UsePreemptible`` (which Toil and moil read), and a ``string`` field of its own
extensions (``cudaVersionMin``, ``shmSize``) takes ``$(inputs.x)`` as that very string.
Here such a field must be a literal of its type; an expression, or a value of another
type, makes the document invalid (the loader raises ``InvalidDocument``, exit 2, with the
file:line:col this module gives).
"""

from __future__ import annotations

from typing import Any

#: class -> {field: (accepted types, the schema's type, required)}
LITERAL_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], str, bool]]] = {
    "http://arvados.org/cwl#UsePreemptible": {"usePreemptible": ((bool,), "boolean", True)},
    "http://commonwl.org/cwltool#CUDARequirement": {
        "cudaVersionMin": ((str,), "string", False),
        "cudaComputeCapability": ((str, list), "string or string[]", False),
    },
    "http://commonwl.org/cwltool#ShmSize": {"shmSize": ((str,), "string", False)},
}
PREEMPTIBLE = "http://arvados.org/cwl#UsePreemptible"


def literal_hint_problem(process: Any) -> str | None:
    """What is wrong (file:line:col and why) with the first literal-only field of a hint
    or requirement of ``process`` (or of its steps) that holds an expression or a value of
    another type; None if none does."""
    holders = [process.tool, *(step.tool for step in getattr(process, "steps", ()))]
    for holder in holders:
        for key in ("hints", "requirements"):
            for entry in holder.get(key) or ():
                if isinstance(entry, dict) and entry.get("class") in LITERAL_FIELDS:
                    problem = _problem(entry)
                    if problem is not None:
                        return problem
    return None


def _problem(entry: dict[str, Any]) -> str | None:
    from schema_salad.sourceline import SourceLine

    name = str(entry["class"]).rsplit("#", 1)[-1]
    for field, (types, schema_type, required) in LITERAL_FIELDS[entry["class"]].items():
        if field not in entry:
            if required:
                return str(SourceLine(entry).makeError(f"{name} needs '{field}' ({schema_type})"))
            continue
        value = entry[field]
        items = value if isinstance(value, list) else [value]
        expression = any(isinstance(v, str) and ("$(" in v or "${" in v) for v in items)
        wrong_list = isinstance(value, list) and not all(isinstance(v, str) for v in value)
        if expression or not isinstance(value, types) or wrong_list:
            what = "expressions are not allowed" if expression else "the value has another type"
            return str(
                SourceLine(entry, field).makeError(
                    f"{name}.{field} takes a literal {schema_type}: {what} ({value!r})"
                )
            )
    return None


def preemptible(process: Any) -> bool:
    """Whether ``arv:UsePreemptible`` lets the process's jobs run on preemptible nodes."""
    req, _ = process.get_requirement(PREEMPTIBLE)
    return bool(req and req.get("usePreemptible") is True)
