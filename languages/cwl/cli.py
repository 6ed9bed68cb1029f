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
from typing import TYPE_CHECKING, Any, NoReturn

from runner.cli import console
from runner.errors import MoilError, UnsupportedRequirement, UsageError, WorkflowFailed

if TYPE_CHECKING:
    from runner.config.runconfig import RunConfig

log = logging.getLogger("languages.cwl")

EXIT_UNSUPPORTED = 33


USAGE = "%(prog)s [options] DOCUMENT [JOB_ORDER] [--input value ...] [options]"


def build_parser(
    *, positionals: bool = True, argv: list[str] | None = None
) -> argparse.ArgumentParser:
    """The command's parser: Toil's core options and the cwltool options users rely on.

    ``positionals=False``: the same options alone, unabbreviated, for what follows the
    document (see the module docstring). ``argv``: the command line, for the options of a
    batch system plug-in it names."""
    from languages.cwl.settings import CwlSettings
    from runner.config.options import add_toil_options
    from runner.config.parser import ToilArgumentParser

    parser = ToilArgumentParser(
        prog="toil-cwl-runner",
        usage=USAGE,
        description="Run a CWL workflow or tool (CWL v1.0, v1.1, v1.2) with moil.",
        add_help=positionals,
        allow_abbrev=positionals,
    )
    add_toil_options(
        parser, job_store_positional=False, frontend=CwlSettings, argv=argv, read_config=positionals
    )
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

    args = build_parser(argv=argv).parse_args(argv)
    tail = list(args.cwljob)
    explicit: list[str] = []
    if "--" in tail:
        cut = tail.index("--")
        tail, explicit = tail[:cut], tail[cut + 1 :]
    head = tail[:1] if _job_file_first(tail) else []
    keep = () if head else [f"--{name}" for name in input_names]
    rest = tail[len(head) :]
    if rest:  # options after the document: a second parser, built only when there are some
        options = build_parser(positionals=False, argv=argv)
        rest = parse_options_among(options, rest, args, keep=keep)
    args.cwljob = head + rest + explicit
    return args


def _job_file_first(tail: list[str]) -> bool:
    return bool(tail) and (tail[0] == "-" or not tail[0].startswith("-"))


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
        if EXIT_UNSUPPORTED in exc.job_exit_codes:  # a job's UnsupportedRequirement
            return EXIT_UNSUPPORTED
        log.error("workflow failed: %s", text.splitlines()[0] if text else "")
        return 1
    except MoilError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except OSError as exc:
        log.error("%s", console.os_error_message(exc, args.jobStore, args.workDir))
        return 1
    except KeyboardInterrupt as exc:
        log.error("%s", console.interrupted_message(exc))
        return console.interrupted_code(exc)


def _setup_logging(args: argparse.Namespace) -> None:
    from runner.cli.logs import stderr_handler
    from runner.config.options import log_level

    level = logging.WARNING if args.quiet else log_level(args.logLevel)
    # on a terminal, through the console the progress bar is drawn on (runner.cli.logs)
    handler = stderr_handler(
        logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", datefmt="%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if args.logFile:
        from runner.config.checks import check_output_file

        check_output_file("--logFile", args.logFile)
        file_handler = logging.FileHandler(args.logFile)
        file_handler.setFormatter(handler.formatter)
        setattr(file_handler, "_moil", True)  # a forked worker drops it  # noqa: B010
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
    from languages.cwl.settings import CwlSettings, cwl_settings
    from runner.config.options import build_config, warn_other_effects

    args, ref, process = _load(argv, args)
    if args.validate:
        print(f"{args.cwltool} is valid CWL.")
        return 0
    if args.print_dot:
        _print_dot(process)
        return 0
    if args.leave_tmpdir:  # cwltool's "do not delete intermediate temporary directories"
        args.cleanWorkDir = "never"
    config = build_config(args, frontend=CwlSettings)
    warn_other_effects(args, config)
    outdir = os.path.abspath(args.outdir or os.getcwd())
    _check_options(config, outdir)
    check_run(walk_processes(process), cwl_settings(config))
    console.freeze_heap()  # the loaded documents and schemas live as long as the run
    names = secrets.secret_inputs(process)
    job, placeholders, given = None, {}, {}
    if not args.restart:
        from languages.cwl.inputs import complete_job_order, job_file_of, load_job_order

        raw, basedir = load_job_order(list(args.cwljob), ref, process)
        placeholders = secrets.hide(raw, names)  # before anything validates, logs or stores
        job = complete_job_order(
            raw, process, args.basedir or basedir, job_file_of(list(args.cwljob))
        )
    elif names:
        given = secrets.given_values(list(args.cwljob), ref, process, names)
    _make_prefix_parents(config)
    return _execute(config, outdir, ref, job, placeholders, given)


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


def _check_options(config: RunConfig, outdir: str) -> None:
    """Every option value, before anything is created (UsageError: exit 2)."""
    from runner.config.checks import check_output_dir, validate

    validate(config, directories={"--outdir": outdir})
    for flag, parent in _prefix_parents(config).items():
        check_output_dir(flag, parent)


def _prefix_parents(config: RunConfig) -> dict[str, str]:
    """The directories ``--tmpdir-prefix`` and ``--tmp-outdir-prefix`` make theirs in,
    when jobs run on this host (a cluster's workers make them where they run)."""
    from languages.cwl.settings import cwl_settings
    from runner.config.options import batch_system_class

    if not batch_system_class(config.batch_system).capabilities.in_process:
        return {}
    settings = cwl_settings(config)
    prefixes = {
        "--tmpdir-prefix": settings.tmpdir_prefix,
        "--tmp-outdir-prefix": settings.tmp_outdir_prefix,
    }
    return {flag: os.path.dirname(os.path.abspath(p)) for flag, p in prefixes.items() if p}


def _make_prefix_parents(config: RunConfig) -> None:
    """Make the parents of the temporary-directory prefixes, as Toil does."""
    for flag, parent in _prefix_parents(config).items():
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{flag}: cannot make {parent}: {exc.strerror}") from None


def _execute(
    config: RunConfig,
    outdir: str,
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
    from languages.cwl.settings import cwl_settings
    from runner.cache.store import open_cache
    from runner.engine.run import Run

    definitions = _definitions(ref)
    with Run(config) as run:
        prov = None
        if config.provenance:
            from languages.cwl.cwlprov import CwlProvWriter
            from languages.cwl.load import resolve

            prov = CwlProvWriter(ref, resolve(ref), job)
            run.provenance_writers.append(prov.write)
        if job is None:
            secrets.recover(run.store, given)
        else:
            secrets.save_placeholders(run.store, placeholders)
        if job is not None:
            digests = open_cache(config.call_cache) if config.call_cache else None
            globalizer = Globalizer(run.store, require_exists=True, digests=digests)
            inputs = {}
            for name, value in job.items():  # one at a time: the error names the input
                try:
                    inputs.update(globalizer.globalize({name: value}))
                except MissingInput as exc:
                    raise InputMissing(f"input {name!r}: {exc}") from None
            run.note_inputs(inputs)
            run.note_workflow(_document_path(ref.uri), "cwl")
            value = run.start(root_node(ref, inputs), definitions)
        else:
            value = run.restart(definitions, lambda old: root_node(ref, old["inputs"]))
        compute = not cwl_settings(config).no_compute_checksum
        files: dict[str, str] = {}
        out = export_outputs(value, run.store, outdir, compute_checksum=compute, files=files)
        run.note_outputs(out, files)
        if prov is not None:
            prov.outputs = out
    print_outputs(out, sys.stdout)
    return 0


def _definitions(ref: Any) -> bytes | None:
    """The document's definitions for Run.start/restart (None for a document whose tools
    cannot be walked: such a run restarts as it always did)."""
    from languages.cwl.cachekey import definitions

    try:
        return definitions(ref)
    except Exception as exc:  # noqa: BLE001 (an edit cannot be told apart then: say so)
        logging.getLogger(__name__).debug("no definitions recorded: %s", exc)
        return None


def _document_path(uri: str) -> str:
    """The local path of a ``file:`` document URI (its fragment dropped), else the URI."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri.split("#")[0]


class InputMissing(MoilError):
    """An input File or Directory does not exist (exit 1)."""


def _print_dot(process: Any) -> None:
    from cwltool.cwlrdf import printdot

    printdot(process, process.doc_loader.ctx, sys.stdout)


if __name__ == "__main__":
    console_main()
