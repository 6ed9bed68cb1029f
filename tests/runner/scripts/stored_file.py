"""A stored file read by a later job, with a pause between, for damage tests. Usage:

    stored_file.py JOBSTORE WORK_DIR MODE [toil options]

MODE ``made``: job ``make`` writes ``made.txt`` (12 bytes) into the store; ``input``: the
script imports ``WORK_DIR/input.txt`` with ``toil.importFile``. Then job ``use`` creates
``WORK_DIR/waiting`` and waits until ``WORK_DIR/release`` exists (up to 120 s), reads the
stored file and returns its size, which the script prints as ``SIZE N``.
"""

import os
import time

from runner import Job, Toil


def make(job):
    path = os.path.join(job.fileStore.getLocalTempDir(), "made.txt")
    with open(path, "w") as stream:
        stream.write("hello world\n")
    return job.fileStore.writeGlobalFile(path)


def use(job, work, file_id):
    open(os.path.join(work, "waiting"), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(work, "release")) and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(job.fileStore.readGlobalFile(file_id)) as stream:
        return len(stream.read())


def made(job, work):
    return job.addFollowOnJobFn(use, work, job.addChildJobFn(make).rv()).rv()


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("work")
    parser.add_argument("mode", choices=["made", "input"])
    options = parser.parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        if options.mode == "made":
            root = Job.wrapJobFn(made, options.work)
        else:
            file_id = toil.importFile("file://" + os.path.join(options.work, "input.txt"))
            root = Job.wrapJobFn(use, options.work, file_id)
        value = toil.start(root)
    print(f"SIZE {value}")
