# Toil documentation example example_alwaysfail.py (a workflow that always fails, to inspect
# with `toil status`), run on moil. Only the import lines differ from Toil's.
import argparse
import sys

from runner import Job, Toil


def main():
    """
    This workflow always fails.

    Invoke like:

        python examples/python/example_alwaysfail.py ./jobstore

    Then inspect the job store with `toil status --printLogs ./jobstore`.
    """
    parser = argparse.ArgumentParser(description=main.__doc__)
    Job.Runner.addToilOptions(parser)
    options = parser.parse_args(sys.argv[1:])

    hello_job = Job.wrapJobFn(explode)

    with Toil(options) as toil:
        toil.start(hello_job)


def explode(job):
    sys.stderr.write('Something somewhere has gone terribly wrong\n')
    raise RuntimeError('Boom!')


if __name__=="__main__":
    main()
