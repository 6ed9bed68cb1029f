"""``Toil``: the context manager that runs a root job (Toil's API)."""

from __future__ import annotations

import sys
from typing import Any, Self

from backends.jobstore.base import FileID
from runner.errors import UsageError
from runner.filestore import export_url, import_url
from runner.job import Job
from runner.logs import setup_logging
from runner.run import Run, make_batch_system


class Toil:
    """``with Toil(options) as toil: toil.start(job)`` (or ``toil.restart()``)."""

    def __init__(self, options: Any) -> None:
        self.options = options
        self._run: Run | None = None

    def __enter__(self) -> Self:
        """Create (or with ``--restart`` open) the job store.

        Bad usage (an existing store without ``--restart``, ``--restart`` on a missing store,
        a malformed locator, an unknown batch system) prints one line and exits with status 2,
        as argparse does for bad arguments; ``runner.run.Run`` raises UsageError instead."""
        setup_logging(self.options)
        try:
            self._run = Run(self.options)
            self._run.__enter__()
            make_batch_system(self.options)  # fail now on an unknown --batchSystem
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._run is not None:
            self._run.__exit__(exc_type, exc, tb)

    @property
    def _active(self) -> Run:
        if self._run is None:
            raise UsageError("use Toil(options) as a context manager: with Toil(options) as t")
        return self._run

    def start(self, rootJob: Job) -> Any:  # noqa: N803 (Toil's name)
        """Run ``rootJob`` and everything it adds; returns its return value."""
        if self.options.restart:
            raise UsageError("this job store is being restarted: call restart(), not start()")
        return self._active.start(rootJob._to_node())

    def restart(self) -> Any:
        """Resume the run kept in the job store; returns the root job's return value."""
        return self._active.restart()

    def importFile(self, srcUrl: str, sharedFileName: str | None = None,  # noqa: N802, N803
                   symlink: bool = True) -> FileID:
        return import_url(self._active.store, srcUrl)

    def exportFile(self, jobStoreFileID: str, dstUrl: str) -> None:  # noqa: N802, N803
        export_url(self._active.store, jobStoreFileID, dstUrl)

    import_file = importFile
    export_file = exportFile
