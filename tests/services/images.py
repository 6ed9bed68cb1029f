"""Local stand-ins for the container images the CWL conformance suites pull.

No image registry is reachable from the machines that run moil's tests, so the four images
the CWL v1.2 suite names (``docker.io/debian:stable-slim``, ``docker.io/python:3-slim``,
``docker.io/bash:4.4``, ``docker.io/alpine:latest``) are built here from a debootstrapped
Debian bookworm (``--variant=minbase``) and imported under those exact names. They are not
the real images: they carry what the suite's tools run (``sh``, ``bash``, coreutils, ``rev``,
``sort``, ``head``, ``python``/``python3`` with its standard library in the python image) and
mimic the one piece of image configuration a test depends on: ``bash:4.4`` runs
``docker-entrypoint.sh``, which prefixes ``bash`` when the first argument is an option
(``docker-run-cmd.cwl`` runs ``-c "echo moo > cow"`` with no command). The names the v1.0
and v1.1 suites pull are tags of the same images (``debian:stretch-slim``, ``bash:4.4.12``,
``python:3``, and ``python:2-slim`` / ``python:2.7.15-alpine3.7``, which hold Python 3:
those suites' Python scripts run under both), and so are the Ubuntu names the WDL suite's
tasks give (``ubuntu:24.04``, ``22.04``, ``18.04``: they run bash and coreutils).

The root file systems are built once (~1.5 min, needs root, ``debootstrap`` and a Debian
mirror) and cached as tarballs under ``cache_dir()``; later builds only import them.

Usage: ``load_stand_ins(["docker"], env)`` or ``python -m tests.services.docker images DIR``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.services.host import run_checked

log = logging.getLogger(__name__)

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
LABEL = "org.moil.stand-in"
_RECIPE_VERSION = "1"
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# What the real bash image's entrypoint does, in our own words: an option as the first
# argument (or no argument) means "give these to bash".
_ENTRYPOINT = """#!/bin/bash
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    exec bash "$@"
fi
exec "$@"
"""

# Left out of the tarballs: package caches and documentation nobody runs.
_EXCLUDES = (
    "./var/lib/apt/lists/*",
    "./var/cache/apt/*",
    "./var/cache/debconf/*-old",
    "./usr/share/doc/*",
    "./usr/share/man/*",
    "./usr/share/info/*",
    "./usr/share/locale/*",
    "./var/log/*",
)


class ImageBuildError(RuntimeError):
    """The stand-in images cannot be built or imported here (the message says why)."""


@dataclass(frozen=True)
class StandIn:
    """One image, how to make it from a cached root file system, and the other names it is
    tagged with (the names the CWL v1.0 and v1.1 suites pull)."""

    name: str
    rootfs: str  # "base" or "python"
    changes: tuple[str, ...]  # Dockerfile instructions given to ``import --change``
    aliases: tuple[str, ...] = ()


STAND_INS: tuple[StandIn, ...] = (
    StandIn(
        "docker.io/debian:stable-slim",
        "base",
        ('CMD ["bash"]',),
        # The WDL suite's tasks name Ubuntu images and run bash and coreutils in them.
        (
            "docker.io/debian:stretch-slim",
            "docker.io/ubuntu:24.04",
            "docker.io/ubuntu:22.04",
            "docker.io/ubuntu:18.04",
        ),
    ),
    StandIn("docker.io/alpine:latest", "base", ('CMD ["/bin/sh"]',)),
    StandIn(
        "docker.io/bash:4.4",
        "base",
        ('ENTRYPOINT ["docker-entrypoint.sh"]', 'CMD ["bash"]'),
        ("docker.io/bash:4.4.12",),
    ),
    # Python 3 under the v1.0/v1.1 suites' Python 2 names too: their scripts run on both.
    StandIn(
        "docker.io/python:3-slim",
        "python",
        ('CMD ["python3"]',),
        ("docker.io/python:3", "docker.io/python:2-slim", "docker.io/python:2.7.15-alpine3.7"),
    ),
)


def cache_dir() -> Path:
    """Where root file system tarballs are kept: ``$MOIL_IMAGE_CACHE`` or
    ``~/.cache/moil/images``."""
    configured = os.environ.get("MOIL_IMAGE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "moil" / "images"


def recipe_digest(mirror: str = DEFAULT_MIRROR) -> str:
    """A short digest of everything that shapes the tarballs; a change rebuilds them."""
    recipe = {
        "version": _RECIPE_VERSION,
        "suite": SUITE,
        "mirror": mirror,
        "entrypoint": _ENTRYPOINT,
        "excludes": _EXCLUDES,
        "python": ["python3"],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def rootfs_tarballs(cache: Path | None = None, mirror: str | None = None) -> dict[str, Path]:
    """The ``base`` and ``python`` root file system tarballs, built if the cache lacks them.

    Safe to call from several processes at once: one builds, the others wait for it.
    Raises ImageBuildError if debootstrap or the chroot install fails."""
    mirror = mirror or os.environ.get("MOIL_DEBIAN_MIRROR", DEFAULT_MIRROR)
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    digest = recipe_digest(mirror)
    wanted = {flavour: cache / f"{flavour}-{digest}.tar" for flavour in ("base", "python")}
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(path.exists() for path in wanted.values()):
            _build(cache, mirror, wanted)
    return wanted


def _build(cache: Path, mirror: str, wanted: dict[str, Path]) -> None:
    _ensure_debootstrap()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
    rootfs = work / "rootfs"
    try:
        build_step(
            ["debootstrap", "--variant=minbase", SUITE, str(rootfs), mirror],
            "debootstrap",
            timeout=1800,
        )
        entrypoint = rootfs / "usr/local/bin/docker-entrypoint.sh"
        entrypoint.write_text(_ENTRYPOINT)
        entrypoint.chmod(0o755)
        # Docker and Podman supply their own at run time; keep the host's out of the image.
        (rootfs / "etc/resolv.conf").write_text("")
        _tar(rootfs, wanted["base"])
        shutil.copyfile("/etc/resolv.conf", rootfs / "etc/resolv.conf")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PATH": _PATH}
        install = ["chroot", str(rootfs), "apt-get", "install", "-y", "--no-install-recommends"]
        build_step([*install, "python3"], "apt-get install python3 in the chroot", env=env)
        (rootfs / "usr/local/bin/python").symlink_to("/usr/bin/python3")
        (rootfs / "etc/resolv.conf").write_text("")
        _tar(rootfs, wanted["python"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("built stand-in root file systems in %.0fs", time.monotonic() - started)


def _ensure_debootstrap() -> None:
    if shutil.which("debootstrap"):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ImageBuildError("debootstrap is missing and apt-get cannot run here (needs root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"]
    if subprocess.run(argv, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        build_step(argv, "apt-get install debootstrap", env=env)


def _tar(rootfs: Path, target: Path) -> None:
    partial = target.with_suffix(".partial")
    excludes = [f"--exclude={pattern}" for pattern in _EXCLUDES]
    build_step(
        ["tar", "--numeric-owner", *excludes, "-C", str(rootfs), "-cf", str(partial), "."],
        f"tar of {rootfs}",
    )
    partial.rename(target)


def build_step(
    argv: Sequence[str], what: str, *, env: Mapping[str, str] | None = None, timeout: float = 600
) -> None:
    """Run one step of an image build; raises ImageBuildError naming ``what`` if it fails."""
    run_checked(argv, what, ImageBuildError, env=env, timeout=timeout)


def load_stand_ins(
    engine: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    cache: Path | None = None,
) -> list[str]:
    """Put every stand-in into the engine run as ``engine`` (e.g. ``["docker", "-H", S]``
    or ``["podman"]``) with environment ``env``, under its name and aliases (short names such
    as ``debian:stable-slim`` resolve to them: docker.io is both engines' default registry).
    An image already made from the same recipe is kept.

    The first stand-in of each root file system is imported from its tarball; the others
    are committed from it with their own configuration (4x faster than importing again).
    Returns the names made now (empty if all were there)."""
    tarballs = rootfs_tarballs(cache)
    digest = tarballs["base"].stem.rsplit("-", 1)[1]
    made: list[str] = []
    imported: dict[str, str] = {}  # rootfs flavour -> an image holding it
    for stand_in in STAND_INS:
        names = [stand_in.name, *stand_in.aliases]
        if all(image_label(engine, env, name) == digest for name in names):
            imported.setdefault(stand_in.rootfs, stand_in.name)
            continue
        changes = [*stand_in.changes, f"ENV PATH={_PATH}", f"LABEL {LABEL}={digest}"]
        options = [option for change in changes for option in ("--change", change)]
        parent = imported.get(stand_in.rootfs)
        if parent is None:
            tarball = str(tarballs[stand_in.rootfs])
            build_step([*engine, "import", *options, tarball, stand_in.name], "import", env=env)
            imported[stand_in.rootfs] = stand_in.name
        else:
            _commit(engine, env, parent, stand_in.name, options)
        for alias in names[1:]:
            build_step([*engine, "tag", stand_in.name, alias], f"tagging {alias}", env=env)
        made += names
    return made


def _commit(
    engine: Sequence[str],
    env: Mapping[str, str] | None,
    parent: str,
    name: str,
    options: list[str],
) -> None:
    container = f"moil-stand-in-{os.getpid()}"
    build_step(
        [*engine, "create", "--network", "none", "--name", container, parent], "create", env=env
    )
    try:
        build_step([*engine, "commit", *options, container, name], f"committing {name}", env=env)
    finally:
        subprocess.run([*engine, "rm", "-f", container], env=env, capture_output=True, check=False)


def image_label(
    engine: Sequence[str], env: Mapping[str, str] | None, name: str, label: str = LABEL
) -> str | None:
    """Label ``label`` of image ``name`` in the engine (None: no such image or label)."""
    done = subprocess.run(
        [*engine, "image", "inspect", "--format", "{{json .Config.Labels}}", name],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return None
    try:
        labels = json.loads(done.stdout.strip().splitlines()[0]) or {}
    except (ValueError, IndexError):
        return None
    value = labels.get(label)
    return value if isinstance(value, str) else None
