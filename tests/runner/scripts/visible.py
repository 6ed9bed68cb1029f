"""Small workflows for the `toil` utility tests. Usage:

    visible.py JOBSTORE WORK_DIR MODE [toil options]

Every worker job records each execution as a file ``WORK_DIR/runs/<job id>.<random>`` and
writes a scratch file in its temporary directory (under ``--workDir``).
MODE:
- ``wait``: three ``hold`` jobs that wait until ``WORK_DIR/release`` exists, two ``quick``
  jobs, and a ``gather`` follow-on; prints ``TOTAL 5``.
- ``fail``: two ``quick`` jobs and ``explode``, which prints a line holding ``secret 4242``
  (and ``filler`` lines), then raises ``ValueError("boom 4242")``.
- ``stats``: four ``burn`` jobs (0.3 s of CPU, 80 MB held in the worker, 2 MiB written in
  their directory), three ``nap`` jobs (sleep 0.3 s), a ``gather`` follow-on named
  ``summing up`` (displayName); prints ``TOTAL 7``.
- ``chain``: six chains of eight ``link`` jobs (0.4 s each) and a ``gather`` follow-on;
  prints ``TOTAL 48``.
"""

import os
import sys
import time
import uuid

from runner import Job, Toil


def _ran(job, work):
    path = os.path.join(work, "runs", f"{job.jobStoreID}.{uuid.uuid4().hex}")
    with open(path, "w"):
        pass
    with open(os.path.join(job.tempDir, "scratch.txt"), "w") as stream:  # a job's own dir
        stream.write("scratch")


def hold(job, work):
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(work, "release")) and time.monotonic() < deadline:
        time.sleep(0.05)
    _ran(job, work)
    return 1


def quick(job, work):
    _ran(job, work)
    print("quick job ran")
    return 1


def explode(job, work):
    _ran(job, work)
    for index in range(30):
        print(f"filler line {index} of the exploding job")
    print("explode: about to fail with the secret 4242", flush=True)
    raise ValueError("boom 4242")


def burn(job, work):
    block = bytearray(80 * 1024 * 1024)
    for offset in range(0, len(block), 4096):  # touch every page so it is resident
        block[offset] = 1
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    with open(os.path.join(job.fileStore.getLocalTempDir(), "scratch"), "wb") as scratch:
        scratch.write(b"x" * (2 * 1024 * 1024))  # 2 MiB in its directory: toil stats' disk
    _ran(job, work)
    return 1


def nap(job, work):
    time.sleep(0.3)
    _ran(job, work)
    return 1


def link(job, work, depth):
    time.sleep(0.4)
    _ran(job, work)
    if depth + 1 < 8:
        return job.addChildJobFn(link, work, depth + 1, cores=0.1).rv()
    return 8


def gather(values):
    return sum(values)


def root(job, work, mode):
    plan = {
        "wait": [(hold, 3), (quick, 2)],
        "fail": [(quick, 2), (explode, 1)],
        "stats": [(burn, 4), (nap, 3)],
    }
    if mode == "chain":
        promises = [job.addChildJobFn(link, work, 0, cores=0.1).rv() for _ in range(6)]
    else:
        promises = [
            job.addChildJobFn(fn, work, cores=0.1).rv()
            for fn, count in plan[mode]
            for _ in range(count)
        ]
    # the stats run names its follow-on: toil stats groups by a displayName, as Toil's does
    named = {"displayName": "summing up"} if mode == "stats" else {}
    return job.addFollowOnFn(gather, promises, **named).rv()


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("work")
    parser.add_argument("mode", choices=["wait", "fail", "stats", "chain"])
    options = parser.parse_args()
    options.disableProgress = True
    os.makedirs(os.path.join(options.work, "runs"), exist_ok=True)
    with Toil(options) as toil:
        if options.restart:
            value = toil.restart()
        else:
            value = toil.start(Job.wrapJobFn(root, options.work, options.mode, cores=0.1))
    print(f"TOTAL {value}")
    sys.stdout.flush()
