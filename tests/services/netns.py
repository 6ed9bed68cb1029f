"""Another host on this machine, for workers that must share nothing with the leader but
the network: a network namespace joined to this one by a veth pair, and in it a private
mount namespace in which the leader's directories are hidden.

- Network: the pair gets a /30 of its own in 10.200.0.0/16 (the first block no interface of
  this host uses); this side holds ``Host.address``, the other host ``Host.peer_address``.
  The other host has its own loopback and no route elsewhere, so it reaches this host's
  servers only where they listen on ``Host.address`` (start them there: ``s3.start(kind,
  dir, host=h.address)``), never what listens on 127.0.0.1. No address but these two is
  ever set or contacted. ``cut()`` sets this side's link down: the other host's packets are
  lost (requests time out, as in a partition) while this host still reaches its own
  address; ``restore()`` sets it up again.
- Files: every command runs under ``unshare --mount`` with an empty tmpfs mounted over each
  ``hidden`` directory (by default ``/tmp``, ``/var/tmp`` and ``$TMPDIR``: where the leader's
  job store and work dirs live in tests), then each ``visible`` directory under one of them
  bound back (the project's checkout and its venv are added when they lie under a hidden
  directory, so the same ``python`` runs there). Writes to a hidden directory stay on that
  tmpfs and vanish with the command. This isolates a test; it is no security boundary (the
  commands run as root and could unmount the tmpfs).

Namespaces are named ``moilh-PID-N`` and links ``mhPID-N`` after the creating process;
``other_host`` removes the ones whose process is gone (a crashed earlier run) before it
makes its own, and its own on exit, after a failure too, killing what still runs inside.
Needs root, iproute2 and util-linux.

Usage by hand::

    python -m tests.services.netns run [--hide DIR]... -- COMMAND...   # on another host
    python -m tests.services.netns clean                               # remove leftovers

No pytest import here; the fixture lives in ``tests/services/fixtures.py``.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.services.host import alive, kill_and_wait

_NETWORK = ipaddress.IPv4Network("10.200.0.0/16")
_NS_NAME = re.compile(r"^moilh-(\d+)-(\d+)$")
_LINK_NAME = re.compile(r"^mh(\d+)-(\d+)$")
_PROJECT = Path(__file__).resolve().parents[2]
_counter = [0]


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made here (the message says why)."""


def default_hidden() -> list[Path]:
    """``/tmp``, ``/var/tmp`` and ``$TMPDIR``: where a test's leader keeps its files."""
    return [Path("/tmp"), Path("/var/tmp"), Path(tempfile.gettempdir())]


def unavailable_reason() -> str | None:
    """Why no other host can be made here, or None when it can (tries one namespace)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for program in ("ip", "unshare", "mount"):
        if shutil.which(program) is None:
            return f"{program} is missing (install iproute2 and util-linux)"
    probe = f"moilh-{os.getpid()}-probe"
    made = _ip("netns", "add", probe, check=False)
    _ip("netns", "del", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    return None


@dataclass
class Host:
    """The other host. ``run``/``popen`` start commands there; ``address`` is this host's
    end of the link (bind servers the other host must reach to it)."""

    name: str
    link: str
    address: str
    peer_address: str
    hidden: tuple[Path, ...]
    visible: tuple[Path, ...]
    _closed: bool = field(default=False, repr=False)

    def command(self, argv: Sequence[str], cwd: str | os.PathLike[str] = "/") -> list[str]:
        """The command line that runs ``argv`` on the other host, in ``cwd`` (resolved
        there, after hiding: a hidden ``cwd`` that is not visible again fails)."""
        lines = ["set -e"]
        kept = [v for v in self.visible if any(v.is_relative_to(h) for h in self.hidden)]
        for fd, path in enumerate(kept, start=3):
            lines.append(f"exec {fd}<{shlex.quote(str(path))}")
        for path in self.hidden:
            lines.append(f"mount -t tmpfs -o mode=1777 moil-hidden {shlex.quote(str(path))}")
        for fd, path in enumerate(kept, start=3):
            # Through the fd opened before hiding; --no-canonicalize keeps mount from
            # resolving /proc/self/fd/N to the path, which now names the empty tmpfs.
            quoted = shlex.quote(str(path))
            lines.append(f"mkdir -p {quoted}")
            lines.append(f"mount --no-canonicalize --bind /proc/self/fd/{fd} {quoted}")
            lines.append(f"exec {fd}<&-")
        lines += [f"cd {shlex.quote(str(cwd))}", 'exec "$@"']
        unshare = ["unshare", "--mount", "--propagation", "private"]
        script = "\n".join(lines)
        return ["ip", "netns", "exec", self.name, *unshare, "sh", "-c", script, "host", *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] = "/",
        timeout: float | None = 300,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` there and wait (output captured as text unless told otherwise)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("check", False)
        environment = dict(os.environ if env is None else env)
        return subprocess.run(self.command(argv, cwd), env=environment, timeout=timeout, **kwargs)  # noqa: PLW1510 - check is in kwargs

    def popen(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] = "/",
        **kwargs: Any,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` there; the Popen's pid is the command itself (each step execs)."""
        environment = dict(os.environ if env is None else env)
        return subprocess.Popen(self.command(argv, cwd), env=environment, **kwargs)

    def cut(self) -> None:
        """Partition: set this side's link down (the other host's packets are lost)."""
        _ip("link", "set", self.link, "down")

    def restore(self) -> None:
        """Heal the partition and wait until the other host's link has carrier again."""
        _ip("link", "set", self.link, "up")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            shown = _ip("-n", self.name, "-o", "link", "show", "eth0", check=False).stdout
            if "LOWER_UP" in shown:
                return
            time.sleep(0.02)
        raise NetnsUnavailable(f"{self.name}: eth0 has no carrier 10 s after restore()")

    def pids(self) -> list[int]:
        """Processes running on the other host."""
        listed = _ip("netns", "pids", self.name, check=False).stdout.split()
        return [int(p) for p in listed if p.isdigit()]

    def close(self) -> None:
        """Kill what runs there, delete the namespace and the link (idempotent)."""
        if not self._closed:
            _remove(self.name, self.link)
            self._closed = True


@contextmanager
def other_host(
    hidden: Sequence[str | os.PathLike[str]] | None = None,
    visible: Sequence[str | os.PathLike[str]] = (),
) -> Iterator[Host]:
    """Make another host (see the module docstring), yield it, remove it on exit.
    ``hidden``: directories covered by an empty tmpfs there (default ``default_hidden()``);
    ``visible``: directories under those shown again. Raises NetnsUnavailable if the
    namespace or link cannot be made; ValueError for a hidden path that is no directory."""
    host = _create(_hidden_paths(hidden), _visible_paths(visible))
    try:
        yield host
    finally:
        host.close()


def _hidden_paths(hidden: Sequence[str | os.PathLike[str]] | None) -> tuple[Path, ...]:
    paths = sorted({Path(p).resolve() for p in (default_hidden() if hidden is None else hidden)})
    for path in paths:
        if path.exists() and not path.is_dir():
            raise ValueError(f"cannot hide {path}: only directories can be hidden")
    existing = [p for p in paths if p.is_dir()]
    # One under another is hidden with it (and would no longer exist to mount on).
    return tuple(p for p in existing if not any(p != q and p.is_relative_to(q) for q in existing))


def _visible_paths(visible: Sequence[str | os.PathLike[str]]) -> tuple[Path, ...]:
    wanted = [*visible, _PROJECT, sys.prefix, sys.base_prefix]
    return tuple(dict.fromkeys(Path(p).resolve() for p in wanted if Path(p).is_dir()))


def _create(hidden: tuple[Path, ...], visible: tuple[Path, ...]) -> Host:
    with _lock():
        remove_leftovers()
        _counter[0] += 1
        name, link = f"moilh-{os.getpid()}-{_counter[0]}", f"mh{os.getpid()}-{_counter[0]}"
        block = _free_block()
        host_ip, peer_ip = str(block[1]), str(block[2])
        steps = [
            ("netns", "add", name),
            ("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name),
            # No IPv6 link-local addresses: nothing but the two addresses below is spoken.
            ("link", "set", link, "addrgenmode", "none"),
            ("-n", name, "link", "set", "eth0", "addrgenmode", "none"),
            ("addr", "add", f"{host_ip}/30", "dev", link),
            ("-n", name, "addr", "add", f"{peer_ip}/30", "dev", "eth0"),
            ("-n", name, "link", "set", "lo", "up"),
            ("-n", name, "link", "set", "eth0", "up"),
            ("link", "set", link, "up"),
        ]
        host = Host(name, link, host_ip, peer_ip, hidden, visible)
        try:
            for step in steps:
                _ip(*step)
            _pin_neighbours(host)
            host.restore()
        except BaseException:
            host.close()
            raise
    return host


def _pin_neighbours(host: Host) -> None:
    """Permanent ARP entries on both ends: after ``cut()`` an entry would be left in a
    failed state and the first connection after ``restore()`` fail with "No route to host"
    (seen: ~0.7 s); with these, the link works the moment it is up."""
    host_mac = _mac(_ip("-o", "link", "show", host.link).stdout)
    peer_mac = _mac(_ip("-n", host.name, "-o", "link", "show", "eth0").stdout)
    _ip(
        "neigh",
        "replace",
        host.peer_address,
        "lladdr",
        peer_mac,
        "dev",
        host.link,
        "nud",
        "permanent",
    )
    _ip(
        "-n",
        host.name,
        "neigh",
        "replace",
        host.address,
        "lladdr",
        host_mac,
        "dev",
        "eth0",
        "nud",
        "permanent",
    )


def _mac(shown: str) -> str:
    found = re.search(r"link/ether ([0-9a-f:]{17})", shown)
    if found is None:
        raise NetnsUnavailable(f"no MAC address in: {shown.strip()}")
    return found.group(1)


def _free_block() -> ipaddress.IPv4Network:
    shown = _ip("-o", "-4", "addr", "show").stdout
    used = set()
    for match in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", shown):
        address = ipaddress.IPv4Address(match.group(1))
        if address in _NETWORK:
            used.add(ipaddress.IPv4Network(f"{address}/30", strict=False))
    for block in _NETWORK.subnets(new_prefix=30):
        if block not in used:
            return block
    raise NetnsUnavailable(f"every /30 of {_NETWORK} is in use")


def remove_leftovers() -> list[str]:
    """Remove namespaces and links of ours whose creating process is gone; return their
    names. Those of live processes (another test session) are left alone."""
    removed = []
    for name in _ip("netns", "list", check=False).stdout.split():
        found = _NS_NAME.match(name)
        if found and not alive(int(found.group(1))):
            _remove(name, None)
            removed.append(name)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        link = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        found = _LINK_NAME.match(link)
        if found and not alive(int(found.group(1))):
            _ip("link", "del", link, check=False)
            removed.append(link)
    return removed


def _remove(name: str, link: str | None) -> None:
    pids = [int(p) for p in _ip("netns", "pids", name, check=False).stdout.split() if p.isdigit()]
    kill_and_wait(pids, grace=5.0)
    _ip("netns", "del", name, check=False)
    if link and _ip("link", "show", link, check=False).returncode == 0:
        _ip("link", "del", link, check=False)


@contextmanager
def _lock() -> Iterator[None]:
    """One process at a time picks an address block and creates its namespace."""
    directory = Path("/run/lock") if Path("/run/lock").is_dir() else Path(tempfile.gettempdir())
    with open(directory / "moil-netns.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.services.netns run [--hide DIR]... -- COMMAND...`` or ``clean``."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["clean"]:
        print("\n".join(f"removed {n}" for n in remove_leftovers()) or "nothing left over")
        return 0
    if args[:1] != ["run"] or "--" not in args:
        print("usage: python -m tests.services.netns run [--hide DIR]... -- COMMAND...")
        print("       python -m tests.services.netns clean")
        return 2
    cut = args.index("--")
    options, command = args[1:cut], args[cut + 1 :]
    if len(options) % 2 or any(o != "--hide" for o in options[::2]) or not command:
        print("usage: python -m tests.services.netns run [--hide DIR]... -- COMMAND...")
        return 2
    hidden = options[1::2] or None
    with other_host(hidden) as host:
        print(
            f"# other host {host.name}: {host.peer_address}, this side {host.address}", flush=True
        )
        return subprocess.run(host.command(command), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
