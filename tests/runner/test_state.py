"""The pure state machine, driven by hand: no processes, no store."""

from __future__ import annotations

from runner.model.events import (
    AttemptFailed,
    CheckpointReset,
    JobFailed,
    JobRan,
    RunStarted,
    ServiceStarted,
)
from runner.model.graph import JobNode
from runner.model.promise import dumps
from runner.model.records import flatten
from runner.model.state import StateMachine, Status


def node(name: str, payload: object = None, **kw: object) -> JobNode:
    return JobNode(executor="x:y", payload=payload, name=name, **kw)  # type: ignore[arg-type]


def names(sm: StateMachine, ids: list[str]) -> list[str]:
    return sorted(sm.record(i).name for i in ids)


def finish(
    sm: StateMachine,
    job_id: str,
    value: object = None,
    new: list[JobNode] = (),
    relation: str = "child",
) -> None:
    data, promises = dumps(value)
    records = [r for n in new for r in flatten(n, job_id, relation)]
    sm.apply(JobRan(job_id, data, promises, tuple(records)))


def start(sm: StateMachine, root: JobNode) -> None:
    sm.apply(RunStarted(tuple(flatten(root)), root.id))


def attempt_failed(sm: StateMachine, job_id: str) -> bool:
    """What the leader does for a failed attempt: True if it is retried."""
    if not sm.can_retry(job_id):
        return False
    sm.apply(AttemptFailed(job_id, sm.record(job_id).attempts + 1))
    return True


def failed_for_good(sm: StateMachine, job_id: str, message: str) -> str | None:
    """What the leader does for a job with no retry left: the checkpoint that reruns."""
    checkpoint = sm.checkpoint_to_rerun(job_id)
    if checkpoint is not None:
        sm.apply(CheckpointReset(checkpoint))
    else:
        sm.apply(JobFailed(job_id, message))
    return checkpoint


def test_children_wait_for_parent_and_followons_for_children() -> None:
    root, a, b, f = node("root"), node("a"), node("b"), node("f")
    root.add_child(a)
    root.add_child(b)
    root.add_followon(f)
    sm = StateMachine()
    start(sm, root)
    assert names(sm, sm.take_ready()) == ["root"]
    finish(sm, root.id)
    assert names(sm, sm.take_ready()) == ["a", "b"]
    finish(sm, a.id)
    assert sm.take_ready() == []
    finish(sm, b.id)
    assert names(sm, sm.take_ready()) == ["f"]
    finish(sm, f.id, 7)
    assert sm.is_done(root.id)
    assert sm.succeeded()


def test_followon_waits_for_grandchildren_added_at_run_time() -> None:
    root, a, f = node("root"), node("a"), node("f")
    root.add_child(a)
    root.add_followon(f)
    sm = StateMachine()
    start(sm, root)
    sm.take_ready()
    finish(sm, root.id)
    sm.take_ready()
    grandchild = node("g")
    finish(sm, a.id, new=[grandchild])
    assert names(sm, sm.take_ready()) == ["g"]
    finish(sm, grandchild.id)
    assert names(sm, sm.take_ready()) == ["f"]


def test_promise_in_payload_delays_a_job_until_the_value_exists() -> None:
    root = node("root")
    producer = root.add_child(node("producer"))
    consumer = root.add_child(node("consumer", payload={"x": producer.rv("k")}))
    sm = StateMachine()
    start(sm, root)
    sm.take_ready()
    finish(sm, root.id)
    assert names(sm, sm.take_ready()) == ["producer"]
    finish(sm, producer.id, {"k": [1, 2]})
    assert names(sm, sm.take_ready()) == ["consumer"]
    assert sm.inputs_of(consumer.id) == {producer.rv("k"): [1, 2]}


def test_returned_promises_forward_the_childrens_values() -> None:
    root = node("root")
    sm = StateMachine()
    start(sm, root)
    sm.take_ready()
    kids = [node(f"k{i}") for i in range(3)]
    finish(sm, root.id, [k.rv() for k in kids], new=kids)
    assert root.id not in sm.values, "the gather waits for the children"
    for i, k in enumerate(sm.take_ready()):
        finish(sm, k, i * 10)
    assert sm.root_value() == [0, 10, 20]
    assert sm.succeeded()


def test_retry_then_failure_blocks_successors() -> None:
    root = node("root")
    child = root.add_child(node("child"))
    sm = StateMachine(retry_count=1)
    start(sm, root)
    sm.take_ready()
    assert attempt_failed(sm, root.id) is True
    assert names(sm, sm.take_ready()) == ["root"]
    assert attempt_failed(sm, root.id) is False
    assert failed_for_good(sm, root.id, "boom") is None
    assert sm.status(child.id) is Status.WAITING
    assert sm.take_ready() == []
    assert not sm.succeeded()
    assert sm.failed == {root.id: "boom"}


def test_checkpoint_reruns_when_a_descendant_fails() -> None:
    root = node("root", checkpoint=True)
    sm = StateMachine(retry_count=1)
    start(sm, root)
    sm.take_ready()
    kid = node("kid")
    finish(sm, root.id, kid.rv(), new=[kid])
    sm.take_ready()
    attempt_failed(sm, kid.id)
    sm.take_ready()
    assert attempt_failed(sm, kid.id) is False
    assert failed_for_good(sm, kid.id, "boom") == root.id
    assert kid.id not in sm.jobs
    assert names(sm, sm.take_ready()) == ["root"]
    kid2 = node("kid2")
    finish(sm, root.id, kid2.rv(), new=[kid2])
    assert names(sm, sm.take_ready()) == ["kid2"]
    finish(sm, kid2.id, "ok")
    assert sm.root_value() == "ok"


def test_services_start_before_children_and_stop_after_them() -> None:
    host = node("host")
    service = node("service")
    child = node("child")
    host.services.append(service)
    host.add_child(child)
    sm = StateMachine()
    start(sm, host)
    sm.take_ready()
    finish(sm, host.id)
    assert names(sm, sm.take_ready()) == ["service"]
    sm.apply(ServiceStarted(service.id, dumps("addr")[0]))
    assert names(sm, sm.take_ready()) == ["child"]
    assert sm.to_stop == []
    finish(sm, child.id)
    assert sm.take_stop_requests() == [service.id]
    assert not sm.is_done(host.id)
    finish(sm, service.id)
    assert sm.is_done(host.id)


def test_checkpoint_rerun_brings_back_the_children_it_had_before_it_ran() -> None:
    root = node("root", checkpoint=True)
    static = root.add_child(node("static"))
    sm = StateMachine(retry_count=1)
    start(sm, root)
    sm.take_ready()
    finish(sm, root.id)
    assert names(sm, sm.take_ready()) == ["static"]
    attempt_failed(sm, static.id)
    sm.take_ready()
    assert attempt_failed(sm, static.id) is False
    assert failed_for_good(sm, static.id, "boom") == root.id
    assert names(sm, sm.take_ready()) == ["root"]
    assert sm.status(static.id) is Status.WAITING
    finish(sm, root.id)
    assert names(sm, sm.take_ready()) == ["static"]
    finish(sm, static.id)
    assert sm.succeeded()
