"""``toil-wdl-runner [options] DOCUMENT [INPUTS_JSON]``: run a WDL workflow (or a document's
lone task) on moil's core.

Exit codes:
  0  the run succeeded; the output JSON is on stdout (or in ``--outputFile``)
  1  the workflow failed (a task failed, an expression failed at run time)
  2  bad usage, an invalid document (message with file:line:col) or invalid inputs
     (message naming the key)
  33 ``--container docker|podman`` names an engine that does not work here
  130 the run was interrupted (SIGINT); resume it with ``--restart``
  143 the run was terminated (SIGTERM); resume it with ``--restart``

Options go anywhere: before, between or after DOCUMENT and INPUTS_JSON (as Toil takes them).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid
from typing import NoReturn

from WDL import Tree

from languages.wdl.containers import engine_for, wants_container
from languages.wdl.load import (
    CallableRef,
    find_target,
    load_document,
    parse_inputs,
    read_inputs_json,
)
from languages.wdl.nodes import RootPayload
from languages.wdl.outputs import export_outputs, output_json, write_json
from languages.wdl.settings import WdlSettings, wdl_settings
from runner.cli import console
from runner.cli.logs import setup_logging
from runner.config.checks import check_output_file, validate
from runner.config.options import (
    add_toil_options,
    build_config,
    log_level,
    warn_other_effects,
)
from runner.config.parser import ToilArgumentParser
from runner.config.runconfig import RunConfig
from runner.engine.run import Run
from runner.errors import MoilError, UsageError, WorkflowFailed
from runner.jobenv.containers import ContainerEngineUnavailable
from runner.model.graph import JobNode

log = logging.getLogger(__name__)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = ToilArgumentParser(
        prog="toil-wdl-runner",
        usage="%(prog)s [options] DOCUMENT [INPUTS_JSON] [options]",
        description="Run a WDL 1.0/1.1 (or draft-2) workflow with moil.",
        epilog="Exit codes: 0 success, 1 workflow failed, 2 invalid usage, document or inputs.",
    )
    parser.add_argument("wdl", metavar="DOCUMENT", help="WDL document: a path or URL")
    parser.add_argument(
        "inputs_file",
        metavar="INPUTS_JSON",
        nargs="?",
        default=None,
        help="inputs JSON file (or a JSON string)",
    )
    add_toil_options(parser, job_store_positional=False, frontend=WdlSettings, argv=argv)
    return parser


def console_main() -> NoReturn:
    """The ``toil-wdl-runner`` console script (see ``runner.cli.console``)."""
    console.run(main, defer_gc=True)


def main(argv: list[str] | None = None) -> int:
    """The ``toil-wdl-runner`` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_intermixed_args(argv)
    try:
        if args.logFile:
            check_output_file("--logFile", args.logFile)
        config = build_config(args, frontend=WdlSettings)
        setup_logging(config)
        warn_other_effects(args, config)
        return _run(args, config)
    except WorkflowFailed as exc:
        # the leader has logged each failure in full; repeat it only if the log hides errors
        text = exc.full() if log_level(args.logLevel) > logging.ERROR else str(exc)
        print(f"toil-wdl-runner: {text}", file=sys.stderr)
        return exc.exit_code
    except MoilError as exc:
        print(f"toil-wdl-runner: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        message = console.os_error_message(exc, args.jobStore, args.workDir)
        print(f"toil-wdl-runner: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"toil-wdl-runner: {console.interrupted_message(exc)}", file=sys.stderr)
        return console.interrupted_code(exc)


def _run(args: argparse.Namespace, config: RunConfig) -> int:
    settings = wdl_settings(config)
    if settings.input and args.inputs_file:
        raise UsageError("give the inputs either as INPUTS_JSON or with --input, not both")
    out_dir = settings.output_directory or f"wdl-out-{uuid.uuid4().hex[:8]}"
    validate(
        config,
        directories={"--outputDirectory": out_dir},
        files={"--outputFile": settings.output_file},
    )
    doc = load_document(args.wdl, check_quant=settings.quant_check)
    target = find_target(doc, settings.task)
    if settings.validate:
        print(f"{args.wdl} is valid WDL.")
        return 0
    data, base = read_inputs_json(settings.input or args.inputs_file)
    inputs = parse_inputs(target, data, base)
    _check_container_engine(doc, settings.container)
    console.freeze_heap()  # the loaded document lives as long as the run
    payload = RootPayload(
        CallableRef.of(doc, target, settings.quant_check),
        {b.name: b.value for b in inputs},
        reference_inputs=settings.reference_inputs,
    )
    root = JobNode(
        executor="languages.wdl.nodes:run_root",
        payload=payload,
        name="wdl-root",
        display_name=target.name,
        local=True,
    )
    with Run(config) as run:
        run.note_inputs({b.name: b.value.json for b in inputs})
        run.note_workflow(
            os.path.abspath(args.wdl) if os.path.exists(args.wdl) else args.wdl, "wdl"
        )
        outputs = run.restart() if config.restart else run.start(root)
        files: dict[str, str] = {}
        exported = export_outputs(run.store, outputs, out_dir, files)
        run.note_outputs({name: v.json for name, v in exported.items()}, files)
    dialect = settings.output_dialect
    write_json(output_json(exported, target.name, dialect, out_dir), settings.output_file)
    return 0


def _check_container_engine(doc: Tree.Document, container: str) -> None:
    """Check the container engine once before anything runs, if any task names an image:
    an explicit ``--container`` engine that does not work stops the run (exit 33); ``auto``
    finding none says once that tasks run on the host."""
    if container == "none" or not any(wants_container(t.runtime) for t in _all_tasks(doc)):
        return
    if container == "singularity":
        raise ContainerEngineUnavailable(
            "--container singularity: moil cannot run Singularity yet; use --container "
            "docker, podman or auto"
        )
    engine = engine_for(container)
    if engine is None:
        log.warning(
            "no container engine (docker, podman) is usable here: tasks run on this host, "
            "without their docker/container images (use --container none to say so)"
        )
    else:
        log.info("tasks that name an image run in it with %s", engine.kind)


def _all_tasks(doc: Tree.Document) -> list[Tree.Task]:
    out: list[Tree.Task] = []
    stack = [doc]
    while stack:
        d = stack.pop()
        out.extend(d.tasks)
        stack.extend(i.doc for i in d.imports if i.doc is not None)
    return out


if __name__ == "__main__":
    console_main()
