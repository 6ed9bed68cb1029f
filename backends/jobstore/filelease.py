"""The lease of a ``file:`` store: ``flock(LOCK_EX)`` on the store's ``lease`` file.

The holder writes who it is (``LeaseHolder`` as JSON) into the file it has locked; a reader
finds the file locked and reads that. The kernel drops the lock when the holder's process
dies, however it dies, so a leader killed with SIGKILL never blocks a restart. flock locks
belong to an open file, which a forked child shares: each forked child closes its copy at
once (``os.register_at_fork``), or a pool worker outliving a killed leader would keep the
store locked until its job ended.

Probes (``holder``) take ``LOCK_SH`` for a moment to see whether anyone holds the lock; a
leader that finds the lock taken tells a probe from a holder by taking ``LOCK_SH`` itself,
which only a holder refuses, and tries again for a moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import weakref
from collections.abc import Callable

from backends.errors import JobStoreLeasedError, NoSuchJobStoreError
from backends.jobstore.lease import Lease, LeaseHolder
from backends.jobstore.localfs import O_CLOEXEC, is_linked_as

LEASE_FILE = "lease"
#: how long a leader tries while only probes (``toil status``) get in its way
_PROBE_PATIENCE = 2.0
#: how long a reader waits for a holder that has just taken the lock to say who it is
_NAME_PATIENCE = 0.5
#: how long a reader waits for the forked children of a dead holder to drop their copy
_ORPHAN_PATIENCE = 2.0

_held: weakref.WeakSet[FileLease] = weakref.WeakSet()


def _drop_in_child() -> None:
    for lease in list(_held):
        lease.forget()


os.register_at_fork(after_in_child=_drop_in_child)


class FileLease(Lease):
    """The lock held on an open ``lease`` file; ``release`` closes it."""

    def __init__(self, fd: int, holder: LeaseHolder) -> None:
        super().__init__(holder)
        self._fd = fd
        _held.add(self)

    def renew(self) -> None:
        """Nothing to do: the lock lasts as long as the process."""

    def release(self) -> None:
        fd, self._fd = self._fd, -1
        _held.discard(self)
        if fd >= 0:
            os.close(fd)

    def forget(self) -> None:
        """In a forked child: close this process's copy; the parent keeps the lock."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()


def acquire(root: str, owner: str, store_exists: Callable[[], bool]) -> FileLease:
    """Lock ``root/lease`` for this process. ``store_exists()`` tells whether the store is
    still there once the lock is ours (it may have been destroyed while we waited)."""
    path = f"{root}/{LEASE_FILE}"
    deadline = time.monotonic() + _PROBE_PATIENCE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise NoSuchJobStoreError(f"no job store at {root}") from None
        if _try_lock(fd):
            if is_linked_as(fd, path) and store_exists():
                return _claim(fd, owner)
            os.close(fd)
            if not os.path.isdir(root):
                raise NoSuchJobStoreError(f"no job store at {root}")
            continue
        held = _held_exclusively(fd)
        os.close(fd)
        if held or time.monotonic() > deadline:
            holder = holder_of(root)
            if holder is not None or time.monotonic() > deadline:
                raise JobStoreLeasedError(_in_use(root, holder), holder)
        time.sleep(0.005)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _held_exclusively(fd: int) -> bool:
    """Whether a holder (not just probes) has the lock: only LOCK_EX refuses LOCK_SH."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _claim(fd: int, owner: str) -> FileLease:
    holder = LeaseHolder(owner, socket.gethostname(), os.getpid(), time.time())
    data = json.dumps(holder.to_json()).encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fchmod(fd, 0o600)  # a lease file made by an older moil
    except BaseException:
        os.close(fd)
        raise
    return FileLease(fd, holder)


def holder_of(root: str) -> LeaseHolder | None:
    """Who holds the lease of the store at ``root`` (None: nobody). A holder that has not
    written its name yet is waited for a moment, then reported as unknown (pid 0)."""
    path = f"{root}/{LEASE_FILE}"
    try:
        fd = os.open(path, os.O_RDONLY | O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if not _held_exclusively(fd):
            return None
        holder = _named_holder(fd)
        # A leader killed right after forking a pool worker: until the child first runs, its
        # copy of the open file keeps the lock (it drops it in ``_drop_in_child``).
        deadline = time.monotonic() + _ORPHAN_PATIENCE
        while _died_here(holder) and time.monotonic() < deadline:
            time.sleep(0.01)
            if not _held_exclusively(fd):
                return None
        return holder
    finally:
        os.close(fd)


def _named_holder(fd: int) -> LeaseHolder:
    """The holder named in the locked file; one that has not written its name yet is waited
    for a moment, then reported as unknown (pid 0)."""
    deadline = time.monotonic() + _NAME_PATIENCE
    while True:
        try:
            return LeaseHolder.from_json(json.loads(os.pread(fd, 1 << 16, 0)))
        except (ValueError, KeyError, TypeError):
            if time.monotonic() > deadline:
                return LeaseHolder("", "an unknown host", 0, 0.0)
        time.sleep(0.01)


def _died_here(holder: LeaseHolder) -> bool:
    """Whether ``holder`` was a process of this host that no longer exists."""
    if holder.pid <= 0 or holder.host != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _in_use(root: str, holder: LeaseHolder | None) -> str:
    who = holder.describe() if holder is not None and holder.pid else "another process"
    return f"the job store at {root} is in use by a running leader ({who})"
