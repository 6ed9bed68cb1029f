"""The typed run configuration: every option declared once, read from the command line,
the Python API's options object and the environment, stored in the job store without the
leader's own places, and each backend's options declared by the backend alone."""

from __future__ import annotations

import argparse
import json
import pickle
import re
from pathlib import Path

import pytest

from backends.batch.slurm import SlurmSettings
from backends.settings import declared
from runner.config.options import add_toil_options, build_config, default_options
from runner.config.runconfig import RunConfig, decode, encode
from runner.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_toil_options(parser, job_store_positional=False, argv=argv)
    return parser.parse_args(argv)


def test_the_core_names_no_backend_option() -> None:
    """Slurm's options are declared by the Slurm backend; no module of the core names them,
    yet the command line takes them and the run's configuration carries them typed."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "runner").rglob("*.py")
        if re.search(r"--slurm|slurmPartition|statePollingWait|batchLogsDir", path.read_text())
    ]
    assert offenders == []
    config = build_config(
        parse(["--batchSystem", "slurm", "--slurmPartition", "short", "--statePollingWait", "0.5"])
    )
    assert config.batch == SlurmSettings(partition="short", state_polling_wait=0.5)
    assert build_config(parse([])).batch_system == "single_machine"


def test_every_core_option_has_its_toil_name_on_the_api_object() -> None:
    options = default_options("./js")
    for item in declared(RunConfig):
        assert hasattr(options, item.key), item.key
    assert options.jobStore == "./js" and options.logLevel == "INFO"
    assert options.defaultMemory == 2 * 1024**3


def test_text_set_through_the_python_api_is_parsed_once() -> None:
    options = default_options("./js")
    options.maxMemory, options.retryCount, options.stats = "4G", "3", "true"
    config = build_config(options)
    assert (config.max_memory, config.retry_count, config.stats) == (4 * 1024**3, 3, True)
    options.maxCores = "many"
    with pytest.raises(UsageError, match="--maxCores 'many'"):
        build_config(options)


def test_an_environment_variable_gives_the_default_and_the_command_line_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOIL_SLURM_PE", "multi")
    monkeypatch.setenv("TOIL_BATCH_SYSTEM", "slurm")
    config = build_config(parse([]))
    assert config.batch_system == "slurm"
    assert isinstance(config.batch, SlurmSettings) and config.batch.pe == "multi"
    config = build_config(parse(["--slurmPE", "big", "--batchSystem", "slurm"]))
    assert isinstance(config.batch, SlurmSettings) and config.batch.pe == "big"


def test_the_stored_configuration_holds_no_place_only_the_leader_has(tmp_path: Path) -> None:
    """A worker on another host reads the stored configuration: the leader's log file and
    log directories are not in it; everything else comes back as it was."""
    argv = [
        "--batchSystem",
        "slurm",
        "--logFile",
        str(tmp_path / "leader.log"),
        "--writeLogs",
        str(tmp_path / "logs"),
        "--batchLogsDir",
        str(tmp_path / "slurm"),
        "--retryCount",
        "4",
        "--slurmTime",
        "1:00:00",
        "--workDir",
        str(tmp_path),
    ]
    config = build_config(parse(argv), user_main="/home/me/script.py")
    data = encode(config)
    assert data.count(str(tmp_path).encode()) == 1  # --workDir, which workers use
    assert json.loads(data)["version"] == 1
    back = decode(data)
    assert (back.retry_count, back.work_dir, back.user_main) == (
        4,
        str(tmp_path),
        "/home/me/script.py",
    )
    assert back.log_file is None and back.write_logs is None
    assert isinstance(back.batch, SlurmSettings)
    assert (back.batch.time, back.batch.batch_logs_dir) == ("1:00:00", None)


def test_a_configuration_an_older_moil_stored_is_refused_with_what_to_do() -> None:
    old = pickle.dumps(argparse.Namespace(jobStore="x", retryCount=1))
    with pytest.raises(UsageError, match="finish the run with the moil that started it"):
        decode(old)
    with pytest.raises(UsageError, match="format 7"):
        decode(b'{"version": 7}')
