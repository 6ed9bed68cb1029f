"""The image a cloud batch system runs moil's worker in, built here from local parts.

No registry is reachable from the machines that run moil's tests, so the image AWS Batch
(moto) and the Kubernetes stand-in start is made locally, in two layers:

- **deps** (cached): the ``python`` root file system of ``tests.services.images`` (a
  debootstrapped Debian bookworm with Debian's ``python3``, built once) plus a copy of this
  venv's ``site-packages`` (moil's dependencies: cwltool, miniwdl, boto3... the same
  versions the leader runs; Python 3.11 on both sides) under ``/opt/moil/site-packages``,
  less the development tools (mypy, ruff, pytest, pip) and the Kubernetes client (the worker
  never talks to the API server); the compiled ``*__mypyc`` modules stay (schema-salad's). Kept as a tarball in ``images.cache_dir()`` named after a
  digest of the root file system and the installed distributions; built in ~20 s.
- **moil** (per source tree): moil's own packages (``runner``, ``languages``, ``backends``)
  under ``/opt/moil/src``, copied into a container of the deps image and committed (~3 s),
  tagged ``moil-worker:<deps digest>-<digest of the sources>``.

A ``.pth`` file puts both directories on Debian's ``python3`` path, so ``python3 -m
runner.worker LOCATOR JOB_ID`` works in the image with nothing of the leader's host mounted.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.services.images import (
    ImageBuildError,
    build_step,
    cache_dir,
    image_label,
    rootfs_tarballs,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("runner", "languages", "backends")
IMAGE = "moil-worker"
LABEL = "org.moil.worker"
_PTH = "usr/local/lib/python3.11/dist-packages/moil.pth"
#: what the worker never imports: development tools and the Kubernetes client
_LEFT_OUT = ("mypy", "mypyc", "ruff", "pytest", "_pytest", "pip", "kubernetes", "cwltest")
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def _left_out(name: str) -> bool:
    stem = name.split("-", 1)[0].split(".", 1)[0].lower()
    return stem in _LEFT_OUT


def _deps_digest(base: Path) -> str:
    names = sorted(p.name for p in _site_packages().iterdir() if not _left_out(p.name))
    parts = [base.name, sys.version.split()[0], *names]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def deps_tarball() -> Path:
    """The cached deps root file system (built if missing; one builder at a time)."""
    base = rootfs_tarballs()["python"]
    target = cache_dir() / f"moil-deps-{_deps_digest(base)}.tar"
    with open(cache_dir() / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            _build_deps(base, target)
    return target


def _build_deps(base: Path, target: Path) -> None:
    partial = target.with_suffix(".partial")
    partial.write_bytes(base.read_bytes())
    site = _site_packages()
    with tarfile.open(partial, "a") as tar:
        for entry in sorted(site.iterdir()):
            if not _left_out(entry.name):
                tar.add(entry, arcname=f"./opt/moil/site-packages/{entry.name}")
        pth = b"/opt/moil/src\n/opt/moil/site-packages\n"
        info = tarfile.TarInfo(f"./{_PTH}")
        info.size, info.mode = len(pth), 0o644
        tar.addfile(info, io.BytesIO(pth))
    partial.rename(target)


def _source_digest() -> str:
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO_ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _source_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for package in SOURCE_PACKAGES:
            # with the byte code ``make install`` compiled (checked against the sources'
            # size and mtime, which the archive keeps): a worker does not compile moil again
            tar.add(REPO_ROOT / package, arcname=f"src/{package}")
    return buffer.getvalue()


def load_moil_image(engine: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Make the moil worker image in the engine run as ``engine`` (``["docker", "-H", S]``)
    and return its name (``moil-worker:<digest>``); an image of the same sources is kept.

    Raises ImageBuildError if a step fails."""
    tarball = deps_tarball()
    deps_digest = tarball.stem.rsplit("-", 1)[1]
    deps = f"moil-deps:{deps_digest}"
    name = f"{IMAGE}:{deps_digest[:6]}-{_source_digest()}"
    if image_label(engine, env, name, LABEL) == name:
        return name
    if image_label(engine, env, deps, LABEL) is None:
        changes = [f"ENV PATH={_PATH}", f"LABEL {LABEL}=deps", 'CMD ["python3"]']
        options = [option for change in changes for option in ("--change", change)]
        build_step([*engine, "import", *options, str(tarball), deps], "import moil-deps", env=env)
    container = f"moil-worker-build-{os.getpid()}"
    build_step(
        [*engine, "create", "--network", "none", "--name", container, deps], "create", env=env
    )
    try:
        with tempfile.TemporaryFile() as source:
            source.write(_source_tar())
            source.seek(0)
            done = subprocess.run(
                [*engine, "cp", "-", f"{container}:/opt/moil"],
                stdin=source,
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=False,
            )
        if done.returncode != 0:
            raise ImageBuildError(f"docker cp of moil's sources failed: {done.stderr[-500:]}")
        label = ["--change", f"LABEL {LABEL}={name}"]
        build_step([*engine, "commit", *label, container, name], f"committing {name}", env=env)
    finally:
        subprocess.run([*engine, "rm", "-f", container], env=env, capture_output=True, check=False)
    return name
