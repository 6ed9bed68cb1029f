"""Toil options moil implements, on real runs of the commands (single-machine backend)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.runner.commands import command_env

BIN = Path(sys.executable).parent

ENV_CWL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, 'echo "$MOIL_A/$MOIL_B"']
stdout: env.txt
inputs: []
outputs:
  out: {type: stdout}
"""

ENV_WDL = """\
version 1.0
task env {
  command <<< echo "$MOIL_A/$MOIL_B" >>>
  output { String out = read_string(stdout()) }
}
"""


def run(tmp: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=tmp,
        env=dict(command_env(tmp), **env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_setenv_reaches_a_cwl_tool(tmp_path: Path) -> None:
    (tmp_path / "env.cwl").write_text(ENV_CWL)
    done = run(
        tmp_path,
        [
            str(BIN / "toil-cwl-runner"),
            "--setEnv",
            "MOIL_A=given",
            "-e",
            "MOIL_B",
            "--outdir",
            "out",
            "env.cwl",
        ],
        MOIL_B="leader's",
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "env.txt").read_text() == "given/leader's\n"


def test_setenv_reaches_a_wdl_task(tmp_path: Path) -> None:
    (tmp_path / "env.wdl").write_text(ENV_WDL)
    done = run(
        tmp_path,
        [
            str(BIN / "toil-wdl-runner"),
            "env.wdl",
            "-e",
            "MOIL_A=x=1",
            "--setEnv",
            "MOIL_B",
            "-o",
            "out",
        ],
        MOIL_B="from the leader",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"env.out": "x=1/from the leader"}


def test_setenv_of_a_variable_that_is_not_set_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "env.wdl").write_text(ENV_WDL)
    done = run(tmp_path, [str(BIN / "toil-wdl-runner"), "env.wdl", "-e", "MOIL_UNSET_X"])
    assert done.returncode == 2
    line = "toil-wdl-runner: --setEnv MOIL_UNSET_X: MOIL_UNSET_X is not set here; give "
    assert done.stderr.strip().splitlines() == [line + "MOIL_UNSET_X=VALUE"]


SCRIPTS = Path(__file__).parent / "scripts"


def limits(tmp: Path, mode: str, *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    run_dir = tmp / "marks"
    run_dir.mkdir()
    return run(
        tmp,
        [
            sys.executable,
            str(SCRIPTS / "toil_limits.py"),
            str(tmp / "js"),
            mode,
            str(run_dir),
            "--maxCores",
            "4",
            *options,
        ],
        **env,
    )


def most_at_once(tmp: Path) -> int:
    return max(int(p.read_text()) for p in (tmp / "marks").glob("seen.*"))


def test_max_jobs_caps_the_jobs_running_at_once(tmp_path: Path) -> None:
    done = limits(tmp_path, "wide", "--maxJobs", "2")
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "marks").glob("seen.*"))) == 6
    assert most_at_once(tmp_path) <= 2


def test_without_max_jobs_they_run_together(tmp_path: Path) -> None:
    done = limits(tmp_path, "wide")
    assert done.returncode == 0, done.stderr
    assert most_at_once(tmp_path) > 2  # the test above could fail


def test_stop_on_first_failure_ends_the_run_at_once(tmp_path: Path) -> None:
    done = limits(tmp_path, "failing", "--retryCount", "0", "--stopOnFirstFailure", "true")
    assert done.returncode == 1
    assert "--stopOnFirstFailure" in done.stderr
    assert not (tmp_path / "marks" / "after").exists()


def test_without_stop_on_first_failure_the_rest_runs(tmp_path: Path) -> None:
    done = limits(tmp_path, "failing", "--retryCount", "0", MOIL_TEST_SLEEP="0.1")
    assert done.returncode == 1
    assert (tmp_path / "marks" / "after").exists()


def test_container_singularity_stops_a_task_that_names_an_image(tmp_path: Path) -> None:
    (tmp_path / "img.wdl").write_text(
        'version 1.0\ntask img {\n  command <<< echo hi >>>\n  runtime { docker: "ubuntu:22.04" }'
        "\n  output { String out = read_string(stdout()) }\n}\n"
    )
    done = run(tmp_path, [str(BIN / "toil-wdl-runner"), "img.wdl", "--container", "singularity"])
    assert done.returncode == 33, done.stderr
    assert "--container singularity: moil cannot run Singularity yet" in done.stderr
    (tmp_path / "plain.wdl").write_text(ENV_WDL)
    plain = run(
        tmp_path,
        [
            str(BIN / "toil-wdl-runner"),
            "plain.wdl",
            "--wdlContainer",
            "singularity",
            "-e",
            "MOIL_A=a",
            "-e",
            "MOIL_B=b",
        ],
    )
    assert plain.returncode == 0, plain.stderr  # no image: nothing to run it in


HOG_WDL = """\
version 1.0
task hog {
  command <<<
    python3 -c 'import time; b = bytearray(250 * 2**20); b[::4096] = b"x" * len(b[::4096]); time.sleep(1.5)'
    echo done
  >>>
  runtime { memory: "150 MiB" }
  output { String out = read_string(stdout()) }
}
"""


def test_double_mem_retries_a_task_over_its_memory_with_twice_as_much(tmp_path: Path) -> None:
    (tmp_path / "hog.wdl").write_text(HOG_WDL)
    done = run(
        tmp_path,
        [
            str(BIN / "toil-wdl-runner"),
            "hog.wdl",
            "--doubleMem",
            "true",
            "--retryCount",
            "1",
            "--container",
            "none",
        ],
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"hog.out": "done"}
    assert "killed for using more memory than it asked for" in done.stderr
    assert "retrying with 2 times its memory (--doubleMem)" in done.stderr


def test_double_mem_kills_a_task_over_its_memory_and_fails_without_retries(
    tmp_path: Path,
) -> None:
    (tmp_path / "hog.wdl").write_text(HOG_WDL)
    done = run(
        tmp_path,
        [
            str(BIN / "toil-wdl-runner"),
            "hog.wdl",
            "--doubleMem",
            "--retryCount",
            "0",
            "--container",
            "none",
        ],
    )
    assert done.returncode == 1
    assert "MiB asked" in done.stderr and "killed for using more memory" in done.stderr


def test_retry_backoff_waits_longer_before_each_retry(tmp_path: Path) -> None:
    done = limits(
        tmp_path,
        "flaky",
        "--retryCount",
        "2",
        "--retryBackoffSeconds",
        "0.5",
        "--retryBackoffFactor",
        "3",
    )
    assert done.returncode == 0, done.stderr
    assert "retrying in 0.5 s (--retryBackoffSeconds)" in done.stderr
    assert "retrying in 1.5 s (--retryBackoffSeconds)" in done.stderr
    times = [
        [float(t) for t in (tmp_path / "marks" / f"attempt.{n}").read_text().split()]
        for n in range(3)
    ]
    # each retry starts no sooner than its wait after the attempt before it failed
    assert times[1][0] - times[0][1] >= 0.5
    assert times[2][0] - times[1][1] >= 1.5


def test_debug_worker_runs_jobs_in_the_leaders_process(tmp_path: Path) -> None:
    done = limits(tmp_path, "pid", "--debugWorker")
    assert done.returncode == 0, done.stderr
    leader, job = done.stdout.split()
    assert leader == job


def test_without_debug_worker_a_job_runs_in_a_worker(tmp_path: Path) -> None:
    done = limits(tmp_path, "pid")
    assert done.returncode == 0, done.stderr
    leader, job = done.stdout.split()
    assert leader != job
