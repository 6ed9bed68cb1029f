"""The worker command, ``python -m runner.worker LOCATOR JOB_ID`` (also ``moil-worker``).

What cluster batch systems run on a node; the worker itself is ``runner.engine.worker``.
"""

import sys

from runner.engine.worker import main

if __name__ == "__main__":
    sys.exit(main())
