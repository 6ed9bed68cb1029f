"""Where a run keeps what it makes and deletes: temporary job stores and job directories.

Without ``--jobStore`` a run's store goes in ``TMPDIR/moil-stores-UID``; without
``--workDir`` jobs get their directories in ``TMPDIR/moil-work-UID``. Both are this user's
(mode 0700, checked to be a directory the user owns, else the temp dir itself is used) and
carry ext4's "top of a hierarchy" flag (``chattr +T``), so the file system places each
store and each job directory made in them in a block group of its own choosing, as it does
for the directories of its root.

Why that matters: ext4 without a journal skips, for every inode it allocates, each inode of
the same block group freed in the last few minutes (``recently_deleted`` in
``fs/ext4/ialloc.c``). A run deletes thousands of files (its store when it succeeds, its
stored outputs), and left to themselves every store and job directory would be made in the
temp dir's own group: each file a job created there then cost ~1 ms instead of ~0.05 ms
for minutes after the previous run, which on a 1000-job scatter was ~3 s of kernel time.
Elsewhere the flag means nothing (or is refused) and the directories are plain.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import tempfile

log = logging.getLogger(__name__)

_made: dict[tuple[str, str], str] = {}


def forget_made_dirs() -> None:
    """Forget the directories this process made or checked: the next call checks again."""
    _made.clear()


# ext2/3/4's "top of a directory hierarchy" inode flag (chattr +T); FS_IOC_[GS]ETFLAGS.
_FS_TOPDIR_FL = 0x00020000
_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602


def spread_subdirs(path: str) -> bool:
    """Ask the file system to place the directories made in ``path`` apart from each other
    and from ``path``'s own neighbours (``chattr +T``), as ext4 does with the directories of
    its root; False where that means nothing (other file systems) or is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        flags = bytearray(4)
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags)
        value = int.from_bytes(flags, "little") | _FS_TOPDIR_FL
        fcntl.ioctl(fd, _FS_IOC_SETFLAGS, value.to_bytes(4, "little"))
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def private_temp_dir(kind: str) -> str:
    """``TMPDIR/moil-KIND-UID``, made if missing (see the module docstring), or the temp
    dir itself if that name is taken by something that is not this user's directory."""
    base = tempfile.gettempdir()
    found = _made.get((base, kind))
    if found is not None:
        return found
    uid = os.geteuid()
    path = os.path.join(base, f"moil-{kind}-{uid}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
            log.warning("%s is not a directory of this user; using %s itself", path, base)
            path = base
    except OSError as exc:
        log.debug("cannot make %s (%s); using %s itself", path, exc, base)
        path = base
    if path != base:
        spread_subdirs(path)
    _made[(base, kind)] = path
    return path


def cleans_work_dir(policy: str, ok: bool) -> bool:
    """Whether a job's directory is deleted when the job ends, by ``--cleanWorkDir``
    (Toil's rule): ``always``; ``onSuccess`` only if it succeeded; ``onError`` only if it
    failed; ``never``."""
    return policy == "always" or (policy == "onSuccess" and ok) or (policy == "onError" and not ok)


def work_dir(configured: str | None) -> str:
    """The directory jobs get their directories in: ``configured`` (``--workDir``) or this
    user's default."""
    return configured or private_temp_dir("work")


def stores_dir() -> str:
    """The directory a run without ``--jobStore`` makes its store in."""
    return private_temp_dir("stores")
