"""A real HTCondor pool of one machine (a "minicondor"), in a Debian 13 chroot on this host.

Debian 12 has no HTCondor package; Debian 13 (trixie) has ``condor`` 23.9 and
``minicondor`` (its single-machine configuration). So a trixie root file system is made once
with ``debootstrap --variant=minbase`` and ``apt-get install minicondor`` (~2 min, needs root
and a Debian mirror) and kept in ``cache_dir()`` (``$MOIL_HTCONDOR_CACHE`` or
``~/.cache/moil/htcondor``). It is never written to afterwards: each pool mounts it as the
lower layer of an overlay under its own directory (``root/``; changes land in ``upper/``),
with ``/proc``, ``/dev``, and these directories bind-mounted at the same path as on the host:

- ``work/`` of the pool (read-write, owned by the submitting user): job files, and stores;
- by default the project's checkout and the interpreter's installation (read-only), so a
  moil worker runs inside a job with the very paths the leader uses (the chroot's
  ``/root`` is mode 0711 for that, where the interpreter lives under ``/root``).

``condor_master`` runs in the chroot (foreground, its own session) with the minicondor
roles (collector, negotiator, schedd, startd) and this pool's configuration
(``/etc/condor/config.d/99-moil``): IPv4 loopback only on a port picked free at start (shared
port), one partitionable slot with the given CPUs and memory (so ``request_cpus`` and
``request_memory`` carve dynamic slots; a request larger than the machine never matches),
``POLICY : HOLD_IF_MEMORY_EXCEEDED`` (a job whose memory exceeds its ``request_memory`` is
held, ``HoldReasonCode`` 21, "memory usage exceeded request_memory"), one-second scheduling
intervals and periodic-expression checks (``periodic_hold`` of a time limit), no cgroups (``/sys`` is not mounted), and ``MOUNT_UNDER_SCRATCH`` empty (by
default HTCondor gives each job a private ``/tmp``, which would hide shared paths there).

Jobs must come from a non-root user (``condor_submit`` as root is refused): the user of
tests/services/users.py, added to the chroot with the host's uid and gid so files in
``work/`` belong to the same account on both sides. ``pool.run(...)`` runs a command in the
chroot as root, ``pool.run_as_user(...)`` as that user; ``pool.env`` puts ``bin/`` first on
``PATH``, whose ``condor_submit``, ``condor_q``, ``condor_history``, ``condor_rm``... run the
real ones in the chroot as that user, in the caller's directory (which must exist in the
chroot: use ``work/``). They need root, as ``chroot`` does: a leader on the host runs as
root and its jobs go in as the user.

Usage by hand::

    python -m tests.services.htcondor build                    # the cached root file system
    python -m tests.services.htcondor start /tmp/mycondor [CPUS]
    python -m tests.services.htcondor exec /tmp/mycondor -- condor_q -allusers
    python -m tests.services.htcondor stop /tmp/mycondor
    python -m tests.services.htcondor with [DIR] -- COMMAND...    # start, run, stop

No pytest import here; the fixture lives in ``tests/services/fixtures.py``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import users
from tests.services.host import (
    apt_install,
    kill_and_wait,
    run_checked,
    run_with,
    schedulable_memory_mib,
    unmount_under,
    with_command,
)
from tests.services.serverproc import free_port

SUITE = "trixie"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("minicondor",)
_RECIPE_VERSION = "1"
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The commands bin/ offers on the host (each runs the real one in the chroot as the user).
WRAPPED = (
    "condor_submit",
    "condor_q",
    "condor_history",
    "condor_rm",
    "condor_status",
    "condor_hold",
    "condor_release",
    "condor_wait",
)
PROJECT = Path(__file__).resolve().parents[2]


class HTCondorUnavailable(RuntimeError):
    """HTCondor cannot be built or started on this machine (the message says why)."""


def cache_dir() -> Path:
    """``$MOIL_HTCONDOR_CACHE`` or ``~/.cache/moil/htcondor``."""
    configured = os.environ.get("MOIL_HTCONDOR_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "moil" / "htcondor"


def rootfs(cache: Path | None = None, mirror: str | None = None) -> Path:
    """The cached trixie root file system with minicondor, built if missing (several
    processes may ask at once: one builds, the others wait). Raises HTCondorUnavailable if
    debootstrap or the install fails."""
    mirror = mirror or os.environ.get("MOIL_DEBIAN_MIRROR", DEFAULT_MIRROR)
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    recipe = {"version": _RECIPE_VERSION, "suite": SUITE, "mirror": mirror, "packages": PACKAGES}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    wanted = cache / f"rootfs-{digest}"
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (wanted / "usr" / "sbin" / "condor_master").exists():
            _build(cache, mirror, wanted)
    return wanted


def _build(cache: Path, mirror: str, wanted: Path) -> None:
    if os.geteuid() != 0:
        raise HTCondorUnavailable("building the HTCondor chroot needs root")
    if shutil.which("debootstrap") is None:
        try:
            apt_install(["debootstrap"])
        except RuntimeError as exc:
            raise HTCondorUnavailable(str(exc)) from None
    work = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
    tree = work / "rootfs"
    try:
        _check(["debootstrap", "--variant=minbase", SUITE, str(tree), mirror], "debootstrap", 1800)
        # No daemon may start from a package's postinst inside the chroot.
        policy = tree / "usr" / "sbin" / "policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        shutil.copyfile("/etc/resolv.conf", tree / "etc" / "resolv.conf")
        subprocess.run(["mount", "-t", "proc", "proc", str(tree / "proc")], check=True)
        try:
            env = {"PATH": _PATH, "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
            install = ["chroot", str(tree), "apt-get", "install", "-y", "--no-install-recommends"]
            _check([*install, *PACKAGES], "apt-get install minicondor in the chroot", 1800, env)
            _check(["chroot", str(tree), "apt-get", "clean"], "apt-get clean", 300, env)
        finally:
            subprocess.run(["umount", "-l", str(tree / "proc")], check=False)
        (tree / "etc" / "resolv.conf").write_text("")
        shutil.rmtree(tree / "var" / "lib" / "apt" / "lists", ignore_errors=True)
        tree.rename(wanted)
    finally:
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)


def _check(
    argv: Sequence[str], what: str, timeout: float, env: dict[str, str] | None = None
) -> None:
    run_checked(argv, what, HTCondorUnavailable, env=env, timeout=timeout)


@dataclass
class HTCondorPool:
    """A running pool in its chroot. ``env`` gives host commands the wrappers of ``bin/``."""

    base_dir: Path
    user: str
    port: int
    cpus: int
    memory_mib: int
    shared: tuple[Path, ...]
    env: dict[str, str] = field(default_factory=dict)
    _master: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def root(self) -> Path:
        return self.base_dir / "root"

    @property
    def work_dir(self) -> Path:
        """Owned by ``user``; the same path on the host and in the chroot."""
        return self.base_dir / "work"

    @property
    def bin_dir(self) -> Path:
        return self.base_dir / "bin"

    def run(
        self,
        *argv: str,
        as_user: bool = False,
        cwd: str | Path | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the chroot (as root, or as ``user``) in ``cwd`` (default /)."""
        return subprocess.run(
            _chroot_argv(self.root, self.user if as_user else None, cwd, argv),
            env=_chroot_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def run_as_user(
        self, *argv: str, cwd: str | Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the chroot as ``user`` (default directory: ``work_dir``)."""
        return self.run(*argv, as_user=True, cwd=cwd or self.work_dir, check=check)

    def user_argv(
        self, argv: Sequence[str], cwd: str | Path, env: dict[str, str] | None = None
    ) -> list[str]:
        """The host command that runs ``argv`` in the chroot as ``user`` in ``cwd`` with
        only ``env`` (and ``PATH``, ``LANG``) as its environment: a leader the pool's user
        runs, whose ``condor_submit`` is the pool's own. Run it as root."""
        variables = {**_chroot_env(), **(env or {})}
        clean = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in variables.items())]
        return _chroot_argv(self.root, self.user, cwd, [*clean, *argv])

    def stop(self) -> None:
        """Remove every job, stop the daemons, kill what is left in the chroot, unmount."""
        _stop(self.base_dir, self._master)
        self._master = None


def _chroot_argv(
    root: Path, user: str | None, cwd: str | Path | None, argv: Sequence[str]
) -> list[str]:
    as_user = ["/usr/sbin/runuser", "-u", user, "--"] if user else []
    # chroot itself starts in /: change to the wanted directory inside.
    shell = 'cd "$1" || exit 125; shift; exec "$@"'
    return ["chroot", str(root), *as_user, "/bin/sh", "-c", shell, "sh", str(cwd or "/"), *argv]


def _chroot_env() -> dict[str, str]:
    return {"PATH": _PATH, "LANG": "C.UTF-8"}


def start(
    base_dir: str | os.PathLike[str],
    cpus: int = 8,
    memory_mib: int | None = None,
    *,
    user: str = users.DEFAULT_USER,
    share: Sequence[str | os.PathLike[str]] | None = None,
    timeout: float = 120.0,
) -> HTCondorPool:
    """Mount the chroot under ``base_dir``, start the pool and wait until its slot is
    advertised and the schedd answers. ``share``: host directories bind-mounted read-only
    at the same path (default: the project's checkout and the interpreter's installation).
    Builds the cached root file system first if needed. Raises HTCondorUnavailable with
    the master's log tail if the pool does not come up; nothing is left running then."""
    try:
        account = users.ensure_user(user)
    except users.UserUnavailable as exc:
        raise HTCondorUnavailable(str(exc)) from None
    lower = rootfs()
    base = Path(base_dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    shared = tuple(Path(p).resolve() for p in (share if share is not None else _default_share()))
    pool = HTCondorPool(
        base, user, free_port(), cpus, memory_mib or schedulable_memory_mib(), shared
    )
    pool.env = {**os.environ, "PATH": f"{pool.bin_dir}:{os.environ.get('PATH', _PATH)}"}
    try:
        _mount(pool, lower)
        _add_user(pool, account.pw_uid, account.pw_gid)
        _configure(pool)
        _write_wrappers(pool)
        with open(base / "master.log", "ab") as log:
            pool._master = subprocess.Popen(
                ["chroot", str(pool.root), "/usr/sbin/condor_master", "-f"],
                env=_chroot_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
                start_new_session=True,
            )
        _wait_ready(pool, timeout)
    except BaseException:
        pool.stop()
        raise
    return pool


def _default_share() -> list[Path]:
    return [PROJECT, Path(sys.base_prefix).resolve()]


def _mount(pool: HTCondorPool, lower: Path) -> None:
    base, root = pool.base_dir, pool.root
    for sub in ("upper", "overlay-work", "root"):
        (base / sub).mkdir(exist_ok=True)
    users.user_dir(pool.work_dir, pool.user)
    options = f"lowerdir={lower},upperdir={base / 'upper'},workdir={base / 'overlay-work'}"
    _check(["mount", "-t", "overlay", "overlay", "-o", options, str(root)], "mount overlay", 60)
    _check(["mount", "-t", "proc", "proc", str(root / "proc")], "mount proc", 60)
    _bind(Path("/dev"), root, recursive=True)
    _bind(pool.work_dir, root)
    for path in pool.shared:
        _bind(path, root, read_only=True)
    if any(Path("/root") in path.parents for path in pool.shared):
        (root / "root").chmod(0o711)  # in the overlay: the host's /root is not touched
    shutil.copyfile("/etc/hosts", root / "etc" / "hosts")


def _bind(source: Path, root: Path, *, recursive: bool = False, read_only: bool = False) -> None:
    target = root / source.relative_to("/")
    target.mkdir(parents=True, exist_ok=True)
    _check(["mount", "--rbind" if recursive else "--bind", str(source), str(target)], "bind", 60)
    # A slave: the host's mount events reach the chroot, the chroot's never reach the host
    # (unmounting a shared copy of /dev/pts would unmount the host's).
    _check(["mount", "--make-rslave", str(target)], "make-rslave", 60)
    if read_only:
        _check(["mount", "-o", "remount,bind,ro", str(target)], "remount read-only", 60)


def _add_user(pool: HTCondorPool, uid: int, gid: int) -> None:
    if pool.run("id", "-u", pool.user, check=False).returncode == 0:
        return
    pool.run("groupadd", "-g", str(gid), pool.user)
    pool.run("useradd", "-u", str(uid), "-g", str(gid), "-m", "-s", "/bin/bash", pool.user)


def _configure(pool: HTCondorPool) -> None:
    settings = {
        "COLLECTOR_HOST": f"127.0.0.1:{pool.port}",
        "SHARED_PORT_PORT": str(pool.port),
        "ENABLE_IPV6": "False",
        "NUM_CPUS": str(pool.cpus),
        "MEMORY": str(pool.memory_mib),
        "SCHEDD_INTERVAL": "1",
        "NEGOTIATOR_INTERVAL": "1",
        "NEGOTIATOR_CYCLE_DELAY": "1",
        "STARTER_UPDATE_INTERVAL": "1",
        "PERIODIC_EXPR_INTERVAL": "1",
        "UPDATE_INTERVAL": "2",
        "MOUNT_UNDER_SCRATCH": "",
        "BASE_CGROUP": "",
    }
    lines = [f"{key} = {value}" for key, value in settings.items()]
    lines += ["use FEATURE : PartitionableSlot", "use POLICY : HOLD_IF_MEMORY_EXCEEDED"]
    (pool.root / "etc" / "condor" / "config.d" / "99-moil").write_text("\n".join(lines) + "\n")


def _write_wrappers(pool: HTCondorPool) -> None:
    pool.bin_dir.mkdir(exist_ok=True)
    for name in WRAPPED:
        inner = _chroot_argv(pool.root, pool.user, "$PWD", [name])
        quoted = " ".join(shlex.quote(a) for a in inner).replace("'$PWD'", '"$PWD"')
        script = pool.bin_dir / name
        script.write_text(
            f"#!/bin/sh\n# {name} of the HTCondor pool in {pool.root}, as {pool.user}\n"
            f'exec env -i PATH={_PATH} LANG=C.UTF-8 {quoted} "$@"\n'
        )
        script.chmod(0o755)


def _wait_ready(pool: HTCondorPool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pool._master is not None and pool._master.poll() is not None:
            break
        slots = pool.run("condor_status", "-af", "Name", check=False, timeout=30)
        if "slot" in slots.stdout and pool.run("condor_q", check=False).returncode == 0:
            return
        time.sleep(0.2)
    logs = sorted((pool.root / "var" / "log" / "condor").glob("*Log"))
    tails = [f"--- {p.name}\n" + p.read_text(errors="replace")[-800:] for p in logs]
    master = (pool.base_dir / "master.log").read_text(errors="replace")[-800:]
    raise HTCondorUnavailable(
        f"the pool did not come up within {timeout:.0f}s\n{master}\n" + "\n".join(tails)
    )


def processes_in(root: Path) -> list[int]:
    """Processes whose root directory is ``root`` (the pool's daemons and jobs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == str(root):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _stop(base: Path, master: subprocess.Popen[bytes] | None) -> None:
    root = base / "root"

    def client(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["chroot", str(root), *argv],
            env=_chroot_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    if (root / "usr" / "sbin" / "condor_master").exists() and processes_in(root):
        client("condor_rm", "-all")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            left = client("condor_q", "-allusers", "-af", "ClusterId")
            if left.returncode != 0 or not left.stdout.strip():
                break
            time.sleep(0.3)
        client("condor_off", "-master")
        deadline = time.monotonic() + 15
        while processes_in(root) and time.monotonic() < deadline:
            time.sleep(0.2)
    kill_and_wait(processes_in(root), grace=2.0)
    if master is not None:
        if master.poll() is None:
            master.kill()
        master.wait(timeout=10)
    unmount_under(root)


def stop_dir(base_dir: str | os.PathLike[str]) -> None:
    """Stop a pool started earlier in ``base_dir`` (possibly by another process)."""
    _stop(Path(base_dir).resolve(), None)


def main(argv: list[str] | None = None) -> int:
    """``build``, ``start DIR [CPUS]``, ``stop DIR``, ``exec DIR -- CMD``, ``with [DIR] -- CMD``."""
    args = sys.argv[1:] if argv is None else argv
    started = time.monotonic()
    if args == ["build"]:
        print(f"# {rootfs()} ready in {time.monotonic() - started:.1f}s")
        return 0
    if len(args) > 2 and args[0] == "exec" and args[2] == "--":
        root = Path(args[1]).resolve() / "root"
        user = users.DEFAULT_USER
        return subprocess.run(
            _chroot_argv(root, user, root.parent / "work", args[3:]), env=_chroot_env(), check=False
        ).returncode
    wanted = with_command(args)
    if wanted:
        return run_with(wanted[0], "moil-condor-", start, wanted[1])
    if len(args) not in (2, 3) or args[0] not in ("start", "stop"):
        print(
            "usage: python -m tests.services.htcondor build | start DIR [CPUS] | stop DIR |"
            " exec DIR -- CMD... | with [DIR] -- CMD...",
            file=sys.stderr,
        )
        return 2
    if args[0] == "stop":
        stop_dir(args[1])
        print(f"# stopped the HTCondor pool in {args[1]}")
        return 0
    pool = start(args[1], int(args[2]) if len(args) == 3 else 8)
    print(
        f"# HTCondor up in {time.monotonic() - started:.1f}s on 127.0.0.1:{pool.port}; "
        f"jobs go in as {pool.user} from {pool.work_dir}"
    )
    print(f"export PATH={pool.env['PATH']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
