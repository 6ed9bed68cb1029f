"""``Toil``: the context manager that runs a root job (Toil's API)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, NoReturn, Self

from backends.errors import InvalidLocatorError, JobStoreAccessError, NoSuchFileError
from backends.jobstore.base import FileID
from runner.cli.console import catch_sigterm
from runner.cli.logs import setup_logging
from runner.config.checks import validate
from runner.config.options import build_config, warn_other_effects
from runner.config.runconfig import RunConfig
from runner.engine.leader import Interrupted
from runner.engine.run import Run, make_batch_system
from runner.errors import UsageError
from runner.jobenv.filestore import export_url, import_url, local_path

if TYPE_CHECKING:  # runner.api.job imports this module when a job starts a run
    from runner.api.job import Job


class Toil:
    """``with Toil(options) as toil: toil.start(job)`` (or ``toil.restart()``).

    ``options`` is what ``Job.Runner.getDefaultOptions`` or a parser with
    ``Job.Runner.addToilOptions`` gives: attributes with Toil's names. It is read once, when
    the ``with`` block is entered, into the run's typed configuration (``config``)."""

    def __init__(self, options: object) -> None:
        self.options = options
        self.config: RunConfig | None = None
        self._run: Run | None = None
        self._sigterm: Any = signal.SIG_DFL

    def __enter__(self) -> Self:
        """Check the options, then create (or with ``--restart`` open) the job store.

        Bad usage (a bad option value, an existing store without ``--restart``,
        ``--restart`` on a missing store, a malformed locator, an unknown batch system)
        prints one line and exits with status 2, as argparse does for bad arguments;
        ``runner.engine.run.Run`` raises UsageError instead."""
        try:
            self.config = config = build_config(self.options, user_main=_user_main())
        except UsageError as exc:
            _exit_with(exc, exc.exit_code)
        setup_logging(config)
        warn_other_effects(self.options, config)
        self._sigterm = signal.getsignal(signal.SIGTERM)
        catch_sigterm()  # SIGTERM outside the leader's loop: Terminated, cleaned up as Ctrl-C
        try:
            validate(config)
            run = Run(config)  # no I/O yet; refuses a store its batch system cannot reach
            make_batch_system(config)  # fail now on a batch system that cannot start
            self._run = run
            run.__enter__()
        except UsageError as exc:
            _exit_with(exc, exc.exit_code)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        """Apply ``--clean``. A run stopped by SIGINT or SIGTERM (or ``toil kill``), a usage
        error, a URL to import that names nothing and a store out of reach end the script
        with one line and their exit code (130, 143; 2), not a traceback; other errors (a
        failed workflow) reach the caller as raised."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._sigterm)
        if self._run is not None:
            self._run.__exit__(exc_type, exc, tb)
        if isinstance(exc, Interrupted | UsageError):
            _exit_with(exc, exc.exit_code)
        if isinstance(exc, NoSuchFileError | JobStoreAccessError | InvalidLocatorError):
            _exit_with(exc, 2)  # a URL to import that names nothing, a store out of reach
        if isinstance(exc, KeyboardInterrupt):
            _exit_with(exc, int(getattr(exc, "exit_code", 130)))

    @property
    def _active(self) -> Run:
        if self._run is None:
            raise UsageError("use Toil(options) as a context manager: with Toil(options) as t")
        return self._run

    def start(self, rootJob: Job) -> Any:  # noqa: N803 (Toil's name)
        """Run ``rootJob`` and everything it adds; returns its return value."""
        if self._active.config.restart:
            raise UsageError("this job store is being restarted: call restart(), not start()")
        script = sys.argv[0] if sys.argv and sys.argv[0] else "python"
        self._active.note_workflow(os.path.abspath(script), "python")
        return self._active.start(rootJob._to_node())

    def restart(self) -> Any:
        """Resume the run kept in the job store; returns the root job's return value."""
        return self._active.restart()

    def importFile(  # noqa: N802
        self,
        srcUrl: str,  # noqa: N803
        sharedFileName: str | None = None,  # noqa: N803
        symlink: bool = True,
    ) -> FileID:
        return import_url(self._active.store, srcUrl)

    def exportFile(self, jobStoreFileID: str, dstUrl: str) -> None:  # noqa: N802, N803
        export_url(self._active.store, jobStoreFileID, dstUrl)
        path = local_path(dstUrl)
        if path is not None:  # --provenance copies it into the crate's outputs
            self._active.note_export(os.path.abspath(path), str(jobStoreFileID))

    import_file = importFile
    export_file = exportFile


def _user_main() -> str | None:
    """The script that runs the workflow: workers load it to find the classes it defines."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.abspath(main_file) if main_file else None


def _exit_with(exc: BaseException, code: int) -> NoReturn:
    """End the script with one line for ``exc`` and exit status ``code``."""
    text = str(exc) or "interrupted"
    print(f"error: {text}", file=sys.stderr)
    raise SystemExit(code) from None
