"""Toil's configuration: ``toil config FILE`` writes every option with its default,
``--config FILE`` (and ``~/.toil/default.yaml``) reads it back, and a value comes from the
command line, else the config file, else its ``TOIL_*`` variable, else the default."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from languages.cwl.cli import parse_arguments
from languages.cwl.settings import CwlSettings
from languages.wdl.cli import build_parser as wdl_parser
from languages.wdl.settings import WdlSettings
from runner.api.job import Job
from runner.config.options import build_config
from runner.config.runconfig import RunConfig

REPO = Path(__file__).resolve().parents[3]
VARIABLES = (
    "TOIL_WORKDIR",
    "TOIL_BATCH_SYSTEM",
    "TOIL_SLURM_PARTITION",
    "TOIL_SLURM_TIME",
    "TOIL_BATCH_LOGS_DIR",
)


@pytest.fixture(autouse=True)
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of the test's own (no ~/.toil/default.yaml of the machine's) and no TOIL_*
    variable from outside."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return home


def command(
    module: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO), **(env or {})),
    )


def toil_config(path: Path) -> str:
    """``toil config PATH`` as a user runs it; the file's text."""
    done = command("runner.cli.toil_cmd", "config", str(path), cwd=path.parent)
    assert done.returncode == 0, done.stderr
    return path.read_text()


def uncommented(text: str) -> str:
    """The file with the first ``#`` of each line removed: every option set."""
    return "".join(line.removeprefix("#") for line in text.splitlines(keepends=True))


def wdl_args(argv: list[str]) -> argparse.Namespace:
    return wdl_parser(argv).parse_intermixed_args(argv)


def api_args(argv: list[str]) -> argparse.Namespace:
    parser = Job.Runner.getDefaultArgumentParser()
    return parser.parse_args(argv)


def test_toil_config_writes_every_option_and_reads_back_as_the_defaults(tmp_path: Path) -> None:
    text = toil_config(tmp_path / "moil.yaml")
    assert text.startswith("config_version: 1.0\n")
    lines = text.splitlines()
    assert "#logLevel: INFO" in lines and "#retryCount: 1" in lines
    assert "#batchSystem: single_machine" in lines and "#slurmPartition:" in lines
    assert "#outdir:" in lines and "#outputDialect: cromwell" in lines
    every = tmp_path / "every.yaml"
    every.write_text(uncommented(text))
    commands = (
        (parse_arguments, ["wf.cwl"], CwlSettings),
        (wdl_args, ["wf.wdl"], WdlSettings),
        (api_args, ["js"], None),
    )
    for parse, tail, frontend in commands:
        plain = parse(tail)
        read = parse(["--config", str(every), *tail])
        assert read.config == str(every)
        assert build_config(read, frontend=frontend) == build_config(plain, frontend=frontend)
        assert set(vars(read)) == set(vars(plain))


def test_an_edited_toil_config_file_sets_its_values(tmp_path: Path) -> None:
    text = toil_config(tmp_path / "moil.yaml")
    edits = {
        "#retryCount: 1": "retryCount: 5",
        "#logLevel: INFO": "logLevel: debug",
        "#defaultMemory: 2147483648": "defaultMemory: 3G",
        "#batchSystem: single_machine": "batchSystem: slurm",
        "#slurmPartition:": "slurmPartition: short",
        "#stats: false": "stats: true",
    }
    for old, new in edits.items():
        assert old + "\n" in text
        text = text.replace(old + "\n", new + "\n")
    path = tmp_path / "edited.yaml"
    path.write_text(text)
    config = build_config(parse_arguments(["--config", str(path), "wf.cwl"]))
    assert (config.retry_count, config.log_level, config.default_memory, config.stats) == (
        5,
        "DEBUG",
        3 * 1024**3,
        True,
    )
    assert config.batch_system == "slurm"
    assert config.batch.partition == "short"  # type: ignore[attr-defined]


def test_toil_spellings_and_toil_formatted_values(tmp_path: Path) -> None:
    path = tmp_path / "toil.yaml"
    path.write_text(
        "config_version: 1.0\njobstore: ./js\ndefaultMemory: 1.5 Gi\n"
        "maxCores: 9223372036854775807\nlogDebug: true\nbatch-system: slurm\n"
        "noQuantCheck: true\n"
    )
    args = wdl_args(["--config", str(path), "wf.wdl"])
    assert args.jobStore == "./js" and args.defaultMemory == int(1.5 * 1024**3)
    assert args.maxCores == float(9223372036854775807) and args.logLevel == "DEBUG"
    assert args.batchSystem == "slurm" and args.quantCheck is False


def test_command_line_over_config_file_over_variables_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = {name: tmp_path / name for name in ("env", "file", "cli")}
    for place in dirs.values():
        place.mkdir()
    path = tmp_path / "c.yaml"
    path.write_text(f"workDir: {dirs['file']}\nslurmPartition: from-file\n")

    def seen(*argv: str) -> tuple[str | None, str | None]:
        config = build_config(parse_arguments([*argv, "--batchSystem", "slurm", "wf.cwl"]))
        return config.work_dir, config.batch.partition  # type: ignore[attr-defined]

    assert seen() == (None, None)
    monkeypatch.setenv("TOIL_WORKDIR", str(dirs["env"]))
    monkeypatch.setenv("TOIL_SLURM_PARTITION", "from-env")
    assert seen() == (str(dirs["env"]), "from-env")
    assert seen("--config", str(path)) == (str(dirs["file"]), "from-file")
    assert seen(
        "--config", str(path), "--workDir", str(dirs["cli"]), "--slurmPartition", "from-cli"
    ) == (str(dirs["cli"]), "from-cli")


VARIABLE_CASES = [
    ("TOIL_BATCH_SYSTEM", "batchSystem", "slurm", lambda c: c.batch_system),
    ("TOIL_SLURM_TIME", "slurmTime", "1:00:00", lambda c: c.batch.time),
    ("TOIL_BATCH_LOGS_DIR", "batchLogsDir", "logs", lambda c: c.batch.batch_logs_dir),
]


@pytest.mark.parametrize(("variable", "key", "value", "get"), VARIABLE_CASES)
def test_toil_variables_give_defaults_under_the_config_file(
    variable: str,
    key: str,
    value: str,
    get: Callable[[RunConfig], object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = [] if variable == "TOIL_BATCH_SYSTEM" else ["--batchSystem", "slurm"]

    def read(*argv: str) -> object:
        return get(build_config(parse_arguments([*argv, *base, "wf.cwl"])))

    assert read() != value
    monkeypatch.setenv(variable, value)
    assert read() == value
    other = "grid_engine" if variable == "TOIL_BATCH_SYSTEM" else "other"
    path = tmp_path / "c.yaml"
    path.write_text(f"{key}: {other}\n")
    assert read("--config", str(path)) == other


def test_the_users_default_yaml_is_read_and_never_made(own_home: Path, tmp_path: Path) -> None:
    assert parse_arguments(["wf.cwl"]).retryCount == 1
    assert not (own_home / ".toil").exists()
    (own_home / ".toil").mkdir()
    (own_home / ".toil" / "default.yaml").write_text("retryCount: 3\nlogLevel: ERROR\n")
    args = parse_arguments(["wf.cwl"])
    assert (args.retryCount, args.logLevel) == (3, "ERROR")
    named = tmp_path / "c.yaml"
    named.write_text("retryCount: 7\n")
    args = parse_arguments(["wf.cwl", "--config", str(named)])
    assert (args.retryCount, args.logLevel) == (7, "ERROR")
    assert Job.Runner.getDefaultOptions("./js").retryCount == 3


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("logLevel: INFO\nretryCount: [1\n", ":3:1:", "not valid YAML"),
        ("logLevel: INFO\nretryCount: many\n", ":2:13:", "retryCount: 'many'"),
        ("clean: sometimes\n", ":1:8:", "not one of"),
        ("- logLevel\n", ":1:1:", "mapping of option names"),
    ],
)
def test_a_bad_config_file_is_one_line_with_its_place_and_exit_2(
    text: str, where: str, says: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    for module, doc in (("languages.cwl.cli", "wf.cwl"), ("languages.wdl.cli", "wf.wdl")):
        done = command(
            module, "--config", str(path), doc, cwd=tmp_path, env={"HOME": str(tmp_path)}
        )
        assert done.returncode == 2
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert f"{path}{where}" in lines[0] and says in lines[0]
    missing = command("languages.cwl.cli", "--config", "nope.yaml", "wf.cwl", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "--config nope.yaml: no such file" in missing.stderr


def test_an_unknown_key_is_named_with_a_guess_and_the_other_runners_are_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("retryCont: 2\noutputDialect: miniwdl\noutdir: out\n")
    parse_arguments(["--config", str(path), "wf.cwl"])
    err = capsys.readouterr().err.splitlines()
    assert err == [
        (
            f"toil-cwl-runner: warning: {path}:1:1: retryCont is not an option of "
            "moil (did you mean retryCount?); skipped"
        )
    ]
    wdl_args(["--config", str(path), "wf.wdl"])
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "retryCont" in err[0]


def test_a_run_takes_its_options_from_the_config_file(tmp_path: Path) -> None:
    wdl = tmp_path / "hello.wdl"
    wdl.write_text(
        'version 1.0\nworkflow hello {\n  input { String who = "moil" }\n'
        '  output { String greeting = "hello " + who }\n}\n'
    )
    path = tmp_path / "c.yaml"
    path.write_text("outputFile: result.json\nlogLevel: CRITICAL\nretryCount: 0\n")
    done = command("languages.wdl.cli", "--config", str(path), str(wdl), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert json.loads((tmp_path / "result.json").read_text()) == {"hello.greeting": "hello moil"}


# Lines as Toil 9.6.0's `toil config` writes them (uncommented): its "no value" forms (an
# empty value, [], {}), its flag-with-the-dest's-default (logTrace: INFO), negations set false.
TOIL_WRITTEN = """\
config_version: 1.0
logTrace: INFO
logLevel: INFO
logFile:
jobstore:
clean: onSuccess
maxLocalJobs:
nodeTypes: []
minNodes:
- 0
setEnv: {}
defaultAccelerators: []
defaultMemory: 2.0 Gi
maxJobs: 9223372036854775807
disable-user-provenance: false
beta-use-biocontainers:
rm-tmpdir: true
wdlQuantCheck: true
"""


def test_a_file_of_toils_own_toil_config_reads_as_toil_means_it(tmp_path: Path) -> None:
    path = tmp_path / "toil.yaml"
    path.write_text(TOIL_WRITTEN)
    plain = parse_arguments(["wf.cwl"])
    read = parse_arguments(["--config", str(path), "wf.cwl"])
    changed = {k for k in vars(plain) if getattr(read, k) != getattr(plain, k)}
    assert changed <= {"config", "clean", "maxJobs", "minNodes"}, changed
    assert read.clean == "onSuccess" and read.logLevel == "INFO"
    assert getattr(read, "enable-user-provenance") is False  # "disable: false" enables nothing
    config = build_config(read, frontend=CwlSettings)
    assert config.default_memory == 2 * 1024**3 and config.log_file is None
    path.write_text("setEnv:\n  GREETING: hello\n  EMPTY:\nlogDebug: true\n")
    read = parse_arguments(["--config", str(path), "wf.cwl"])
    assert read.logLevel == "DEBUG"
    assert sorted(read.setEnv) == ["EMPTY=", "GREETING=hello"]


def test_add_toil_options_onto_an_argument_group_takes_config_without_reading_it(
    tmp_path: Path,
) -> None:
    parser = argparse.ArgumentParser()
    Job.Runner.addToilOptions(parser.add_argument_group("toil"), jobstore_as_flag=True)
    path = tmp_path / "c.yaml"
    path.write_text("retryCount: 4\n")
    args = parser.parse_args(["--config", str(path)])
    assert args.config == str(path) and args.retryCount == 1
