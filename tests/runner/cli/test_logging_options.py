"""Toil's logging options on every ``toil`` subcommand, on a real run's store: the level
decides what reaches stderr and ``--logFile``; a bad level is one line, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FLAGS = (
    "--logCritical",
    "--logError",
    "--logWarning",
    "--logInfo",
    "--logDebug",
    "--logTrace",
    "--logOff",
    "--logLevel",
    "--logFile",
    "--rotatingLogging",
    "--logColors",
    "--tempDirRoot",
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, cli: Any) -> Path:
    """The store of a finished (failed) run, kept."""
    root = tmp_path_factory.mktemp("logged")
    store, work = root / "store", root / "work"
    work.mkdir()
    result = cli.run(store, work, "fail", "--retryCount", "0", "--clean", "never", "--stats")
    assert result.returncode != 0 and store.exists(), result.stderr
    return store


def commands(store: Path, place: Path) -> dict[str, list[str]]:
    """Each subcommand with arguments that make it do its work on ``store``."""
    (place / "cache").mkdir(exist_ok=True)
    (place / "fetched").mkdir(exist_ok=True)
    return {
        "status": [str(store)],
        "stats": [str(store)],
        "report": [str(store), "-o", str(place / "report.html")],
        "kill": [str(store)],
        "debug-job": [str(store), "explode"],
        "debug-file": [
            str(store),
            "--fetchEntireJobStore",
            "true",
            "--localFilePath",
            str(place / "fetched"),
        ],
        "prune-cache": [str(place / "cache")],
        "config": [str(place / "moil.yaml")],
    }


def test_every_subcommand_logs_at_the_level_asked_to_its_log_file(
    finished: Path, tmp_path: Path, cli: Any
) -> None:
    for name, args in commands(finished, tmp_path).items():
        debug_log, quiet_log = tmp_path / f"{name}.debug.log", tmp_path / f"{name}.off.log"
        plain = cli.toil(name, *args)
        logged = cli.toil(name, "--logDebug", "--logFile", str(debug_log), *args)
        assert logged.returncode == plain.returncode, (name, logged.stderr)
        assert f"DEBUG runner.cli: toil {name} " in debug_log.read_text(), name
        assert f"DEBUG runner.cli: toil {name} " in logged.stderr, name
        off = cli.toil(name, "--logOff", "--logFile", str(quiet_log), *args)
        assert off.returncode == plain.returncode, (name, off.stderr)
        assert quiet_log.read_text() == "", name
        bad = cli.toil(name, "--logLevel", "LOUD", *args)
        assert bad.returncode == 2
        levels = "CRITICAL, ERROR, WARNING, INFO, DEBUG, TRACE, OFF"
        assert bad.stderr.splitlines() == [
            f"toil {name}: --logLevel LOUD: not a level; use one of {levels}"
        ], name


def test_debug_job_logs_debug_by_default_as_toil_and_info_hides_it(
    finished: Path, tmp_path: Path, cli: Any
) -> None:
    default = cli.toil("debug-job", "--logFile", str(tmp_path / "a.log"), str(finished), "explode")
    assert default.returncode == 1, default.stderr
    assert "DEBUG runner.cli: toil debug-job" in (tmp_path / "a.log").read_text()
    info = cli.toil(
        "debug-job", "--logInfo", "--logFile", str(tmp_path / "b.log"), str(finished), "explode"
    )
    assert info.returncode == 1, info.stderr
    assert "DEBUG" not in (tmp_path / "b.log").read_text()


def test_every_subcommand_lists_the_logging_options(cli: Any) -> None:
    for name in (
        "status",
        "stats",
        "report",
        "clean",
        "kill",
        "debug-job",
        "debug-file",
        "prune-cache",
        "config",
        "server",
    ):
        shown = cli.toil(name, "--help")
        assert shown.returncode == 0, shown.stderr
        missing = [flag for flag in FLAGS if flag not in shown.stdout]
        assert missing == [], name


def test_temp_dir_root_must_exist_and_log_file_must_be_writable(
    finished: Path, tmp_path: Path, cli: Any
) -> None:
    gone = cli.toil("status", "--tempDirRoot", str(tmp_path / "nope"), str(finished))
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1
    assert "--tempDirRoot" in gone.stderr and "no such directory" in gone.stderr
    where = cli.toil("status", "--logFile", str(tmp_path / "no" / "x.log"), str(finished))
    assert where.returncode == 2 and where.stderr.count("\n") == 1
    assert "--logFile" in where.stderr
