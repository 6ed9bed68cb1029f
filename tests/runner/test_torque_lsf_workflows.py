"""The WDL scatter and a Python API example of Toil's documentation on ``torque`` (Slurm's
PBS wrappers over a real Slurm) and ``lsf`` (moil's LSF STAND-IN, not IBM Spectrum LSF),
giving the single-machine results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.runner.cluster_workflows import run_example, run_scatter, scheduler_commands

SYSTEMS = [
    pytest.param(
        "torque",
        "torque_cluster",
        "qsub",
        marks=[pytest.mark.slurm, pytest.mark.torque],
        id="torque",
    ),
    pytest.param("lsf", "lsf_cluster", "bsub", marks=pytest.mark.lsf, id="lsf-stand-in"),
]


@pytest.mark.parametrize(("system", "fixture", "submit"), SYSTEMS)
def test_wdl_scatter_and_promises_example_give_the_single_machine_results(
    tmp_path: Path, request: pytest.FixtureRequest, system: str, fixture: str, submit: str
) -> None:
    env = dict(request.getfixturevalue(fixture).env)
    local = run_scatter(tmp_path, "local", "--logLevel", "WARNING")
    there = run_scatter(
        tmp_path,
        system,
        "--batchSystem",
        system,
        "--statePollingWait",
        "0.2",
        "--logLevel",
        "INFO",
        env=env,
    )
    assert there["fan.cubes"] == local["fan.cubes"] == [27, 1, 64, 1, 125, 8]
    files = there["fan.files"]
    assert isinstance(files, list)
    assert [Path(f).read_text() for f in files] == [
        f"{system}{x}: {x**3}\n" for x in (3, 1, 4, 1, 5, 2)
    ]
    assert scheduler_commands(str(there["_stderr"]), system)[submit] >= 6
    promises = run_example(
        "tutorial_promises", tmp_path / "promises", TOIL_BATCH_SYSTEM=system, **env
    )
    assert re.findall(r"i is: (\d+)", promises.stderr) == ["1", "2", "3"]
    assert scheduler_commands(promises.stderr, system)[submit] == 3
