"""A one-job workflow whose job goes over its memory: it records each attempt in RUNS_DIR
(one file per execution), then touches 400 MiB while it asked for 64 MiB.
Usage: memhog.py JOBSTORE RUNS_DIR [toil options]
"""

import os
import time
import uuid

from runner import Job, Toil


def hog(runs_dir):
    with open(os.path.join(runs_dir, f"attempt.{uuid.uuid4().hex}"), "w"):
        pass
    block = bytearray(400 * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    time.sleep(20)
    return len(block)


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("runs_dir")
    options = parser.parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        print(toil.start(Job.wrapFn(hog, options.runs_dir, memory="64M", cores=1)))
