"""A one-job workflow whose job goes over its memory the way Grid Engine sees it: the job
asks for 256 MiB and starts two processes of 150 MiB each, each under the per-process
``ulimit -v`` that ``h_vmem`` sets, together over the job's ``h_vmem`` (which ``sge_execd``
enforces on the sum). Each attempt leaves one file in RUNS_DIR.
Usage: memhog_procs.py JOBSTORE RUNS_DIR [toil options]
"""

import os
import subprocess
import sys
import uuid

from runner import Job, Toil

HOLD = "import time; b = bytearray(150 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(30)"


def hog(runs_dir):
    with open(os.path.join(runs_dir, f"attempt.{uuid.uuid4().hex}"), "w"):
        pass
    children = [subprocess.Popen([sys.executable, "-c", HOLD]) for _ in range(2)]
    return [child.wait() for child in children]


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("runs_dir")
    options = parser.parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        print(toil.start(Job.wrapFn(hog, options.runs_dir, memory="256M", cores=1)))
