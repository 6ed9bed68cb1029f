"""Workflows for --maxJobs and --stopOnFirstFailure.
Usage: toil_limits.py JOBSTORE (wide|failing|flaky|pid) DIR [toil options]

wide: 6 jobs that can all run at once; each records in DIR how many of them were running
(its own marker included) when it started, then holds its marker for a moment.
failing: a job that fails at once, beside one that sleeps SLEEP seconds ($MOIL_TEST_SLEEP)
and has a child that writes DIR/after when it runs.
flaky: a job that fails its first two attempts, writing DIR/attempt.N (the time it started,
and its end for a failed one).
pid: prints the leader's process ID and the one its job ran in.
"""

import os
import time
import uuid

from runner import Job, Toil


def marked(run_dir):
    marker = os.path.join(run_dir, f"running.{uuid.uuid4().hex}")
    open(marker, "w").close()
    seen = sum(1 for name in os.listdir(run_dir) if name.startswith("running."))
    with open(os.path.join(run_dir, f"seen.{uuid.uuid4().hex}"), "w") as out:
        out.write(str(seen))
    time.sleep(2.0)
    os.remove(marker)


def fails():
    raise RuntimeError("this job fails")


def sleeps(seconds):
    time.sleep(seconds)


def after(run_dir):
    open(os.path.join(run_dir, "after"), "w").close()


def flaky(run_dir):
    began = time.time()
    done = sorted(name for name in os.listdir(run_dir) if name.startswith("attempt."))
    with open(os.path.join(run_dir, f"attempt.{len(done)}"), "w") as out:
        out.write(f"{began} {time.time()}")
    if len(done) < 2:
        raise RuntimeError(f"attempt {len(done)} fails")


def workflow(mode, run_dir):
    if mode == "pid":
        return Job.wrapFn(os.getpid, cores=0.1, memory="16M", disk="1M")
    if mode == "flaky":
        return Job.wrapFn(flaky, run_dir, cores=0.1, memory="16M", disk="1M")
    root = Job()
    if mode == "wide":
        for _ in range(6):
            root.addChildFn(marked, run_dir, cores=0.1, memory="16M", disk="1M")
        return root
    root.addChildFn(fails, cores=0.1, memory="16M", disk="1M")
    slow = root.addChildFn(
        sleeps, float(os.environ.get("MOIL_TEST_SLEEP", "20")), cores=0.1, memory="16M", disk="1M"
    )
    slow.addChildFn(after, run_dir, cores=0.1, memory="16M", disk="1M")
    return root


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("mode", choices=("wide", "failing", "flaky", "pid"))
    parser.add_argument("run_dir")
    options = parser.parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        value = toil.start(workflow(options.mode, options.run_dir))
    if options.mode == "pid":
        print(os.getpid(), value)
