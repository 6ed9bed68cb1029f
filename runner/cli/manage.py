"""``toil clean JOBSTORE`` and ``toil kill JOBSTORE``.

clean: deletes the store and what the run left in its ``--workDir`` (the jobs' temporary
directories ``moil-<first 8 characters of the job ID>-*``, kept with ``--cleanWorkDir
never`` or by a worker killed mid-job). A store that does not exist is not an error. A
store whose leader runs (it holds the store's lease) is not deleted: exit 2, with what to
do; clean holds the lease itself while it deletes, so no leader starts on a half-deleted
store.

kill: asks the run's leader to stop by putting the kill flag in the store; the leader polls
it (every 0.5 s; 2 s on aws:), kills the jobs it issued and exits, keeping the store for ``--restart``.
A store without a live leader (nobody holds its lease) gets no flag (a stale flag would
stop the next ``--restart``). ``--force`` (Toil's): a leader on this host is killed with
SIGKILL at once, and so are the processes it started (its running jobs' workers, which would
otherwise run on as orphans); the store stays restartable. A leader on another host gets the
flag, as without ``--force``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket

import typer

from backends.jobstore.base import JobStore, LeaseHolder
from runner.jobenv.filestore import remove_spares
from runner.jobenv.tempdirs import work_dir

log = logging.getLogger(__name__)


def clean(job_store: str = typer.Argument(..., metavar="JOBSTORE")) -> None:
    """Delete a job store and what its run left in --workDir (a missing store is fine)."""
    from backends.errors import JobStoreLeasedError, NoSuchJobStoreError

    store = _open(job_store, "clean")
    if not store.exists():
        return
    store.open()
    try:
        lease = store.acquire_lease("toil clean")
    except NoSuchJobStoreError:
        return  # deleted meanwhile
    except JobStoreLeasedError as exc:
        who = exc.holder.describe() if exc.holder is not None and exc.holder.pid else "?"
        typer.echo(
            f"toil clean: the job store {job_store} is in use by a running leader "
            f"({who}); stop it first with `toil kill {job_store}`, then clean",
            err=True,
        )
        raise typer.Exit(2) from None
    with lease:
        root = _work_dir(store)
        leftovers = work_dir_leftovers(store, root)
        store.destroy()
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    if root is not None:  # and the emptied job directories that ended processes kept
        remove_spares(root)
    if leftovers:
        typer.echo(f"removed {len(leftovers)} job directories from the work dir", err=True)


def work_dir_leftovers(store: JobStore, root: str | None) -> list[str]:
    """The jobs' temporary directories this run left in its work dir ``root``."""
    from runner.engine.names import job_dir_owner
    from runner.model.events import job_records

    if root is None:
        return []
    try:
        candidates = [e for e in os.scandir(root) if job_dir_owner(e.name) and e.is_dir()]
    except OSError:
        return []
    if not candidates:
        return []
    # only directories named after this run's jobs: the work dir may be shared (/tmp)
    prefixes = {record.id[:8] for record in job_records(store.read_records())}
    return [e.path for e in candidates if job_dir_owner(e.name) in prefixes]


def _work_dir(store: JobStore) -> str | None:
    """The run's --workDir (or the temp dir it defaulted to); None if it cannot be read."""
    from runner.views.runview import read_config

    try:
        config = read_config(store)
    except Exception as exc:  # noqa: BLE001 (an unreadable config only skips this step)
        log.warning("cannot read the run's options (%s); not looking in its --workDir", exc)
        return None
    return work_dir(None if config is None else config.work_dir)


def kill(
    job_store: str = typer.Argument(..., metavar="JOBSTORE"),
    force: bool = typer.Option(
        False,
        "--force",
        help="Kill a leader on this host (and the jobs it runs) with SIGKILL "
        "at once, instead of asking it to stop.",
    ),
) -> None:
    """Ask the leader of a running workflow to stop; the store stays restartable."""
    from runner.engine import names
    from runner.views.runview import leader_alive, live_leader, read_status

    store = _open(job_store, "kill")
    if not store.exists():
        typer.echo(f"toil kill: there is no job store at {job_store}", err=True)
        raise typer.Exit(2)
    store.open()
    status = read_status(store)
    holder = live_leader(store)
    if force and holder is not None and _kill_local(holder):
        typer.echo(
            f"killed the leader of {job_store} (pid {holder.pid}) and its jobs with "
            "SIGKILL; resume the run with --restart"
        )
        return
    alive = True if holder is not None else leader_alive(status)
    if alive is False:
        state = (status or {}).get("state", "not started")
        what = "is gone" if state == "running" else f"is not running (the run {state})"
        typer.echo(f"toil kill: the leader of {job_store} {what}; nothing to stop")
        return
    store.write_shared(names.KILL_REQUEST, b"kill")
    typer.echo(f"asked the leader of {job_store} to stop; resume the run with --restart")


def _kill_local(holder: LeaseHolder) -> bool:
    """SIGKILL the lease holder and its descendants if it runs on this host (True), else
    False. The descendants are listed first: once the leader is gone they are no longer
    its children."""
    import psutil

    if holder.host != socket.gethostname() or not holder.pid:
        return False
    try:
        leader = psutil.Process(holder.pid)
        if leader.create_time() > holder.since + 1.0:
            return False  # the pid was reused: not the lease holder
        workers = leader.children(recursive=True)
        leader.send_signal(signal.SIGKILL)
    except psutil.Error:
        return False
    for process in workers:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGKILL)
    log.info(
        "sent SIGKILL to the leader (pid %d) and %d processes it started", holder.pid, len(workers)
    )
    return True


def _open(job_store: str, command: str) -> JobStore:
    from backends.errors import InvalidLocatorError
    from backends.jobstore.base import open_job_store

    try:
        return open_job_store(job_store)
    except InvalidLocatorError as exc:
        typer.echo(f"toil {command}: {exc}", err=True)
        raise typer.Exit(2) from None
