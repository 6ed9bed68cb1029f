"""Job records: each job of a run as the leader knows it and journals it.

A record's payload stays pickled bytes (with its promises listed) so the leader never
unpickles a job it only schedules. The journal's events are in ``runner.model.events``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.model.graph import JobNode
from runner.model.promise import Promise, dumps


@dataclass
class JobRecord:
    """One job as the leader knows it."""

    id: str
    executor: str
    name: str
    display_name: str
    #: pickled payload with promises left in place
    body: bytes
    #: pickled ResourceSpec (may hold PromisedRequirements)
    resources: bytes
    #: promises the job must wait for (in its body, plus ``JobNode.after``)
    needs: frozenset[Promise]
    local: bool = False
    checkpoint: bool = False
    parent: str | None = None
    #: "root", "child", "followon" or "service"
    relation: str = "root"
    children: list[str] = field(default_factory=list)
    followons: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    attempts: int = 0
    #: the node's cache keyer (``JobNode.cache``)
    cache: str = ""


def flatten(node: JobNode, parent: str | None = None, relation: str = "root") -> list[JobRecord]:
    """Records for ``node`` and everything below it, parents before children."""
    out: list[JobRecord] = []
    stack: list[tuple[JobNode, str | None, str]] = [(node, parent, relation)]
    while stack:
        current, par, rel = stack.pop()
        body, promises = dumps(current.payload)
        resources, resource_promises = dumps(current.resources)
        record = JobRecord(
            id=current.id,
            executor=current.executor,
            name=current.name,
            display_name=current.display_name or current.name,
            body=body,
            resources=resources,
            needs=promises | resource_promises | frozenset(current.after),
            local=current.local,
            checkpoint=current.checkpoint,
            parent=par,
            relation=rel,
            children=[c.id for c in current.children],
            followons=[f.id for f in current.followons],
            services=[s.id for s in current.services],
            cache=current.cache,
        )
        out.append(record)
        for kind, nodes in (
            ("followon", current.followons),
            ("child", current.children),
            ("service", current.services),
        ):
            stack.extend((n, current.id, kind) for n in reversed(nodes))
    return out
