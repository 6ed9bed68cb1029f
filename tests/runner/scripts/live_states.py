"""Run a workflow and record the leader's live state each time it appends to the journal.

Usage: live_states.py OUT RUNS_DIR python JOBSTORE [toil options]
       live_states.py OUT RUNS_DIR cwl [toil-cwl-runner arguments]

After every ``Journal.flush`` that wrote records, the number of journal records written so
far and ``StateMachine.snapshot()`` of the leader's state go to a list, pickled to OUT when
the run ends: a test replays each prefix of the journal and compares. The Python workflow
adds children at run time, gathers their promises in a follow-on, retries a failed attempt,
reruns a checkpoint whose child failed for good, and starts a service.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any

from runner import Job, Toil
from runner.engine.journal import Journal

recorded: list[tuple[int, dict[str, Any]]] = []
_written = [0]
_flush = Journal.flush


def _recording_flush(self: Journal) -> None:
    count = len(self.pending)
    _flush(self)
    if count:
        _written[0] += count
        recorded.append((_written[0], self.state.snapshot()))


def _fails_first(runs_dir: str, name: str, times: int) -> None:
    """Raise on the first ``times`` executions of ``name`` (counted by files in RUNS_DIR)."""
    done = len([f for f in os.listdir(runs_dir) if f.startswith(name + ".")])
    with open(os.path.join(runs_dir, f"{name}.{done}"), "w"):
        pass
    if done < times:
        raise RuntimeError(f"{name} fails its execution {done + 1}")


def leaf(job: Any, runs_dir: str, n: int) -> int:
    if n == 1:
        _fails_first(runs_dir, "leaf1", 1)  # one retried attempt
    return n * n


def fan(job: Any, runs_dir: str, width: int) -> Any:
    squares = [job.addChildJobFn(leaf, runs_dir, n).rv() for n in range(width)]
    return job.addFollowOnFn(sum, squares).rv()


def fragile(job: Any, runs_dir: str) -> str:
    _fails_first(runs_dir, "fragile", 2)  # both attempts fail: the checkpoint reruns
    return "steady"


def guarded(job: Any, runs_dir: str) -> Any:
    return job.addChildJobFn(fragile, runs_dir).rv()


class Echo(Job.Service):  # type: ignore[misc]  # the Toil API's base class is untyped
    def start(self, file_store: Any) -> str:
        return "service-address"

    def check(self) -> bool:
        return True

    def stop(self, file_store: Any) -> None:
        pass


def uses(address: str) -> str:
    return address.upper()


def collect(*values: Any) -> list[Any]:
    return list(values)


def root(job: Any, runs_dir: str) -> Any:
    total = job.addChildJobFn(fan, runs_dir, 4).rv()
    steady = job.addChildJobFn(guarded, runs_dir, checkpoint=True).rv()
    host = Job()
    job.addChild(host)
    address = host.addService(Echo())
    used = host.addChildFn(uses, address).rv()
    return job.addFollowOnFn(collect, total, steady, used).rv()


def main() -> int:
    out, runs_dir, kind, *rest = sys.argv[1:]
    Journal.flush = _recording_flush  # type: ignore[method-assign]  # the recording hook
    try:
        if kind == "cwl":
            from languages.cwl.cli import main as cwl_main

            return cwl_main(rest)
        parser = Job.Runner.getDefaultArgumentParser()
        options = parser.parse_args(rest)
        options.disableProgress = True
        options.retryCount = 1
        with Toil(options) as toil:
            print("VALUE", toil.start(Job.wrapJobFn(root, runs_dir)))
        return 0
    finally:
        with open(out, "wb") as stream:
            pickle.dump(recorded, stream)


if __name__ == "__main__":
    sys.exit(main())
