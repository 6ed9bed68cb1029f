# Checkpoint jobs as Toil's documentation describes them (its "Checkpoints" section shows
# only `Job(checkpoint=True)`, no script): when a successor of a checkpoint job fails all its
# retries, the checkpoint's successors are dropped and the checkpoint job runs again, until
# the checkpoint itself has used up its retries. Written against Toil's API (it runs on Toil
# with `from toil.common import Toil` / `from toil.job import Job`).
#
# Run: python checkpoints.py file:jobStore --runsDir DIR --failures 2 --retryCount 1
# The flaky job fails its first --failures attempts; with --retryCount 1 the checkpoint job
# reruns once, and the workflow prints "flaky succeeded on attempt 2".
import os

from runner import Job, Toil


def count_run(directory, kind):
    """Leave a file per run of ``kind`` in ``directory``; return how many ran before."""
    before = len([name for name in os.listdir(directory) if name.startswith(kind + "-")])
    open(os.path.join(directory, f"{kind}-{before}"), "w").close()
    return before


def flaky(job, directory, failures):
    attempt = count_run(directory, "flaky")
    if attempt < failures:
        raise RuntimeError(f"flaky attempt {attempt} fails on purpose")
    return f"flaky succeeded on attempt {attempt}"


def guarded(job, directory, failures):
    run = count_run(directory, "checkpoint")
    job.log(f"checkpoint job run {run}")
    return job.addChildJobFn(flaky, directory, failures).rv()


def main():
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("--runsDir", required=True, help="where each job run leaves a file")
    parser.add_argument("--failures", type=int, default=2,
                        help="how many times the flaky job fails before it succeeds")
    options = parser.parse_args()
    runs_dir = os.path.abspath(options.runsDir)
    os.makedirs(runs_dir, exist_ok=True)

    root = Job.wrapJobFn(guarded, runs_dir, options.failures, checkpoint=True)
    with Toil(options) as toil:
        print(toil.restart() if toil.options.restart else toil.start(root))


if __name__ == "__main__":
    main()
