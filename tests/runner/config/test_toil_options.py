"""Every option of Toil 9.6.0's ``toil-cwl-runner`` and ``toil-wdl-runner``, with a value
Toil takes (``toil_options.tsv``, written by ``bench/toil_options.py`` from Toil's
``--help``), and of its ``toil`` subcommands: moil's parsers take each one."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

LIST = Path(__file__).with_name("toil_options.tsv")


def _rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in LIST.read_text().splitlines():
        if line and not line.startswith("#"):
            command, option, value = line.split("\t")
            rows.append((command, option, value))
    return rows


#: the runners' rows
ROWS = [row for row in _rows() if row[0] in ("toil-cwl-runner", "toil-wdl-runner")]
#: the ``toil`` subcommands' rows
SUBCOMMAND_ROWS = [row for row in _rows() if row[0].startswith("toil ")]


def tokens_of(option: str, value: str) -> list[str]:
    if not value:
        return [option]
    return [f"{option}={value}"] if value.startswith("-") else [option, value]


def _around(tokens: list[str], *positionals: str) -> list[str]:
    """Options with a value before the positional arguments, a flag alone after them (as
    in Toil, ``--writeLogs wf.cwl`` would take the document for the directory)."""
    return (
        [*tokens, *positionals] if len(tokens) > 1 or "=" in tokens[0] else [*positionals, *tokens]
    )


def parse_cwl(tokens: list[str]) -> argparse.Namespace:
    from languages.cwl.cli import parse_arguments

    return parse_arguments(_around(tokens, "wf.cwl", "job.yml"))


def parse_wdl(tokens: list[str]) -> argparse.Namespace:
    from languages.wdl.cli import build_parser

    argv = _around(tokens, "wf.wdl", "inputs.json")
    return build_parser(argv).parse_intermixed_args(argv)


def test_the_list_covers_every_command() -> None:
    counts: dict[str, int] = {}
    for command, _, _ in _rows():
        counts[command] = counts.get(command, 0) + 1
    assert counts["toil-cwl-runner"] > 150 and counts["toil-wdl-runner"] > 120
    assert {
        "toil status",
        "toil stats",
        "toil clean",
        "toil kill",
        "toil debug-job",
        "toil debug-file",
        "toil config",
    } <= set(counts)


@pytest.mark.parametrize(("command", "option", "value"), ROWS, ids=[f"{c}:{o}" for c, o, _ in ROWS])
def test_moil_takes_toils_option(command: str, option: str, value: str) -> None:
    tokens = tokens_of(option, value)
    try:
        if command == "toil-cwl-runner":
            args = parse_cwl(tokens)
            assert args.cwltool == "wf.cwl" and args.cwljob == ["job.yml"]
        elif command == "toil-wdl-runner":
            args = parse_wdl(tokens)
            assert args.wdl == "wf.wdl" and args.inputs_file == "inputs.json"
    except SystemExit as exc:
        pytest.fail(f"{command} refuses {' '.join(tokens)} (exit {exc.code})")


@pytest.mark.parametrize(
    ("command", "option", "value"), SUBCOMMAND_ROWS, ids=[f"{c}:{o}" for c, o, _ in SUBCOMMAND_ROWS]
)
def test_moil_toil_subcommand_takes_toils_option(command: str, option: str, value: str) -> None:
    """Parsed as ``toil`` parses its command line (Toil's several-values flags spread, then
    the subcommand's own parser), without running the subcommand."""
    import typer

    from runner.cli.toil_cmd import app, spread

    sub = command.split()[1]
    # the positional arguments Toil requires: config's file, debug-job's store and job
    positionals = {"config": ["out.yaml"], "debug-job": ["./store", "job-name"]}.get(
        sub, ["./store"]
    )
    argv = spread([sub, *positionals, *tokens_of(option, value)])
    group = typer.main.get_command(app)
    parent = group.make_context("toil", [sub], resilient_parsing=True)
    command_object = group.get_command(parent, sub)
    assert command_object is not None, f"moil's toil has no {sub} subcommand"
    try:
        command_object.make_context(sub, argv[1:], parent=parent)
    except Exception as exc:  # noqa: BLE001 (click's usage errors: the option is refused)
        pytest.fail(f"{command} refuses {' '.join(argv[1:])}: {exc}")


@pytest.mark.parametrize("spelling", [[], ["true"], ["True"], ["false"], ["False"]])
def test_a_toil_boolean_takes_toils_spellings(spelling: list[str]) -> None:
    args = parse_cwl(["--stopOnFirstFailure", *spelling])
    assert args.stopOnFirstFailure is (spelling[:1] in ([], ["true"], ["True"]))
    wdl = parse_wdl(["--wdlQuantCheck", *spelling])
    assert wdl.quantCheck is (spelling[:1] in ([], ["true"], ["True"]))


def test_a_boolean_flag_alone_before_the_document_leaves_the_document() -> None:
    from languages.cwl.cli import parse_arguments
    from languages.wdl.cli import build_parser

    args = parse_arguments(["--doubleMem", "wf.cwl", "job.yml", "--disableChaining"])
    assert (args.cwltool, args.cwljob) == ("wf.cwl", ["job.yml"])
    assert args.doubleMem is True and args.disableChaining is True
    argv = ["--stopOnFirstFailure", "wf.wdl", "--quantCheck", "false", "in.json"]
    wdl = build_parser(argv).parse_intermixed_args(argv)
    assert (wdl.wdl, wdl.inputs_file, wdl.stopOnFirstFailure, wdl.quantCheck) == (
        "wf.wdl",
        "in.json",
        True,
        False,
    )


@pytest.mark.parametrize(
    ("tokens", "dest", "value"),
    [
        (["--noLinkImports"], "symlinkImports", False),
        (["--linkImports"], "symlinkImports", True),
        (["--symlinkImports", "false"], "symlinkImports", False),
        (["--moveExports"], "moveOutputs", True),
        (["--disableCaching"], "caching", False),
        (["--caching", "true"], "caching", True),
        (["--noQuantCheck"], "quantCheck", False),
        (["--dont_allocate_mem"], "slurmAllocateMem", False),
        (["--slurmAllocateMem", "False"], "slurmAllocateMem", False),
    ],
)
def test_toils_negations_and_old_names(tokens: list[str], dest: str, value: bool) -> None:
    assert getattr(parse_wdl(tokens), dest) is value


def test_setenv_is_taken_several_times() -> None:
    args = parse_cwl(["--setEnv", "A=1", "-e", "B", "--setEnv=C=x=y"])
    assert args.setEnv == ["A=1", "B", "C=x=y"]


def test_an_option_with_another_effect_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    from languages.wdl.settings import WdlSettings
    from runner.config import accepted
    from runner.config.options import build_config, warn_other_effects

    args = parse_wdl(["--provisioner", "aws", "--maxNodes", "3", "--maxNodes", "4"])
    with caplog.at_level("WARNING", logger="runner.config"):
        warn_other_effects(args, build_config(args, frontend=WdlSettings))
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sorted(lines) == sorted(
        [f"--provisioner: {accepted.NO_AUTOSCALING}", f"--maxNodes: {accepted.NO_AUTOSCALING}"]
    )


def test_an_option_left_at_its_default_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    from languages.cwl.settings import CwlSettings
    from runner.config.options import build_config, warn_other_effects

    with caplog.at_level("WARNING", logger="runner.config"):
        for tokens in (["--cwl-default-ram"], ["--symlinkJobStoreReads", "true"]):
            args = parse_cwl(tokens)
            warn_other_effects(args, build_config(args, frontend=CwlSettings))
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []


@pytest.mark.parametrize(
    ("main", "argv", "hint"),
    [
        ("languages.cwl.cli", ["--maxJbos", "3", "wf.cwl"], "--maxJobs"),
        ("languages.wdl.cli", ["wf.wdl", "--stopOnFirstFaillure"], "--stopOnFirstFailure"),
        ("languages.wdl.cli", ["wf.wdl", "--WDLOUTPUTFILE", "x"], "--wdlOutputFile"),
    ],
)
def test_a_misspelled_option_gets_a_did_you_mean(
    main: str, argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    with pytest.raises(SystemExit) as exc:
        importlib.import_module(main).main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"(did you mean {hint}" in err, err


def test_the_readme_table_names_every_toil_option_and_utility() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    section = readme.split("### Differences from Toil", 1)[1].split("\n### ", 1)[0]
    missing = {
        option
        for command, option, _ in _rows()
        if command in ("toil-cwl-runner", "toil-wdl-runner") and f"`{option}`" not in section
    }
    assert missing == set()
    for command in {command for command, _, _ in _rows()}:
        assert f"`{command}`" in section or command.startswith("toil-"), command
