"""``toil-wdl-runner``'s own options (Toil's names), declared once (``backends.settings``).

The command line gets them from ``runner.config.options.add_toil_options``; the run's
configuration carries them as ``RunConfig.frontend`` (``wdl_settings(config)`` gives the
typed instance to the code that runs tasks). Options that only the command itself reads
(the inputs, the output places) are ``leader_only``: they are not stored in the job store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from backends.settings import Settings, setting
from runner.config.runconfig import RunConfig
from runner.errors import UsageError

CONTAINER_CHOICES = ("auto", "none", "docker", "podman", "singularity")
DIALECTS = ("cromwell", "miniwdl")


@dataclass(frozen=True)
class WdlSettings(Settings):
    """The WDL front end's options (``--container``, ``-o``, ...)."""

    kind: ClassVar[str] = "WDL"

    input: str | None = setting(
        None,
        "-i",
        "--input",
        "--inputs",
        dest="input",
        leader_only=True,
        help="inputs JSON file or JSON string (instead of INPUTS_JSON)",
    )
    output_directory: str | None = setting(
        None,
        "-o",
        "--outputDirectory",
        "--output-directory",
        "--wdlOutputDirectory",
        dest="outputDirectory",
        leader_only=True,
        help="where output files go (default: a new directory wdl-out-XXXXXXXX in the current one)",
    )
    output_file: str | None = setting(
        None,
        "-m",
        "--outputFile",
        "--output-file",
        "--wdlOutputFile",
        dest="outputFile",
        leader_only=True,
        help="write the output JSON here instead of stdout",
    )
    output_dialect: str = setting(
        "cromwell",
        "--outputDialect",
        "--output-dialect",
        "--wdlOutputDialect",
        dest="outputDialect",
        choices=DIALECTS,
        leader_only=True,
        help="cromwell: the output map alone; miniwdl: under 'outputs' with 'dir'",
    )
    container: str = setting(
        "auto",
        "--container",
        "--wdlContainer",
        choices=CONTAINER_CHOICES,
        help="container engine for tasks whose runtime names an image (docker/container): "
        "auto takes Docker if its daemon answers, else Podman, else runs tasks on the host; "
        "none always runs them on the host; singularity is not supported yet (a task that "
        "names an image then stops the run: exit 33)",
    )
    reference_inputs: bool = setting(
        False,
        "--referenceInputs",
        "--reference-inputs",
        "--wdlReferenceInputs",
        dest="referenceInputs",
        bare=True,
        metavar="BOOL",
        help="read local input files in place instead of importing them",
    )
    preserve_environment: tuple[str, ...] = setting(
        (),
        "--preserve-environment",
        dest="preserve_environment",
        metavar="VAR",
        help="pass this environment variable to tasks (they get only HOME, TMPDIR and PATH)",
    )
    preserve_entire_environment: bool = setting(
        False,
        "--preserve-entire-environment",
        dest="preserve_entire_environment",
        help="pass this process's whole environment to tasks",
    )
    task: str | None = setting(
        None, "--task", leader_only=True, help="run this task of the document"
    )
    validate: bool = setting(
        False,
        "--validate",
        leader_only=True,
        help="only load and check the document (exit 0 if valid, 2 if not)",
    )
    quant_check: bool = setting(
        True,
        "--quantCheck",
        "--wdlQuantCheck",
        negate=("--noQuantCheck",),
        bare=True,
        metavar="BOOL",
        help="check the type rules on optional (?) types strictly (default "
        "true; false or --noQuantCheck relaxes them)",
    )
    all_call_outputs: bool | None = setting(
        None,
        "--allCallOutputs",
        "--wdlAllCallOutputs",
        bare=True,
        metavar="BOOL",
        dest="allCallOutputs",
        effect="not yet: the outputs are the workflow's own",
        help="return every call's outputs as the workflow's",
    )
    strict: bool = setting(
        False,
        "--strict",
        "--wdlStrict",
        bare=True,
        metavar="BOOL",
        effect="not yet: lint warnings do not stop the run",
        help="stop if the document has lint warnings",
    )


def wdl_settings(config: RunConfig) -> WdlSettings:
    """The WDL settings of a run's configuration (their defaults if it has none)."""
    front = config.frontend
    if front is None:
        return WdlSettings()
    if not isinstance(front, WdlSettings):
        raise UsageError(f"this run's settings are {type(front).__name__}, not WDL's")
    return front
