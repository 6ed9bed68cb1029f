"""Two Toil rules of the Python job API that the documentation examples rely on: resource
keywords of wrapped functions, and a child with several parents (a DAG)."""

from __future__ import annotations

from typing import Any

from runner import Job
from runner.config.units import parse_size
from runner.model.promise import Promise


def analysis(job: Any, file_id: str, cores: float = 2, memory: str = "1G") -> Any:
    return cores, memory


def test_function_defaults_for_resources_are_the_job_requirements() -> None:
    job = Job.wrapJobFn(analysis, "id")
    assert job.cores == 2
    assert job.memory == parse_size("1G")


def test_resource_keywords_go_to_the_job_not_the_function() -> None:
    job = Job.wrapJobFn(analysis, "id", cores=0.5, memory="32M", checkpoint=True)
    assert (job.cores, job.memory, job.checkpoint) == (0.5, parse_size("32M"), True)
    # the function keeps its own defaults, as in Toil
    assert job.run(None) == (2, "1G")


def test_other_job_keywords_reach_a_function_that_takes_them() -> None:
    def named(displayName: str) -> str:  # noqa: N803 (Toil's keyword)
        return displayName

    job = Job.wrapFn(named, displayName="mine")
    assert job.run(None) == "mine"
    assert job.displayName == "named"


def test_a_child_of_two_parents_hangs_under_the_first_and_waits_for_the_other() -> None:
    root = Job()
    left, right = root.addChild(Job()), root.addChild(Job())
    last = left.addChild(Job())
    right.addChild(last)
    node = root._to_node()
    left_node, right_node = node.children
    assert [c.id for c in left_node.children] == [last.jobStoreID]
    assert right_node.children == []
    assert left_node.children[0].after == [Promise(right.jobStoreID)]
