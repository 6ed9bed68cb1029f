"""``toil-cwl-runner [options] DOCUMENT [JOB_ORDER] [--input value ...] [options]``.

Runner options go before the document or anywhere after it, as Toil takes them. After the
document, an option that is also the name of one of the workflow's inputs is that input
when no job file follows the document directly (``wf.cwl --outdir x`` gives the input
``outdir``), and a runner option otherwise (``wf.cwl job.yml --outdir x``); everything
after ``--`` is the workflow's.

Prints the output object as JSON on stdout, logs on stderr. Exit codes: 0 success,
1 the workflow failed (or its inputs are invalid), 2 bad usage or an invalid document,
33 the document needs a feature moil cannot provide here, 130 interrupted (SIGINT),
143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

from runner.cli import console
from runner.errors import MoilError, UnsupportedRequirement, UsageError, WorkflowFailed

log = logging.getLogger("languages.cwl")

EXIT_UNSUPPORTED = 33


USAGE = "%(prog)s [options] DOCUMENT [JOB_ORDER] [--input value ...] [options]"


def build_parser(*, positionals: bool = True) -> argparse.ArgumentParser:
    """The command's parser: Toil's core options and the cwltool options users rely on.

    ``positionals=False``: the same options alone, unabbreviated, for what follows the
    document (see the module docstring)."""
    from runner.config.options import add_toil_options

    parser = argparse.ArgumentParser(
        prog="toil-cwl-runner",
        usage=USAGE,
        description="Run a CWL workflow or tool (CWL v1.0, v1.1, v1.2) with moil.",
        add_help=positionals,
        allow_abbrev=positionals,
    )
    add_toil_options(parser, job_store_positional=False)
    _add_cwl_options(parser.add_argument_group("CWL options (as cwltool's)"))
    if positionals:
        parser.add_argument("cwltool", nargs="?", metavar="DOCUMENT", help="CWL document")
        parser.add_argument(
            "cwljob",
            nargs=argparse.REMAINDER,
            metavar="JOB_ORDER",
            help="input object file (YAML/JSON), or --input value arguments, then options",
        )
    return parser


def parse_arguments(argv: list[str], input_names: Iterable[str] = ()) -> argparse.Namespace:
    """The command line read as the module docstring says; ``cwljob`` holds the job file
    and the workflow's ``--input value`` arguments. ``input_names``: the document's
    inputs, which matter only when no job file follows the document."""
    from runner.config.options import parse_options_among

    args = build_parser().parse_args(argv)
    tail = list(args.cwljob)
    explicit: list[str] = []
    if "--" in tail:
        cut = tail.index("--")
        tail, explicit = tail[:cut], tail[cut + 1 :]
    head = tail[:1] if _job_file_first(tail) else []
    keep = () if head else [f"--{name}" for name in input_names]
    rest = parse_options_among(build_parser(positionals=False), tail[len(head) :], args, keep=keep)
    args.cwljob = head + rest + explicit
    return args


def _job_file_first(tail: list[str]) -> bool:
    return bool(tail) and (tail[0] == "-" or not tail[0].startswith("-"))


def _add_cwl_options(cwl: Any) -> None:
    cwl.add_argument("--outdir", default=os.getcwd(), help="where final outputs go")
    cwl.add_argument("--tmpdir-prefix", dest="tmpdir_prefix", default=None)
    cwl.add_argument("--tmp-outdir-prefix", dest="tmp_outdir_prefix", default=None)
    cwl.add_argument("--basedir", default=None)
    cwl.add_argument(
        "--no-container",
        dest="no_container",
        action="store_true",
        help="run every tool on this host, ignoring DockerRequirement (a tool that requires "
        "a container then stops the run: exit 33)",
    )
    cwl.add_argument(
        "--podman",
        action="store_true",
        help="run DockerRequirement tools with Podman instead of Docker",
    )
    for flag in (
        "--singularity",
        "--docker",
        "--no-match-user",
        "--leave-container",
        "--no-read-only",
        "--disable-pull",
        "--leave-outputs",
        "--debug",
        "--disable-js-validation",
        "--non-strict",
        "--strict",
        "--timestamps",
        "--no-warnings",
        "--parallel",
    ):
        cwl.add_argument(
            flag, action="store_true", dest=flag[2:].replace("-", "_"), help=argparse.SUPPRESS
        )
    cwl.add_argument("--user-space-docker-cmd", default=None, help=argparse.SUPPRESS)
    cwl.add_argument(
        "--leave-tmpdir",
        dest="leave_tmpdir",
        action="store_true",
        help="keep each job's directory (the tool's temporary and output directories); "
        "the log says where (implies --cleanWorkDir never)",
    )
    cwl.add_argument(
        "--no-compute-checksum",
        dest="no_compute_checksum",
        action="store_true",
        help="give output Files no checksum (no file is read to hash it)",
    )
    cwl.add_argument(
        "--default-container",
        dest="default_container",
        default=None,
        metavar="IMAGE",
        help="run tools that have no DockerRequirement in this image",
    )
    cwl.add_argument(
        "--preserve-environment",
        dest="preserve_environment",
        action="append",
        default=[],
        metavar="VAR",
        help="pass this environment variable through",
    )
    cwl.add_argument(
        "--preserve-entire-environment", dest="preserve_entire_environment", action="store_true"
    )
    cwl.add_argument(
        "--strict-memory-limit",
        dest="strict_memory_limit",
        action="store_true",
        help="limit a container's memory to the tool's ramMin (docker run --memory)",
    )
    cwl.add_argument(
        "--strict-cpu-limit",
        dest="strict_cpu_limit",
        action="store_true",
        help="limit a container's CPUs to the tool's coresMin, rounded up (docker run --cpus)",
    )
    cwl.add_argument(
        "--custom-net",
        dest="custom_net",
        default=None,
        metavar="NETWORK",
        help="the container network for tools whose NetworkAccess allows it (default: "
        "$MOIL_CONTAINER_NETWORK, else the engine's default)",
    )
    cwl.add_argument("--enable-dev", dest="enable_dev", action="store_true")
    cwl.add_argument("--enable-ext", dest="enable_ext", action="store_true")
    cwl.add_argument(
        "--loop-iteration-limit",
        dest="loop_iteration_limit",
        type=_positive_int,
        default=None,
        metavar="N",
        help="fail a looping step (cwltool:Loop) whose loopWhen still holds after N "
        "iterations (default: no limit, as cwltool)",
    )
    cwl.add_argument(
        "--relax-path-checks",
        dest="relax_path_checks",
        action="store_true",
        help="accepted for compatibility: path checks are always relaxed",
    )
    cwl.add_argument("--eval-timeout", dest="eval_timeout", type=float, default=60.0)
    cwl.add_argument("--js-console", dest="js_console", action="store_true")
    cwl.add_argument("--validate", action="store_true", help="only check the document")
    cwl.add_argument(
        "--print-dot",
        dest="print_dot",
        action="store_true",
        help="print the workflow's graph in dot format and exit",
    )
    cwl.add_argument("--quiet", action="store_true", help="only warnings and errors on stderr")
    cwl.add_argument("--version", action="store_true", help="print the version and exit")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def console_main() -> NoReturn:
    """The ``toil-cwl-runner`` console script (see ``runner.cli.console``)."""
    console.run(main, defer_gc=True)


def main(argv: list[str] | None = None) -> int:
    """The command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_arguments(argv)
    if args.version:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"toil-cwl-runner (moil) {version('moil')}")
        except PackageNotFoundError:
            print("toil-cwl-runner (moil) development version")
        return 0
    try:
        _setup_logging(args)
        if not args.cwltool:
            build_parser().print_usage(sys.stderr)
            raise UsageError("a CWL document is required")
        return _run(argv, args)
    except UnsupportedRequirement as exc:
        log.error("%s", exc)
        return EXIT_UNSUPPORTED
    except WorkflowFailed as exc:
        text = str(exc)
        if "UnsupportedRequirement" in text:
            return EXIT_UNSUPPORTED
        log.error("workflow failed: %s", text.splitlines()[0] if text else "")
        return 1
    except MoilError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except OSError as exc:
        log.error("%s", console.os_error_message(exc, args))
        return 1
    except KeyboardInterrupt as exc:
        log.error("%s", console.interrupted_message(exc))
        return console.interrupted_code(exc)


def _setup_logging(args: argparse.Namespace) -> None:
    from runner.config.options import log_level

    level = logging.WARNING if args.quiet else log_level(args)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", datefmt="%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if args.logFile:
        from runner.config.options import check_output_file

        check_output_file("--logFile", args.logFile)
        file_handler = logging.FileHandler(args.logFile)
        file_handler.setFormatter(handler.formatter)
        root.addHandler(file_handler)
    import cwl_utils.loghandler  # noqa: F401 (they install their own handlers on import)
    import cwltool.loghandler  # noqa: F401

    # cwl_utils logs each failed expression with its Python traceback, on its own handler
    logging.getLogger("cwl_utils").handlers[:] = []
    cwltool_log = logging.getLogger("cwltool")
    cwltool_log.handlers[:] = []
    cwltool_log.propagate = True
    cwltool_log.setLevel(max(level, logging.WARNING) if level > logging.DEBUG else level)
    logging.getLogger("salad").setLevel(logging.ERROR)
    if level > logging.DEBUG:  # it logs each failed expression with a traceback
        logging.getLogger("cwl_utils").setLevel(logging.CRITICAL)


def _run(argv: list[str], args: argparse.Namespace) -> int:
    from languages.cwl import secrets
    from languages.cwl.containers import check_run
    from languages.cwl.load import walk_processes

    args, ref, process = _load(argv, args)
    if args.validate:
        print(f"{args.cwltool} is valid CWL.")
        return 0
    if args.print_dot:
        _print_dot(process)
        return 0
    args.outdir = os.path.abspath(args.outdir)
    _check_options(args)
    check_run(walk_processes(process), args)
    console.freeze_heap()  # the loaded documents and schemas live as long as the run
    if args.leave_tmpdir:  # cwltool's "do not delete intermediate temporary directories"
        args.cleanWorkDir = "never"
    names = secrets.secret_inputs(process)
    job, placeholders, given = None, {}, {}
    if not args.restart:
        from languages.cwl.inputs import complete_job_order, load_job_order

        raw, basedir = load_job_order(list(args.cwljob), ref, process)
        placeholders = secrets.hide(raw, names)  # before anything validates, logs or stores
        job = complete_job_order(raw, process, args.basedir or basedir)
    elif names:
        given = secrets.given_values(list(args.cwljob), ref, process, names)
    args.cwljob = secrets.scrub_arguments(list(args.cwljob), given)  # the config keeps them
    _make_prefix_parents(args)
    return _execute(args, ref, job, placeholders, given)


def _load(argv: list[str], args: argparse.Namespace) -> tuple[argparse.Namespace, Any, Any]:
    """The final arguments and the loaded document. Without a job file after the
    document, which options there are the workflow's depends on its inputs: the command
    line is read again once they are known (and the document loaded again in the rare
    case that changes how it loads)."""
    from cwltool.process import shortname

    from languages.cwl.load import LoadOptions, load_document

    def load_options(a: argparse.Namespace) -> LoadOptions:
        return LoadOptions(enable_dev=a.enable_dev, enable_ext=a.enable_ext)

    ref, process = load_document(args.cwltool, load_options(args))
    if args.cwljob and _job_file_first(args.cwljob):
        return args, ref, process
    names = [shortname(p["id"]) for p in process.tool["inputs"]]
    final = parse_arguments(argv, names)
    if vars(final) == vars(args):
        return args, ref, process
    _setup_logging(final)
    if load_options(final) != load_options(args):
        ref, process = load_document(final.cwltool, load_options(final))
    return final, ref, process


def _check_options(args: argparse.Namespace) -> None:
    """Every option value, before anything is created (UsageError: exit 2)."""
    from runner.config.options import check_output_dir, validate_options

    validate_options(args, directories={"--outdir": args.outdir})
    for flag, parent in _prefix_parents(args).items():
        check_output_dir(flag, parent)


def _prefix_parents(args: argparse.Namespace) -> dict[str, str]:
    """The directories ``--tmpdir-prefix`` and ``--tmp-outdir-prefix`` make theirs in,
    when jobs run on this host (a cluster's workers make them where they run)."""
    from backends.registry import BATCH_SYSTEM_GROUP, load

    if not load(BATCH_SYSTEM_GROUP, args.batchSystem).capabilities.in_process:
        return {}
    prefixes = {
        "--tmpdir-prefix": args.tmpdir_prefix,
        "--tmp-outdir-prefix": args.tmp_outdir_prefix,
    }
    return {flag: os.path.dirname(os.path.abspath(p)) for flag, p in prefixes.items() if p}


def _make_prefix_parents(args: argparse.Namespace) -> None:
    """Make the parents of the temporary-directory prefixes, as Toil does."""
    for flag, parent in _prefix_parents(args).items():
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{flag}: cannot make {parent}: {exc.strerror}") from None


def _execute(
    args: argparse.Namespace,
    ref: Any,
    job: dict[str, Any] | None,
    placeholders: dict[str, str],
    given: dict[str, str],
) -> int:
    """Run the document on ``job`` (None: resume the run in the store, with the secret
    values ``given`` again); ``placeholders``: those of a fresh run's secret inputs."""
    from languages.cwl import secrets
    from languages.cwl.compile import root_node
    from languages.cwl.files import Globalizer, MissingInput
    from languages.cwl.outputs import export_outputs, print_outputs
    from runner.engine.run import Run

    with Run(args) as run:
        if job is None:
            secrets.recover(run.store, given)
        else:
            secrets.save_placeholders(run.store, placeholders)
        if job is not None:
            try:
                inputs = Globalizer(run.store, require_exists=True).globalize(job)
            except MissingInput as exc:
                raise InputMissing(f"input {exc}") from None
            value = run.start(root_node(ref, inputs))
        else:
            value = run.restart()
        out = export_outputs(
            value, run.store, args.outdir, compute_checksum=not args.no_compute_checksum
        )
    print_outputs(out, sys.stdout)
    return 0


class InputMissing(MoilError):
    """An input File or Directory does not exist (exit 1)."""


def _print_dot(process: Any) -> None:
    from cwltool.cwlrdf import printdot

    printdot(process, process.doc_loader.ctx, sys.stdout)


if __name__ == "__main__":
    console_main()
