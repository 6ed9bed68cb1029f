"""A 200-job graph for restart and fault tests: 20 chains of 10 jobs (parent -> child).

Each job sleeps a little, then records that it ran by creating a uniquely named file in
RUNS_DIR (one file per execution), and the last job of a chain returns its depth (9) through the chain's promises; the
root returns the sum over all chains (180). Usage: graph200.py JOBSTORE RUNS_DIR [toil options]
"""

import os
import time
import uuid

from runner import Job, Toil

CHAINS, LENGTH = 20, 10


def link(job, runs_dir, chain, depth):
    time.sleep(0.03)
    with open(os.path.join(runs_dir, f"c{chain}-d{depth}.{uuid.uuid4().hex}"), "w"):
        pass
    if depth + 1 < LENGTH:
        return job.addChildJobFn(link, runs_dir, chain, depth + 1, cores=0.5).rv()
    return depth


def root(job, runs_dir):
    promises = [job.addChildJobFn(link, runs_dir, c, 0, cores=0.5).rv() for c in range(CHAINS)]
    return job.addFollowOnFn(sum, promises).rv()


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("runs_dir")
    options = parser.parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        value = (
            toil.restart()
            if options.restart
            else toil.start(Job.wrapJobFn(root, options.runs_dir, cores=0.5))
        )
    print(f"TOTAL {value}")
