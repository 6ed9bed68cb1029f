"""The job graph as front ends build it: nodes, their structure, and promises between them.

A ``JobNode`` is one unit of work. Its ``executor`` is a ``"module:function"`` path called
as ``function(ctx, payload)`` with the payload's promises replaced by their values; what it
returns becomes the node's return value (``node.rv()``). The return value may itself hold
promises (for example the ``rv()`` of children the executor added): the node's own promises
then resolve once those do. This is how gathers, conditionals and subgraphs work without
special cases in the core:

- *work* node: ``local=False``; runs in a worker of the batch system.
- *expression* node: ``local=True``; cheap, run by the leader itself.
- *scatter* node: a local node whose executor adds one child per element and returns the
  list of the children's promises (the gather); the front ends make them
  (``languages.cwl.scatter``, ``languages.wdl.nodes``).
- *conditional* node: a local node that evaluates the condition, then adds the guarded node
  as a child and returns its promise, or returns the value for "skipped".
- *subgraph* node: a local node that builds the nodes of a subworkflow as children and
  returns a structure of their promises.

Structure (Toil's semantics): a child runs after its parent has run; a follow-on runs after
its parent and all the parent's children (with everything they added) are done. On top of
that a node runs only when every promise in its payload and resources has a value.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from backends.batch.base import Resources
from runner.model.promise import Promise, PromisedRequirement

if TYPE_CHECKING:
    import logging

    from runner.config.runconfig import RunConfig
    from runner.jobenv.filestore import FileStore


def new_job_id() -> str:
    """A fresh globally unique job ID (no coordination between hosts needed)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ResourceSpec:
    """Resource needs as given; each field may be a PromisedRequirement."""

    cores: float | PromisedRequirement | None = None
    memory: int | PromisedRequirement | None = None
    disk: int | PromisedRequirement | None = None
    accelerators: tuple[Any, ...] = ()
    preemptible: bool = False

    def resolve(self, defaults: Resources) -> Resources:
        """Concrete resources, with defaults for what was not given (promises resolved)."""

        def val(v: Any, default: Any) -> Any:
            if isinstance(v, PromisedRequirement):
                v = v.evaluate()
            return default if v is None else v

        from runner.config.units import parse_size

        return Resources(
            cores=float(val(self.cores, defaults.cores)),
            memory=parse_size(val(self.memory, defaults.memory)),
            disk=parse_size(val(self.disk, defaults.disk)),
            accelerators=tuple(self.accelerators) or defaults.accelerators,
            preemptible=self.preemptible or defaults.preemptible,
            default_memory=self.memory is None,
        )


@dataclass(eq=False)
class JobNode:
    """One node of the graph, before the leader takes it over."""

    executor: str
    payload: Any = None
    name: str = "job"
    display_name: str = ""
    resources: ResourceSpec = field(default_factory=ResourceSpec)
    local: bool = False
    checkpoint: bool = False
    id: str = field(default_factory=new_job_id)
    children: list[JobNode] = field(default_factory=list)
    followons: list[JobNode] = field(default_factory=list)
    services: list[JobNode] = field(default_factory=list)
    #: Extra promises the node must wait for although its payload does not hold them.
    after: list[Promise] = field(default_factory=list)
    #: ``"module:attribute"`` of the node's cache keyer (``runner.cache.keys.Keyer``), or
    #: "" for a node whose result is never reused from a cache
    cache: str = ""

    def rv(self, *path: Any) -> Promise:
        """A promise of this node's return value (indexed by ``path``)."""
        return Promise(self.id, tuple(path))

    def add_child(self, node: JobNode) -> JobNode:
        self.children.append(node)
        return node

    def add_followon(self, node: JobNode) -> JobNode:
        self.followons.append(node)
        return node


class JobContext(Protocol):
    """What an executor gets besides its payload."""

    job_id: str
    name: str
    file_store: FileStore
    log: logging.Logger
    #: The run's configuration (``config.frontend``: the front end's own settings).
    config: RunConfig

    def add_child(self, node: JobNode) -> JobNode:
        """Add a node that runs after this one (may use this one's promises)."""
        ...

    def add_followon(self, node: JobNode) -> JobNode:
        """Add a node that runs after this one and all its children."""
        ...
