"""Run miniwdl with tasks executed directly on the host, for machines without a container runtime.

miniwdl runs every task in a container (Docker, Podman, Singularity, udocker). Where none
works, this module registers a ``local`` task backend and then hands over to miniwdl's own
command line, so ``python -m conformance.miniwdl_local run WDL -i IN.json ...`` behaves like
``miniwdl run`` except that:

- the task's ``docker``/``container`` image is ignored; the command runs under ``bash`` with
  the host's tools and environment (plus the task's ``env``);
- the "container" paths are the host paths themselves: the container directory is the task's
  run directory, so paths in the command line, stdout.txt and outputs need no translation;
- input files are copied into the task's ``work/_miniwdl_inputs`` (as ``--copy-input-files``
  would), so a task cannot modify the caller's files.

This is the comparison baseline for the WDL conformance harness, not part of the engine.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from WDL.runtime import config as miniwdl_config
from WDL.runtime import task_container
from WDL.runtime.error import Terminated

BACKEND_NAME = "local"
POLL_SECONDS = 0.5


class LocalTaskContainer(task_container.TaskContainer):
    """A miniwdl task "container" that is the host itself (see the module docstring)."""

    _limits: dict[str, int] | None = None

    @classmethod
    def global_init(cls, cfg: miniwdl_config.Loader, logger: logging.Logger) -> None:
        """Nothing to set up: there is no daemon to reach."""

    @classmethod
    def detect_resource_limits(
        cls, cfg: miniwdl_config.Loader, logger: logging.Logger
    ) -> dict[str, int]:
        """The host's cores and memory (tasks asking for more are capped by miniwdl)."""
        if cls._limits is None:
            pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            cls._limits = {"cpu": os.cpu_count() or 1, "mem_bytes": int(pages)}
        return cls._limits

    def __init__(self, cfg: miniwdl_config.Loader, run_id: str, host_dir: str) -> None:
        super().__init__(cfg, run_id, host_dir)
        # In-"container" paths are host paths: nothing needs mapping back and forth.
        self.container_dir = host_dir
        self._inputs_copied = False

    def host_work_dir(self) -> str:
        """Always ``work``: commands were written against that path (see `reset`)."""
        return os.path.join(self.host_dir, "work")

    def host_stdout_txt(self) -> str:
        """``stdout.txt`` in the run directory, where the command's stdout goes."""
        return os.path.join(self.host_dir, "stdout.txt")

    def host_stderr_txt(self) -> str:
        """``stderr.txt`` in the run directory, where the command's stderr goes."""
        return os.path.join(self.host_dir, "stderr.txt")

    def reset(self, logger: logging.Logger) -> None:
        """Before a retry, move the failed attempt's files aside and start afresh."""
        self.try_counter += 1
        suffix = f".failed{self.try_counter - 1}"
        for path in (self.host_work_dir(), self.host_stdout_txt(), self.host_stderr_txt()):
            if os.path.exists(path):
                os.rename(path, path + suffix)
        os.makedirs(self.host_work_dir())
        self._inputs_copied = False

    def _run(self, logger: logging.Logger, terminating: Callable[[], bool], command: str) -> int:
        if not self._inputs_copied:
            self.copy_input_files(logger)
            self._inputs_copied = True
        script = os.path.join(self.host_dir, "command")
        with open(script, "w", encoding="utf-8") as out:
            env: dict[str, Any] = self.runtime_values.get("env", {})
            out.writelines(f"export {k}={shlex.quote(str(v))}\n" for k, v in env.items())
            out.write(command)
        shell = self.cfg.get("task_runtime", "command_shell")
        with (
            open(self.host_stdout_txt(), "ab") as stdout,
            open(self.host_stderr_txt(), "ab") as stderr,
            self.poll_stderr_context(logger) as poll_stderr,
            self.task_running_context(),
        ):
            proc = subprocess.Popen(
                [*shlex.split(shell), script],
                cwd=self.host_work_dir(),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
            exit_code = None
            while exit_code is None:
                if terminating():
                    proc.terminate()
                try:
                    exit_code = proc.wait(POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
                poll_stderr()
        if terminating():
            raise Terminated()
        return exit_code


def install() -> None:
    """Register the backend and make it the configured one, unless the caller chose another.

    miniwdl loads its backend plugins only when its registry is empty, so registering ours
    first also keeps it from probing for Docker.
    """
    task_container._backends[BACKEND_NAME] = LocalTaskContainer
    os.environ.setdefault("MINIWDL__SCHEDULER__CONTAINER_BACKEND", BACKEND_NAME)


def main(argv: list[str] | None = None) -> int:
    """``miniwdl`` with the local backend installed; arguments as for ``miniwdl``."""
    install()
    from WDL.CLI import main as miniwdl_main

    # miniwdl's CLI is untyped.
    result = miniwdl_main(sys.argv[1:] if argv is None else argv)  # type: ignore[no-untyped-call]
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
