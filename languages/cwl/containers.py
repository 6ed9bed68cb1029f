"""CWL ``DockerRequirement`` in Docker or Podman.

cwltool's own container jobs (``DockerCommandLineJob``, ``PodmanCommandLineJob``) build the
``run`` command: every input bound read-only at the path CWL gives it, the output directory
and ``/tmp`` bound writable, writable InitialWorkDir entries as copies (the spec lets a tool
change them without touching the original), ``HOME`` and ``TMPDIR`` as the spec says,
``--user`` with the caller's ids, ``--net=none`` unless ``NetworkAccess`` allows it,
``--memory``/``--cpus`` with ``--strict-memory-limit``/``--strict-cpu-limit``. That is all
CWL-specific and well tested by cwltool's users, so moil keeps it. Two things moil changes,
in subclasses made here:

- obtaining the image goes through ``runner.jobenv.containers.ContainerEngine.ensure_image``, shared
  with WDL: at most once per process and never twice at the same time on a host (cwltool
  would pull in every worker process and rebuild a ``dockerFile`` image for every job);
- cwltool's memory monitor (a ``docker stats`` process and a one-second sleep per job) is
  replaced by a plain wait: moil's job stats record peaks already.

Which engine: Docker by default, Podman with ``--podman``, none with ``--no-container``.
A tool that *requires* a container when no engine works stops the run before anything runs
(``UnsupportedRequirement``, exit 33); a tool that only *hints* at one then runs on the host
(hints need not be honoured), with one warning. ``--default-container IMAGE`` (cwltool's
option) gives every CommandLineTool without a DockerRequirement that image, as a
requirement; ``--no-container`` wins over it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.request
from contextlib import ExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

from runner.errors import UnsupportedRequirement
from runner.jobenv import toolspan
from runner.jobenv.containers import ContainerEngine, ImageUnavailable

if TYPE_CHECKING:
    from cwltool.context import LoadingContext
    from cwltool.process import Process
    from ruamel.yaml.comments import CommentedMap

    from languages.cwl.settings import CwlSettings

log = logging.getLogger(__name__)

_engines: dict[str, ContainerEngine | None] = {}
_job_classes: dict[str, type] = {}


def engine_kind(settings: CwlSettings) -> str | None:
    """``docker``, ``podman``, or None when ``--no-container`` was given."""
    if settings.no_container:
        return None
    return "podman" if settings.podman else "docker"


def usable_engine(kind: str | None) -> ContainerEngine | None:
    """The engine of ``kind`` if it answers (probed once per process), else None."""
    if kind is None:
        return None
    if kind not in _engines:
        engine = ContainerEngine(kind)
        _engines[kind] = engine if engine.unusable_reason() is None else None
    return _engines[kind]


def default_container(settings: CwlSettings) -> str | None:
    """The image of ``--default-container``, unless ``--no-container`` turns containers off."""
    if settings.no_container:
        return None
    return settings.default_container or None


def wants_container(process: Any, settings: CwlSettings) -> bool:
    """Whether a tool's DockerRequirement (or the default container) asks for a container."""
    if process.tool.get("class") != "CommandLineTool":
        return False
    req = process.get_requirement("DockerRequirement")[0]
    return req is not None or default_container(settings) is not None


def check_run(processes: list[Any], settings: CwlSettings) -> None:
    """Before a run: raise UnsupportedRequirement (exit 33) if a tool requires a container
    and none can run; warn once if tools only hint at one and will run on the host."""
    required: list[str] = []
    hinted: list[str] = []
    default = default_container(settings)
    for process in processes:
        if process.tool.get("class") != "CommandLineTool":
            continue
        req, is_required = process.get_requirement("DockerRequirement")
        name = process.tool.get("id", "a tool")
        if req is not None and not is_required:
            hinted.append(name)
        elif req is not None:
            required.append(f"{name} requires a container (DockerRequirement under 'requirements')")
        elif default is not None:
            required.append(f"{name} runs in --default-container {default}")
    if (required or hinted) and settings.singularity:
        raise UnsupportedRequirement(
            "--singularity: moil runs containers with Docker or Podman only (Singularity "
            "is not supported); use Docker, --podman, or --no-container"
        )
    kind = engine_kind(settings)
    if not (required or hinted) or usable_engine(kind) is not None:
        return
    if required and kind is None:
        raise UnsupportedRequirement(
            f"{required[0]} but --no-container was given. Run without --no-container, with "
            "Docker (or Podman and --podman) available."
        )
    if required:
        assert kind is not None
        reason = ContainerEngine(kind).unusable_reason() or "it did not answer"
        other = "--podman" if kind == "docker" else "Docker (without --podman)"
        raise UnsupportedRequirement(
            f"{required[0]} and {kind} is not usable here: {reason.strip()[-400:]}\n"
            f"Start {kind} (or point DOCKER_HOST at a running daemon), or use {other}."
        )
    if kind is not None:
        log.warning(
            "%d tool(s) hint at a container (DockerRequirement under 'hints') but %s is not "
            "usable here: they run on this host without their images",
            len(hinted),
            kind,
        )


def configure(rc: Any, settings: CwlSettings) -> None:
    """Set the container part of cwltool's RuntimeContext ``rc`` from the run's settings."""
    engine = usable_engine(engine_kind(settings))
    rc.use_container = engine is not None
    rc.podman = engine is not None and engine.kind == "podman"
    if engine is None:
        return
    rc.custom_net = settings.custom_net or engine.network_mode
    rc.strict_cpu_limit = settings.strict_cpu_limit
    rc.no_match_user = settings.no_match_user
    rc.no_read_only = settings.no_read_only
    rc.pull_image = not settings.disable_pull
    rc.force_docker_pull = settings.force_docker_pull
    rc.rm_container = not settings.leave_container
    image = default_container(settings)
    if image is not None:  # cwltool adds {dockerPull: image} to the tool's requirements
        rc.find_default_container = partial(_same_image, image)


def _same_image(image: str, tool: Any) -> str:
    return image


def make_tool(toolpath_object: CommentedMap, loadingContext: LoadingContext) -> Process:  # noqa: N803
    """cwltool's ``construct_tool_object``: its own, but CommandLineTools run containers
    through moil's job classes."""
    from cwltool.workflow import default_make_tool

    if toolpath_object.get("class") == "CommandLineTool":
        tool: Process = _tool_class()(toolpath_object, loadingContext)
        return tool
    return default_make_tool(toolpath_object, loadingContext)


_tool_classes: list[type] = []


def _tool_class() -> type:
    if not _tool_classes:
        from cwltool.command_line_tool import CommandLineTool
        from cwltool.docker import DockerCommandLineJob

        class MoilCommandLineTool(CommandLineTool):
            """cwltool's CommandLineTool with moil's container jobs."""

            def make_job_runner(self, runtimeContext: Any) -> Any:  # noqa: N803 (cwltool's)
                runner = super().make_job_runner(runtimeContext)
                if isinstance(runner, type) and issubclass(runner, DockerCommandLineJob):
                    return job_class("podman" if runtimeContext.podman else "docker")
                return runner

        _tool_classes.append(MoilCommandLineTool)
    return _tool_classes[0]


def job_class(kind: str) -> type:
    """cwltool's container job for ``kind``, getting its image through runner.jobenv.containers."""
    if kind in _job_classes:
        return _job_classes[kind]
    from cwltool.docker import DockerCommandLineJob, PodmanCommandLineJob
    from cwltool.errors import WorkflowException

    base = PodmanCommandLineJob if kind == "podman" else DockerCommandLineJob

    class MoilContainerJob(base):  # type: ignore[misc,valid-type] # cwltool's base
        """A cwltool container job whose image comes from runner.jobenv.containers."""

        def get_from_requirements(
            self,
            r: dict[str, Any],
            pull_image: bool,
            force_pull: bool,
            tmp_outdir_prefix: str,
            image_base_path: str | None = None,
        ) -> str | None:
            engine = usable_engine(kind) or ContainerEngine(kind)
            self.docker_exec = engine.binary
            try:
                return obtain_image(engine, r, pull_image, tmp_outdir_prefix, force=force_pull)
            except ImageUnavailable as exc:
                raise WorkflowException(str(exc)) from None

        def create_runtime(self, env: Any, runtime_context: Any) -> tuple[list[str], str | None]:
            runtime, cidfile = super().create_runtime(env, runtime_context)
            if os.geteuid() == 0:  # rootful Podman refuses keep-id; root's ids need no map
                runtime = [arg for arg in runtime if arg != "--userns=keep-id"]
            if cidfile:  # the container goes if this worker is killed (run() ends it)
                engine = usable_engine(kind) or ContainerEngine(kind)
                self._moil_cleanup.enter_context(engine.guard(cidfile, cidfile=True))
            return runtime, cidfile

        def run(self, runtimeContext: Any, tmpdir_lock: Any = None) -> None:  # noqa: N803
            with self._moil_cleanup:
                super().run(runtimeContext, tmpdir_lock)

        def _setup(self, runtimeContext: Any) -> None:  # noqa: N803 (cwltool's)
            # cwltool refuses a staged input that is not a regular file; a FIFO or device
            # (/dev/null) is bound into the container as it is: hide it from that check
            from languages.cwl.files import is_special_file

            mapper = self.pathmapper
            special = [
                (key, ent)
                for key, ent in mapper.items()
                if ent.type == "File" and ent.staged and is_special_file(ent.resolved)
            ]
            for key, ent in special:
                mapper.update(key, ent.resolved, ent.target, ent.type, False)
            try:
                super()._setup(runtimeContext)
            finally:
                for key, ent in special:
                    mapper.update(key, ent.resolved, ent.target, ent.type, True)

        @property
        def _moil_cleanup(self) -> ExitStack:
            stack: ExitStack | None = self.__dict__.get("_moil_stack")
            if stack is None:
                stack = self.__dict__["_moil_stack"] = ExitStack()
            return stack

        def docker_monitor(self, cidfile: str, *args: Any) -> None:
            process = args[-1]
            toolspan.begin()
            process.wait()
            toolspan.end()

    MoilContainerJob.__name__ = f"Moil{kind.capitalize()}CommandLineJob"
    _job_classes[kind] = MoilContainerJob
    return MoilContainerJob


def obtain_image(
    engine: ContainerEngine,
    req: dict[str, Any],
    pull: bool,
    scratch_prefix: str,
    *,
    force: bool = False,
) -> str:
    """The image a DockerRequirement names, made present in ``engine`` (see ensure_image).

    ``dockerImageId`` names the image (``dockerPull`` when absent); ``dockerLoad`` and
    ``dockerImport`` may be local paths or URLs (a ``dockerLoad`` URL is fetched to a
    temporary file under ``scratch_prefix``'s directory first). ``force``
    (``--force-docker-pull``): an image that is only pulled is pulled even if present."""
    image = req.get("dockerImageId") or req.get("dockerPull")
    if not image:
        raise ImageUnavailable(
            "DockerRequirement names no image: give dockerPull, or dockerImageId with "
            "dockerLoad, dockerImport or dockerFile"
        )
    load = req.get("dockerLoad")
    scratch = None
    if load and "://" in load and not load.startswith("file://"):
        scratch = tempfile.mkdtemp(dir=os.path.dirname(scratch_prefix) or None)
        load = _fetch(load, os.path.join(scratch, "image.tar"))
    try:
        engine.ensure_image(
            str(image),
            load_from=load.removeprefix("file://") if load else None,
            import_from=req.get("dockerImport"),
            dockerfile=req.get("dockerFile"),
            pull=pull,
            force_pull=force and pull,
        )
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return str(image)


def _fetch(url: str, path: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except OSError as exc:
        raise ImageUnavailable(f"cannot fetch dockerLoad {url}: {exc}") from None
    return path
