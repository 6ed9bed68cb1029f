"""Small host helpers shared by the service fixtures (Slurm, Grid Engine, Docker, Podman...):
apt-get, ports, memory, processes, mounts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol


def apt_install(packages: Sequence[str]) -> None:
    """``apt-get install --no-install-recommends`` (after ``apt-get update`` if the first
    try fails: a fresh machine has no package lists). Raises RuntimeError with the tail of
    apt-get's output on failure."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=False)
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-1500:]
        raise RuntimeError(f"apt-get install {' '.join(packages)} failed:\n{tail}")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_and_wait(pids: Sequence[int], grace: float) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        live = [p for p in pids if alive(p)]
        for pid in live:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while live and time.monotonic() < deadline:
            live = [p for p in live if alive(p)]
            time.sleep(0.05)
        if not live:
            return


def processes_mentioning(base: Path) -> list[int]:
    """Processes whose command line names ``base`` (daemons, shims, conmon under it)."""
    needle = str(base).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def unmount_under(base: Path) -> None:
    """Lazily unmount whatever is still mounted at or below ``base``, deepest first."""
    prefix = str(base)
    mounts = []
    for line in Path("/proc/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target == prefix or target.startswith(prefix + "/"):
            mounts.append(target)
    for target in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def remove_empty_cgroups(name: str) -> None:
    """Remove ``/sys/fs/cgroup/<controller>/<name>`` (cgroup v1) where it is empty: engines
    leave their parent cgroup behind. One still in use is not empty and stays."""
    for top in Path("/sys/fs/cgroup").glob(f"*/{name}"):
        children = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for path in [*children, top]:
            try:
                path.rmdir()
            except OSError:
                pass


def schedulable_memory_mib() -> int:
    """This host's memory minus 2 GiB for everything else: what a scheduler may hand out
    (advertising more than the host has would drain Slurm's node)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return max(512, int(line.split()[1]) // 1024 - 2048)
    return 1024


def pid_from_file(path: Path, name: str | None = None) -> int | None:
    """The pid in a daemon's pid file, if that process still runs under ``name`` (default:
    the file's stem); a stale file's pid may belong to an unrelated process by now."""
    try:
        pid = int(path.read_text().split()[0])
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return None
    return pid if comm == (name or path.stem) else None


def processes_with(
    variable: str, value: str, *, daemon: Callable[[str], bool], job_marker: str
) -> list[int]:
    """Processes (not this one) whose environment has ``variable=value`` and that are
    either a scheduler's daemon (``daemon(comm)``) or a job (``job_marker`` is set): how a
    scheduler's stragglers are found once its daemons are gone."""
    wanted = f"{variable}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        names = {e.split(b"=", 1)[0] for e in environ}
        if wanted in environ and (daemon(comm) or job_marker.encode() in names):
            found.append(int(entry.name))
    return found


def run_checked(
    argv: Sequence[str],
    what: str,
    error: type[Exception],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> None:
    """Run ``argv``; on a non-zero exit raise ``error`` naming ``what`` with the output's
    tail (how the fixtures report a failed build or mount step)."""
    done = subprocess.run(
        list(argv), capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-1500:]
        raise error(f"{what} failed (exit {done.returncode}):\n{tail}")


class Service(Protocol):
    """What ``run_with`` needs of a started service."""

    @property
    def env(self) -> dict[str, str]: ...

    def stop(self) -> None: ...


def with_command(args: Sequence[str]) -> tuple[str | None, list[str]] | None:
    """``with [DIR] -- COMMAND...`` split into DIR (None if absent) and COMMAND; None if
    ``args`` are not of that form."""
    if len(args) > 1 and args[0] == "with" and "--" in args[1:3]:
        cut = list(args).index("--")
        return (args[1] if cut == 2 else None), list(args[cut + 1 :])
    return None


def run_with(
    base_dir: str | None, prefix: str, start: Callable[[Path], Service], command: list[str]
) -> int:
    """Start a service under ``base_dir`` (a fresh directory under /tmp if None, removed
    after), run ``command`` with its environment, stop it (also when the command fails or
    is interrupted). Returns the command's exit code."""
    base = Path(base_dir or tempfile.mkdtemp(prefix=prefix, dir="/tmp")).resolve()
    started = time.monotonic()
    service = start(base)
    try:
        print(f"# {prefix.strip('-')} up in {time.monotonic() - started:.2f}s", file=sys.stderr)
        return subprocess.run(command, env=service.env, check=False).returncode
    finally:
        service.stop()
        if base_dir is None:
            shutil.rmtree(base, ignore_errors=True)
