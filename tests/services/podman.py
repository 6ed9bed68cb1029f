"""Podman (rootful, daemonless) configured under one private directory.

Podman reads its configuration from ``CONTAINERS_CONF``, ``CONTAINERS_STORAGE_CONF`` and
``CONTAINERS_REGISTRIES_CONF``; ``configure`` writes all three under ``base_dir`` and every
podman command must see them from the very first one (storage settings are fixed by the first
command that creates the store). On this machine kind Podman 4.3 needs:

- ``runtime = "runc"`` and ``cgroup_manager = "cgroupfs"`` (no systemd; crun misbehaves);
- ``netns = "none"``: the default network (a CNI bridge with iptables rules) would change
  the host's network; containers get none unless they ask for ``host``;
- ``default_ulimits`` within what the host lets a process without CAP_SYS_RESOURCE set:
  Podman's own defaults (nofile and nproc 1048576) make runc fail with "error setting
  rlimit type 6/7: operation not permitted". nproc is capped by the host's hard limit and
  ``kernel.pid_max`` (conmon runs with nproc limited to that).

No pytest import here; see ``tests/services/fixtures.py`` and ``tests.services.docker``.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import host as sys_host
from tests.services.images import load_stand_ins

PACKAGES = ("podman", "crun", "fuse-overlayfs", "slirp4netns", "uidmap", "conmon")
_ENV_NAMES = ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF")


class PodmanUnavailable(RuntimeError):
    """Podman cannot be installed or configured here (the message says why)."""


def ensure_installed() -> None:
    """Install Podman and its helpers with apt-get if ``podman`` is missing (needs root)."""
    if shutil.which("podman") and shutil.which("runc") and shutil.which("conmon"):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise PodmanUnavailable("podman is missing and apt-get cannot run here (needs root)")
    try:
        sys_host.apt_install(PACKAGES)
    except RuntimeError as exc:
        raise PodmanUnavailable(str(exc)) from exc


@dataclass
class PodmanSetup:
    """Podman configured under ``base_dir``; ``env`` is the environment for its commands."""

    base_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def exports(self) -> dict[str, str]:
        """The variables a shell needs to use this set-up."""
        return {name: self.env[name] for name in _ENV_NAMES}

    def podman(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a podman command with this set-up."""
        return subprocess.run(
            ["podman", *argv],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def load_images(self) -> list[str]:
        """Import the CWL suite's stand-in images (see tests.services.images)."""
        return load_stand_ins(["podman"], self.env)

    def stop(self) -> None:
        """Remove every container of this set-up; leave no conmon or mount behind."""
        stop_dir(self.base_dir)


def configure(base_dir: str | os.PathLike[str]) -> PodmanSetup:
    """Write Podman's configuration under ``base_dir`` and check ``podman info`` works.

    Raises PodmanUnavailable with podman's message if it does not."""
    ensure_installed()
    base = Path(base_dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    for sub in ("tmp", "net", "run", "storage"):
        (base / sub).mkdir(exist_ok=True)
    nproc = _nproc_limit()
    (base / "containers.conf").write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile=1024:1024", "nproc={nproc}:{nproc}"]\n'
        # No network unless a container asks for one (host): the default would make a
        # bridge (cni-podman0) and iptables rules on the host.
        'netns = "none"\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'events_logfile_path = "{base}/events.log"\n'
        f'tmp_dir = "{base}/tmp"\n'
        "[network]\n"
        f'network_config_dir = "{base}/net"\n'
    )
    (base / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\nrunroot = "{base}/run"\ngraphroot = "{base}/storage"\n'
    )
    # Short names resolve to Docker Hub, as they do for docker.
    (base / "registries.conf").write_text(
        'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n'
    )
    setup = PodmanSetup(base)
    setup.env = {
        **os.environ,
        "CONTAINERS_CONF": str(base / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf"),
    }
    done = setup.podman("info", "--format", "{{.Store.GraphRoot}}", check=False)
    if done.returncode != 0 or done.stdout.strip() != str(base / "storage"):
        raise PodmanUnavailable(f"podman info failed with the private set-up:\n{done.stderr}")
    return setup


def _nproc_limit() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 32768
    return pid_max if hard == resource.RLIM_INFINITY else min(hard, pid_max)


def stop_dir(base_dir: str | os.PathLike[str]) -> None:
    """Remove the containers of the set-up in ``base_dir`` and anything still running or
    mounted under it (conmon, ``podman container cleanup``, overlay mounts)."""
    base = Path(base_dir).resolve()
    if (base / "containers.conf").exists():
        env = {
            **os.environ,
            "CONTAINERS_CONF": str(base / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf"),
        }
        subprocess.run(
            ["podman", "rm", "--all", "--force", "--time", "0"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
    sys_host.kill_and_wait(sys_host.processes_mentioning(base), grace=5.0)
    sys_host.unmount_under(base)
    sys_host.remove_empty_cgroups("libpod_parent")
