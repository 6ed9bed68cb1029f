"""A fan of N children for the bundling tests (``--jobsPerAllocation``).

Child i sleeps SLEEP seconds, records that it ran by creating a uniquely named file
``RUNS_DIR/i.<token>`` (one file per execution), and returns i*i; a child with i in
``--fail-first`` raises on its first execution (it finds no earlier file of its own). A
follow-on sums the squares; the script prints ``TOTAL <sum>``.

Usage: bundle_fan.py JOBSTORE RUNS_DIR --n N [--sleep S] [--fail-first I ...] [toil options]
"""

import os
import time
import uuid

from runner import Job, Toil


def square(job, runs_dir, i, sleep, fail_first):
    earlier = [name for name in os.listdir(runs_dir) if name.split(".")[0] == str(i)]
    time.sleep(sleep)
    with open(os.path.join(runs_dir, f"{i}.{uuid.uuid4().hex}"), "w"):
        pass
    print(f"child {i} ran in process {os.getpid()}")
    if i in fail_first and not earlier:
        raise RuntimeError(f"child {i} fails its first run on purpose")
    return i * i


def fan(job, runs_dir, n, sleep, fail_first):
    squares = [
        job.addChildJobFn(square, runs_dir, i, sleep, fail_first, cores=1, memory="100M").rv()
        for i in range(n)
    ]
    return job.addFollowOnFn(sum, squares, cores=1, memory="100M").rv()


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("runs_dir")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--fail-first", type=int, nargs="*", default=[])
    options = parser.parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        value = (
            toil.restart()
            if options.restart
            else toil.start(
                Job.wrapJobFn(
                    fan,
                    options.runs_dir,
                    options.n,
                    options.sleep,
                    set(options.fail_first),
                    cores=1,
                    memory="100M",
                )
            )
        )
    print(f"TOTAL {value}")
