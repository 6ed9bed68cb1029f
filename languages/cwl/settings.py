"""``toil-cwl-runner``'s own options (cwltool's names), declared once (``backends.settings``).

The command line gets them from ``runner.config.options.add_toil_options``; the run's
configuration carries them as ``RunConfig.frontend`` (``cwl_settings(config)`` gives the
typed instance to the code that runs tools). Options that only the command itself reads
(``--outdir``, ``--validate``...) are ``leader_only``: they are not stored in the job store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from backends.settings import Settings, setting
from runner.config.runconfig import RunConfig
from runner.errors import UsageError


def positive_int(text: str) -> int:
    """A whole number of 1 or more."""
    value = int(text)
    if value < 1:
        raise ValueError(f"must be 1 or more, not {value}")
    return value


def _accepted(flag: str) -> Any:
    """A cwltool flag moil takes and ignores (it changes nothing here)."""
    return setting(False, flag, dest=flag[2:].replace("-", "_"), hidden=True)


def _effect(default: Any, flag: str, effect: str, **option: Any) -> Any:
    """A Toil or cwltool option that does not do here what it does there (``effect``: what
    it does; said once at WARNING when given)."""
    return setting(default, flag, dest=flag[2:].replace("-", "_"), effect=effect, **option)


def _cwltool(flag: str, help_text: str) -> Any:
    """A cwltool flag moil passes on to cwltool's own machinery."""
    return setting(False, flag, dest=flag[2:].replace("-", "_"), help=help_text)


NO_DEPENDENCIES = "SoftwareRequirement is not resolved (tools run as they are): no effect"


@dataclass(frozen=True)
class CwlSettings(Settings):
    """The CWL front end's options (``--outdir``, ``--no-container``, ...)."""

    kind: ClassVar[str] = "CWL"

    outdir: str | None = setting(
        None,
        "--outdir",
        leader_only=True,
        help="where final outputs go (default: the current directory)",
    )
    tmpdir_prefix: str | None = setting(
        None,
        "--tmpdir-prefix",
        dest="tmpdir_prefix",
        help="where tools' temporary directories are made",
    )
    tmp_outdir_prefix: str | None = setting(
        None,
        "--tmp-outdir-prefix",
        dest="tmp_outdir_prefix",
        help="where tools' output directories are made",
    )
    basedir: str | None = setting(
        None, "--basedir", leader_only=True, help="the directory relative input paths are read from"
    )
    no_container: bool = setting(
        False,
        "--no-container",
        dest="no_container",
        help="run every tool on this host, ignoring DockerRequirement (a tool that requires "
        "a container then stops the run: exit 33)",
    )
    podman: bool = setting(
        False, "--podman", help="run DockerRequirement tools with Podman instead of Docker"
    )
    singularity: bool = _effect(
        False,
        "--singularity",
        "moil runs containers with Docker or Podman only: a tool "
        "that needs a container then stops the run (exit 33)",
    )
    docker: bool = _cwltool("--docker", "run containers with Docker (the default)")
    no_match_user: bool = _cwltool(
        "--no-match-user", "do not pass this user's uid to docker run --user"
    )
    leave_container: bool = _cwltool("--leave-container", "keep a tool's container after it exits")
    no_read_only: bool = _cwltool(
        "--no-read-only", "do not make a container's root file system read-only"
    )
    disable_pull: bool = _cwltool(
        "--disable-pull", "never pull an image: a tool whose image is missing fails"
    )
    leave_outputs: bool = _accepted("--leave-outputs")
    debug: bool = _accepted("--debug")
    disable_js_validation: bool = _accepted("--disable-js-validation")
    non_strict: bool = _accepted("--non-strict")
    not_strict: bool = _accepted("--not-strict")
    disable_validate: bool = _accepted("--disable-validate")
    fast_parser: bool = _accepted("--fast-parser")
    log_dir: str | None = _effect(
        None, "--log-dir", "not yet: tools' stdout and stderr stay in the job logs"
    )
    no_prepull: bool = _effect(
        False,
        "--no-prepull",
        "moil never pulls ahead of the jobs (a job obtains its image when it first needs it): "
        "no effect",
    )
    force_docker_pull: bool = setting(
        False,
        "--force-docker-pull",
        dest="force_docker_pull",
        help="pull each dockerPull image once per worker even if it is present",
    )
    beta_dependency_resolvers_configuration: str | None = _effect(
        None, "--beta-dependency-resolvers-configuration", NO_DEPENDENCIES
    )
    beta_dependencies_directory: str | None = _effect(
        None, "--beta-dependencies-directory", NO_DEPENDENCIES
    )
    beta_use_biocontainers: bool = _effect(False, "--beta-use-biocontainers", NO_DEPENDENCIES)
    beta_conda_dependencies: bool = _effect(False, "--beta-conda-dependencies", NO_DEPENDENCIES)
    overrides: str | None = _effect(
        None, "--overrides", "not yet: requirements come from the documents only"
    )
    mpi_config_file: str | None = _effect(
        None, "--mpi-config-file", "MPIRequirement is not supported: no effect"
    )
    bypass_file_store: bool = _effect(
        False, "--bypass-file-store", "not yet: files pass through the job store"
    )
    reference_inputs: bool = _effect(
        False, "--reference-inputs", "remote inputs are fetched into the job store once"
    )
    disable_streaming: bool = _effect(
        False, "--disable-streaming", "moil does not stream inputs: no effect"
    )
    cwl_default_ram: bool = _effect(
        True,
        "--cwl-default-ram",
        "tools that give no ramMin get --defaultMemory",
        negate=("--no-cwl-default-ram",),
    )
    cwl_min_ram: str | None = _effect(
        None, "--cwl-min-ram", "not yet: tools get the memory they ask for"
    )
    dest_bucket: str | None = _effect(None, "--destBucket", "not yet: outputs go to --outdir")
    cidfile_dir: str | None = _effect(
        None, "--cidfile-dir", "not yet: container IDs are not written to files"
    )
    cidfile_prefix: str | None = _effect(
        None, "--cidfile-prefix", "not yet: container IDs are not written to files"
    )
    record_container_id: bool = _effect(
        False,
        "--record-container-id",
        "not yet: container IDs are not written to files",
        hidden=True,
    )
    strict: bool = _accepted("--strict")
    timestamps: bool = _accepted("--timestamps")
    no_warnings: bool = _accepted("--no-warnings")
    parallel: bool = _accepted("--parallel")
    user_space_docker_cmd: str | None = setting(
        None, "--user-space-docker-cmd", dest="user_space_docker_cmd", hidden=True
    )
    leave_tmpdir: bool = setting(
        False,
        "--leave-tmpdir",
        dest="leave_tmpdir",
        negate=("--rm-tmpdir",),
        help="keep each job's directory (the tool's temporary and output directories); "
        "the log says where (implies --cleanWorkDir never)",
    )
    no_compute_checksum: bool = setting(
        False,
        "--no-compute-checksum",
        dest="no_compute_checksum",
        negate=("--compute-checksum",),
        help="give output Files no checksum (no file is read to hash it)",
    )
    default_container: str | None = setting(
        None,
        "--default-container",
        dest="default_container",
        metavar="IMAGE",
        help="run tools that have no DockerRequirement in this image",
    )
    preserve_environment: tuple[str, ...] = setting(
        (),
        "--preserve-environment",
        dest="preserve_environment",
        metavar="VAR",
        help="pass this environment variable through",
    )
    preserve_entire_environment: bool = setting(
        False,
        "--preserve-entire-environment",
        dest="preserve_entire_environment",
        help="pass this process's whole environment through",
    )
    strict_memory_limit: bool = setting(
        False,
        "--strict-memory-limit",
        dest="strict_memory_limit",
        help="limit a container's memory to the tool's ramMin (docker run --memory)",
    )
    strict_cpu_limit: bool = setting(
        False,
        "--strict-cpu-limit",
        dest="strict_cpu_limit",
        help="limit a container's CPUs to the tool's coresMin, rounded up (docker run --cpus)",
    )
    custom_net: str | None = setting(
        None,
        "--custom-net",
        dest="custom_net",
        metavar="NETWORK",
        help="the container network for tools whose NetworkAccess allows it (default: "
        "$MOIL_CONTAINER_NETWORK, else the engine's default)",
    )
    enable_dev: bool = setting(
        False, "--enable-dev", dest="enable_dev", help="allow the development version of CWL"
    )
    enable_ext: bool = setting(
        False,
        "--enable-ext",
        dest="enable_ext",
        help="load cwltool's extensions (cwltool:Loop, ...)",
    )
    loop_iteration_limit: int | None = setting(
        None,
        "--loop-iteration-limit",
        "--cwl-loop-iteration-limit",
        dest="loop_iteration_limit",
        parse=positive_int,
        metavar="N",
        help="fail a looping step (cwltool:Loop) whose loopWhen still holds after N "
        "iterations (default: no limit, as cwltool)",
    )
    relax_path_checks: bool = setting(
        False,
        "--relax-path-checks",
        dest="relax_path_checks",
        help="accepted for compatibility: path checks are always relaxed",
    )
    eval_timeout: float = setting(
        60.0, "--eval-timeout", dest="eval_timeout", help="seconds an expression may take"
    )
    js_console: bool = setting(
        False,
        "--js-console",
        dest="js_console",
        help="show what expressions print with console.log",
    )
    validate: bool = setting(False, "--validate", leader_only=True, help="only check the document")
    print_dot: bool = setting(
        False,
        "--print-dot",
        dest="print_dot",
        leader_only=True,
        help="print the workflow's graph in dot format and exit",
    )
    quiet: bool = setting(
        False, "--quiet", leader_only=True, help="only warnings and errors on stderr"
    )
    version: bool = setting(False, "--version", leader_only=True, help="print the version and exit")


def cwl_settings(config: RunConfig) -> CwlSettings:
    """The CWL settings of a run's configuration (its defaults for a run of another front
    end, e.g. ``toil debug-job`` on a store written before they were stored)."""
    front = config.frontend
    if front is None:
        return CwlSettings()
    if not isinstance(front, CwlSettings):
        raise UsageError(f"this run's settings are {type(front).__name__}, not CWL's")
    return front
