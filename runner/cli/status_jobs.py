"""``toil status``'s views of single jobs (Toil's ``--perJob``, ``--children``, ``--dot``,
restricted by ``--jobs``), from a replay of the run's journal (read only). When one of them
is asked for, ``toil status`` prints only them, so that ``toil status --dot JOBSTORE | dot
-Tsvg`` works.

Every job of the run is listed (Toil lists the jobs still in its store, which are the
unfinished ones; moil keeps every job's record, so finished ones are shown with their state).
A job is named ``NAME ID`` as elsewhere in moil's output. Its state is one of ``done``,
``running``, ``issued``, ``ready``, ``waiting``, ``failed``; what a live leader issued is
known from its summary (``RunView.issued``).

Formats (Toil's keys, tab-separated):

- ``--perJob``: ``JOB:NAME ID  STATE:s  FAILED_ATTEMPTS:n  TRYS_REMAINING:n  CHILD_NUMBER:n
  [LOG_FILE:where]`` (tries left: 0 for a job failed for good)
- ``--children``: ``CHILDREN_OF_JOB:NAME ID`` then ``(CHILD_JOB:NAME ID,PRECEDENCE:p)`` per
  successor: ``p`` is 0 for a child, 1 for a follow-on, 2 for a service (the phase in which
  it runs after its parent's body)
- ``--dot``: a Graphviz ``digraph`` with a node per job (label ``NAME display name``; green
  done, blue running or issued, red failed, black otherwise) and an edge per successor
  labelled with its precedence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from backends.jobstore.base import JobStore
from runner.model.state import Status
from runner.views.runview import RunView

PRECEDENCE = {"child": 0, "followon": 1, "service": 2}
_STATE = {
    Status.RAN: "done",
    Status.ISSUED: "issued",
    Status.READY: "ready",
    Status.WAITING: "waiting",
    Status.FAILED: "failed",
}
_COLOUR = {"done": "green", "running": "blue", "issued": "blue", "failed": "red"}


@dataclass
class JobLine:
    """One job as these views show it."""

    id: str
    name: str
    display_name: str
    state: str
    #: attempts that failed, and attempts it may still make (0 once failed for good)
    failures: int
    tries_left: int
    #: (successor ID, precedence), in the order the job made them
    successors: list[tuple[str, int]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name} {self.id}"


def job_lines(store: JobStore, view: RunView, retry_count: int) -> dict[str, JobLine]:
    """Every job of the run in ``store``, by ID, in the order the run made them."""
    from runner.engine.journal import replay

    state = replay(store, retry_count)
    issued = {job.id: ("running" if job.running else "issued") for job in view.issued}
    lines: dict[str, JobLine] = {}
    for job_id, job in state.jobs.items():
        record = job.record
        if job_id in state.failed:
            where = "failed"
        elif job_id in issued and job.status is not Status.RAN:
            where = issued[job_id]
        else:
            where = _STATE[job.status]
        failures = record.attempts + (where == "failed")
        left = 0 if where == "failed" else max(0, retry_count + 1 - failures)
        lines[job_id] = JobLine(job_id, record.name, record.display_name, where, failures, left)
    for job_id, job in state.jobs.items():
        parent = job.record.parent
        if parent in lines:
            lines[parent].successors.append((job_id, PRECEDENCE.get(job.record.relation, 0)))
    return lines


def select(lines: dict[str, JobLine], wanted: Iterable[str]) -> tuple[list[JobLine], list[str]]:
    """The jobs ``wanted`` names (IDs, unique ID prefixes or job names; all jobs if none),
    and the names that match no job."""
    wanted = list(wanted)
    if not wanted:
        return list(lines.values()), []
    chosen: dict[str, JobLine] = {}
    unknown = []
    for name in wanted:
        found = [
            line
            for line in lines.values()
            if line.id == name or line.name == name or line.display_name == name
        ]
        if not found:
            found = [line for line in lines.values() if line.id.startswith(name)]
        if not found:
            unknown.append(name)
        chosen.update((line.id, line) for line in found)
    return list(chosen.values()), unknown


def print_per_job(jobs: list[JobLine], store: JobStore) -> None:
    for job in jobs:
        parts = [
            f"JOB:{job.label}",
            f"STATE:{job.state}",
            f"FAILED_ATTEMPTS:{job.failures}",
            f"TRYS_REMAINING:{job.tries_left}",
            f"CHILD_NUMBER:{len(job.successors)}",
        ]
        if store.read_job_log(job.id):
            parts.append(f"LOG_FILE:{store.job_log_location(job.id)}")
        print("\t".join(parts))


def print_children(jobs: list[JobLine], lines: dict[str, JobLine]) -> None:
    for job in jobs:
        text = f"CHILDREN_OF_JOB:{job.label} "
        for child, level in job.successors:
            text += f"\t(CHILD_JOB:{lines[child].label},PRECEDENCE:{level})"
        print(text)


def print_dot(jobs: list[JobLine], locator: str) -> None:
    """The Graphviz graph of ``jobs`` and the edges between them."""
    shown = {job.id for job in jobs}
    print("digraph toil_graph {")
    print(f"# This graph was created from job-store: {locator}")
    for job in jobs:
        label = f"{job.name} {job.display_name}".replace("\\", "\\\\").replace('"', '\\"')
        colour = _COLOUR.get(job.state, "black")
        print(f'{_node(job.id)} [label="{label}" color="{colour}"];')
    for job in jobs:
        for child, level in job.successors:
            if child in shown:
                print(f'{_node(job.id)} -> {_node(child)} [label="{level}"];')
    print("}")


def _node(job_id: str) -> str:
    return "j_" + "".join(c if c.isalnum() else "_" for c in job_id)
