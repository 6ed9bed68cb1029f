"""Run a command in a Docker or Podman container; language-agnostic.

Both front ends use this module: CWL's ``DockerRequirement`` and WDL's ``runtime.docker`` /
``runtime.container`` decide *what* to run (image, command, mounts, environment); this
module decides *how*: which engine, getting the image once, and the ``run`` command line.

- ``detect_engine(choice)`` turns ``--container docker|podman|auto|none`` into an engine or
  ``None`` (run on the host). ``auto`` picks docker if its daemon answers, else podman if it
  runs, else ``None``; an explicit engine that does not work raises
  ``ContainerEngineUnavailable`` (exit 33, as for any requirement moil cannot meet here).
- ``ContainerEngine.ensure_image`` makes an image present: kept if the engine already has
  it, else loaded, imported, built or pulled. At most once per process (a process-wide
  lock and a set of images known present) and never twice at the same time on one host
  (an ``flock`` in ``lock_dir``, which callers point at the job store's or work directory's
  shared location), so concurrent workers and Slurm jobs do not pull the same image twice.
- ``run_argv`` builds ``docker run`` / ``podman run``; ``run`` executes it with output
  redirected to files and a timeout, and kills the container (by its ``--name``) when the
  timeout passes or the caller is interrupted. ``kill_running`` kills every container this
  process started and still runs (for a worker's SIGTERM handler). ``guard`` kills a
  container if its process is killed outright (SIGKILL leaves no time to clean up).

Errors: ``ContainerEngineUnavailable`` (runner.errors.UnsupportedRequirement) and
``ImageUnavailable`` (runner.errors.JobError); both name the engine and the image and say
what to do.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from runner.errors import JobError, UnsupportedRequirement
from runner.jobenv import toolspan

log = logging.getLogger(__name__)

ENGINES = ("docker", "podman")
CHOICES = ("auto", "docker", "podman", "none")
_PROBE_TIMEOUT = 30.0
# Records which Dockerfile text an image was built from (a digest), so a changed text rebuilds.
_DOCKERFILE_LABEL = "org.moil.dockerfile"

# Variables that select which daemon or store an engine command talks to.
_ENGINE_ENV = ("DOCKER_HOST", "DOCKER_CONTEXT", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF")

# The watchdog of ContainerEngine.guard: $1 the pid to outlive, $2 a container name or the
# path of its cidfile ($3 says which), $4 the engine's client.
_GUARD = (
    'while kill -0 "$1" 2>/dev/null; do sleep 1; done; c="$2"; '
    'if [ "$3" = cidfile ]; then c=$(cat "$2" 2>/dev/null) || exit 0; fi; '
    '"$4" kill "$c" >/dev/null 2>&1; "$4" rm --force "$c" >/dev/null 2>&1'
)

_lock = threading.Lock()
_image_locks: dict[str, threading.Lock] = {}
_images_present: set[str] = set()
_probed: dict[str, str | None] = {}  # engine key -> None if usable, else the reason
#: container name -> (engine, its client process), while run() waits
_running: dict[str, tuple[ContainerEngine, subprocess.Popen[bytes]]] = {}


class ContainerEngineUnavailable(UnsupportedRequirement):
    """No usable container engine where one is required (exit 33)."""


class ImageUnavailable(JobError):
    """The engine works but the image cannot be pulled, loaded, imported or built."""


@dataclass(frozen=True)
class Mount:
    """A host path bound into the container; read-only unless ``writable``."""

    source: str
    target: str
    writable: bool = False


@dataclass(frozen=True)
class ContainerResult:
    """How a container run ended. ``exit_code`` is the engine client's: the command's own
    code, 125-127 for engine or exec errors, 137 when killed (timeout, out of memory)."""

    exit_code: int
    timed_out: bool
    name: str


def detect_engine(
    choice: str = "auto", *, lock_dir: str | os.PathLike[str] | None = None
) -> ContainerEngine | None:
    """The engine for ``choice`` (one of CHOICES), or None for ``none`` or when ``auto``
    finds nothing usable. Raises ContainerEngineUnavailable for an explicit engine that does
    not work, ValueError for an unknown choice."""
    if choice not in CHOICES:
        raise ValueError(f"unknown container engine {choice!r}; choose one of {CHOICES}")
    if choice == "none":
        return None
    if choice != "auto":
        engine = ContainerEngine(choice, lock_dir=lock_dir)
        engine.check()
        return engine
    for kind in ENGINES:
        engine = ContainerEngine(kind, lock_dir=lock_dir)
        if engine.unusable_reason() is None:
            return engine
    return None


def running_containers() -> list[str]:
    """The names of the containers ``run`` started in this process and still waits for."""
    with _lock:
        return list(_running)


def kill_running() -> None:
    """Kill every container that ``run`` started in this process and still waits for."""
    with _lock:
        running = list(_running.items())
    for name, (engine, process) in running:
        # a container that is created but not started yet ignores a kill: stop() retries
        # until the client exits
        engine.stop(name, process)


class ContainerEngine:
    """Docker or Podman, invoked through its command-line client.

    ``binary`` defaults to the engine's name looked up on PATH; ``env`` (default: this
    process's environment at each call) selects the daemon (``DOCKER_HOST``) or Podman's
    configuration (``CONTAINERS_CONF``...). ``lock_dir`` is where image locks live
    (default: ``moil-image-locks-UID`` in the system's temporary directory).
    ``network_mode`` is what ``network=True`` means: ``$MOIL_CONTAINER_NETWORK`` if set,
    else the engine's default network (a bridge, as cwltool and miniwdl do); ``"host"``
    where the daemon has no bridge network, as moil's test daemons do."""

    def __init__(
        self,
        kind: str,
        *,
        binary: str | None = None,
        env: Mapping[str, str] | None = None,
        lock_dir: str | os.PathLike[str] | None = None,
        network_mode: str | None = None,
    ) -> None:
        if kind not in ENGINES:
            raise ValueError(f"unknown container engine {kind!r}; choose one of {ENGINES}")
        self.kind = kind
        self.binary = binary or kind
        self._env = dict(env) if env is not None else None
        default_locks = Path(tempfile.gettempdir()) / f"moil-image-locks-{os.getuid()}"
        self.lock_dir = Path(lock_dir) if lock_dir is not None else default_locks
        self.network_mode = network_mode or os.environ.get("MOIL_CONTAINER_NETWORK") or None

    def __repr__(self) -> str:
        return f"ContainerEngine({self.kind!r}, binary={self.binary!r})"

    @property
    def env(self) -> dict[str, str]:
        """The environment engine commands run with."""
        return dict(self._env) if self._env is not None else dict(os.environ)

    def _key(self) -> str:
        """What identifies the engine this object reaches: the client that PATH gives and
        the variables that select its daemon or store."""
        env = self.env
        client = shutil.which(self.binary, path=env.get("PATH")) or f"missing {self.binary}"
        selectors = ",".join(f"{name}={env.get(name, '')}" for name in _ENGINE_ENV)
        return f"{self.kind}|{client}|{selectors}"

    def _call(self, argv: Sequence[str], timeout: float | None) -> subprocess.CompletedProcess[str]:
        """Run an engine command, capturing its output; raises FileNotFoundError and
        subprocess.TimeoutExpired."""
        return subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def unusable_reason(self) -> str | None:
        """None if the engine answers (probed once per process), else why it does not."""
        key = self._key()
        with _lock:
            if key in _probed:
                return _probed[key]
        if self.kind == "docker":
            probe = [self.binary, "version", "--format", "{{.Server.Version}}"]
        else:
            probe = [self.binary, "info", "--format", "{{.Store.GraphRoot}}"]
        try:
            done = self._call(probe, _PROBE_TIMEOUT)
            reason = None if done.returncode == 0 else (done.stderr or done.stdout).strip()
        except FileNotFoundError:
            reason = f"{self.binary} is not installed (not found on PATH)"
        except subprocess.TimeoutExpired:
            reason = f"{' '.join(probe)} did not answer within {_PROBE_TIMEOUT:.0f}s"
        with _lock:
            _probed[key] = reason
        return reason

    def check(self) -> None:
        """Raise ContainerEngineUnavailable, saying what to do, unless the engine works."""
        reason = self.unusable_reason()
        if reason is None:
            return
        where = ""
        if self.kind == "docker":
            where = f" (DOCKER_HOST={self.env.get('DOCKER_HOST', 'unset: the default socket')})"
        raise ContainerEngineUnavailable(
            f"container engine {self.kind} is not usable{where}: {reason[-600:]}\n"
            f"Start the {self.kind} daemon or install {self.kind}, choose the other engine, "
            "or run the tools on this host without containers."
        )

    def has_image(self, image: str) -> bool:
        """Whether the engine holds ``image`` now."""
        return self._present(image, None)

    def image_id(self, image: str) -> str | None:
        """The ID (content digest) of ``image`` as the engine holds it now, or None."""
        done = self._call([self.binary, "image", "inspect", "--format", "{{.Id}}", image], 120)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def _present(self, image: str, dockerfile_digest: str | None) -> bool:
        label = f'{{{{index .Config.Labels "{_DOCKERFILE_LABEL}"}}}}'
        inspect = [self.binary, "image", "inspect", "--format", label, image]
        done = self._call(inspect, 120)
        if done.returncode != 0:
            return False
        return dockerfile_digest is None or done.stdout.strip() == dockerfile_digest

    def ensure_image(
        self,
        image: str,
        *,
        load_from: str | os.PathLike[str] | None = None,
        import_from: str | os.PathLike[str] | None = None,
        dockerfile: str | None = None,
        pull: bool = True,
        timeout: float | None = None,
        force_pull: bool = False,
    ) -> None:
        """Make ``image`` present. Kept if the engine has it; otherwise ``docker load`` of
        the tarball ``load_from``, ``docker import`` of the root file system tarball
        ``import_from`` under the name ``image``, a build of the ``dockerfile`` text (empty
        context) tagged ``image``, or a pull (unless ``pull`` is False: then a missing image
        is an error). An image built from a Dockerfile is kept only if it was built from the
        same text (a label records its digest). ``force_pull``: an image obtained by a pull
        is pulled even if the engine has it (once per process, as the rest). Each image is obtained at most once per
        process and by one process at a time on this host (see the module docstring).

        Raises ContainerEngineUnavailable if the engine does not work and ImageUnavailable
        if the image cannot be obtained."""
        self.check()
        digest = hashlib.sha256(dockerfile.encode()).hexdigest()[:16] if dockerfile else None
        key = f"{self._key()}|{image}|{digest or ''}"
        with _lock:
            if key in _images_present:
                return
            image_lock = _image_locks.setdefault(key, threading.Lock())
        with image_lock:
            if key in _images_present:
                return
            with self._host_lock(key):
                by_pull = load_from is None and import_from is None and not dockerfile
                if (force_pull and by_pull) or not self._present(image, digest):
                    if load_from is None and import_from is None and not dockerfile and not pull:
                        raise ImageUnavailable(
                            f"{self.kind} has no image {image} and pulling is disabled: "
                            f"load it first ('{self.kind} load -i IMAGE.tar') or allow pulls"
                        )
                    self._obtain(image, load_from, import_from, dockerfile, timeout)
            with _lock:
                _images_present.add(key)

    def forget(self, image: str) -> None:
        """Drop this process's record that ``image`` is present (after it was removed behind
        ensure_image's back), so the next ensure_image looks and obtains it again."""
        prefix = f"{self._key()}|{image}|"
        with _lock:
            _images_present.difference_update({k for k in _images_present if k.startswith(prefix)})

    @contextmanager
    def _host_lock(self, key: str) -> Iterator[None]:
        # One lock file per host and image: hosts sharing lock_dir still pull in parallel.
        folder = self.lock_dir / socket.gethostname()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".lock")
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _obtain(
        self,
        image: str,
        load_from: str | os.PathLike[str] | None,
        import_from: str | os.PathLike[str] | None,
        dockerfile: str | None,
        timeout: float | None,
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="moil-build-") as context:
            if load_from is not None:
                how, argv = "load", [self.binary, "load", "--input", str(load_from)]
            elif import_from is not None:
                how, argv = "import", [self.binary, "import", str(import_from), image]
            elif dockerfile is not None:
                Path(context, "Dockerfile").write_text(dockerfile)
                how = "build"
                network = ["--network", self.network_mode] if self.network_mode else []
                label = (
                    f"{_DOCKERFILE_LABEL}={hashlib.sha256(dockerfile.encode()).hexdigest()[:16]}"
                )
                argv = [self.binary, "build", *network, "--label", label, "--tag", image, context]
            else:
                how, argv = "pull", [self.binary, "pull", image]
            log.info("%s: %s %s", self.kind, how, image)
            try:
                done = self._call(argv, timeout)
                output = (done.stderr or done.stdout).strip()[-800:]
                failed = done.returncode != 0
            except subprocess.TimeoutExpired:
                failed, output = True, f"no answer within {timeout}s"
        if not failed and not self.has_image(image):
            failed, output = True, f"{how} succeeded but gave no image named {image}"
        if failed:
            raise ImageUnavailable(
                f"{self.kind} could not {how} image {image}: {output}\n"
                f"Make the image available to {self.kind} first (e.g. '{self.kind} load -i "
                f"IMAGE.tar' on a machine without registry access), or run without containers."
            )

    def run_argv(
        self,
        image: str,
        command: Sequence[str],
        *,
        mounts: Sequence[Mount] = (),
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        user: tuple[int, int] | Literal["caller", "image"] = "caller",
        network: bool = False,
        memory: int | None = None,
        cores: float | None = None,
        name: str | None = None,
        remove: bool = True,
        interactive: bool = False,
    ) -> list[str]:
        """The ``run`` command line. ``user``: a (uid, gid) to run as, ``"caller"`` for this
        process's (files written in mounts then belong to the caller), ``"image"`` for the
        image's own user. ``network=False`` gives ``--network none``; True gives
        ``network_mode`` (no option if that is None). ``memory`` in bytes, ``cores`` may be
        fractional. ``interactive`` keeps stdin open (needed to feed the command's stdin).
        Never pulls: call ensure_image first."""
        argv = [self.binary, "run", "--pull=never"]
        if remove:
            argv.append("--rm")
        if name:
            argv += ["--name", name]
        if interactive:
            argv.append("--interactive")
        if not network:
            argv += ["--network", "none"]
        elif self.network_mode:
            argv += ["--network", self.network_mode]
        if user != "image":
            uid, gid = (os.geteuid(), os.getegid()) if user == "caller" else user
            if self.kind == "podman" and os.geteuid() != 0:
                # Rootless: map the caller to itself so files are not owned by a subuid.
                argv.append("--userns=keep-id")
            argv += ["--user", f"{uid}:{gid}"]
        if workdir:
            argv += ["--workdir", workdir]
        for key, value in sorted((env or {}).items()):
            argv += ["--env", f"{key}={value}"]
        for mount in mounts:
            argv += ["--mount", self._mount_spec(mount)]
        if memory is not None:
            argv += ["--memory", str(int(memory))]
        if cores is not None:
            argv += ["--cpus", f"{cores:g}"]
        return [*argv, image, *command]

    def _mount_spec(self, mount: Mount) -> str:
        fields = ["type=bind", f"source={mount.source}", f"target={mount.target}"]
        if any("," in f or '"' in f for f in fields):
            if self.kind == "podman":
                raise ValueError(f"podman cannot bind a path containing ',' or '\"': {mount}")
            # docker reads --mount as one CSV record: quote a field that holds a comma.
            fields = ['"' + f.replace('"', '""') + '"' for f in fields]
        if not mount.writable:
            fields.append("readonly")
        return ",".join(fields)

    def run(
        self,
        image: str,
        command: Sequence[str],
        *,
        stdin: str | os.PathLike[str] | None = None,
        stdout: str | os.PathLike[str] | None = None,
        stderr: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        name: str | None = None,
        mounts: Sequence[Mount] = (),
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        user: tuple[int, int] | Literal["caller", "image"] = "caller",
        network: bool = False,
        memory: int | None = None,
        cores: float | None = None,
        remove: bool = True,
    ) -> ContainerResult:
        """Run ``command`` in ``image`` and wait (the other options are run_argv's).
        ``stdin`` is a file fed to the command; ``stdout``/``stderr`` files receive its
        output (None: this process's streams). On timeout the container is killed and the
        result says ``timed_out``; if the caller is interrupted (KeyboardInterrupt, any
        exception) the container is killed before the exception propagates. (Over 60 lines
        by its keyword arguments, passed on to run_argv one per line.)"""
        name = name or f"moil-{uuid.uuid4().hex[:16]}"
        argv = self.run_argv(
            image,
            command,
            mounts=mounts,
            workdir=workdir,
            env=env,
            user=user,
            network=network,
            memory=memory,
            cores=cores,
            name=name,
            remove=remove,
            interactive=stdin is not None,
        )
        with (
            _open(stdin, "rb") as fin,
            _open(stdout, "wb") as fout,
            _open(stderr, "wb") as ferr,
            self.guard(name),
            # Podman's conmon writes a file named 'oom' into its working directory when the
            # container runs out of memory: not into the caller's.
            tempfile.TemporaryDirectory(prefix="moil-engine-") as scratch,
        ):
            process = subprocess.Popen(
                argv,
                cwd=scratch,
                env=self.env,
                stdin=fin if fin is not None else subprocess.DEVNULL,
                stdout=fout,
                stderr=ferr,
            )
            with _lock:
                _running[name] = (self, process)
            toolspan.begin()
            try:
                return self._wait(name, process, timeout)
            finally:
                toolspan.end()
                with _lock:
                    _running.pop(name, None)

    @contextmanager
    def guard(self, container: str, *, cidfile: bool = False) -> Iterator[None]:
        """While the block runs, a watchdog kills and removes ``container`` (a name, or
        with ``cidfile`` the path of the file ``run --cidfile`` writes its id to) if this
        process disappears: a worker killed with SIGKILL cannot stop its containers, and a
        container outlives the client that started it. The watchdog is a ``sh`` in a
        session of its own (a kill of the worker's process group spares it) that polls
        this process once a second; it ends with the block."""
        watchdog = subprocess.Popen(
            ["sh", "-c", _GUARD, "moil-container-guard", str(os.getpid()), container]
            + ["cidfile" if cidfile else "name", self.binary],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield
        finally:
            watchdog.kill()
            watchdog.wait()

    def _wait(
        self, name: str, process: subprocess.Popen[bytes], timeout: float | None
    ) -> ContainerResult:
        try:
            return ContainerResult(process.wait(timeout), False, name)
        except subprocess.TimeoutExpired:
            log.warning("%s: container %s timed out after %ss", self.kind, name, timeout)
            self.stop(name, process)
            return ContainerResult(process.returncode, True, name)
        except BaseException:
            self.stop(name, process)
            raise

    def kill(self, name: str) -> bool:
        """Kill the container ``name``; False if the engine knows no such running container."""
        return self._call([self.binary, "kill", name], 60).returncode == 0

    def stop(self, name: str, process: subprocess.Popen[bytes]) -> None:
        """Kill the container ``name`` run by the client ``process`` and remove it. The
        container may not exist or run yet when the client was just started: the kill is
        retried until the client exits, then whatever is left is removed."""
        for _ in range(30):
            self.kill(name)
            try:
                process.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                continue
        if process.poll() is None:
            process.kill()
            process.wait()
        self._call([self.binary, "rm", "--force", name], 60)


@contextmanager
def _open(path: str | os.PathLike[str] | None, mode: str) -> Iterator[IO[bytes] | None]:
    if path is None:
        yield None
        return
    with open(path, mode) as handle:
        yield handle
