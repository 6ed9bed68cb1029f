"""The examples of Toil's documentation (examples/python/, only their imports changed) run on
moil as real scripts and give the documented results."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"
ALL_BINARY_5 = ["".join(bits) for bits in itertools.product("01", repeat=5)]


def run_example(
    name: str, cwd: Path, *args: str, ok: bool = True, script_dir: Path = EXAMPLES
) -> subprocess.CompletedProcess[str]:
    """Run ``examples/python/NAME.py ARGS`` in ``cwd`` as a user would; check its exit."""
    env = dict(os.environ, TMPDIR=str(cwd))  # the examples' own mkdtemp stores stay in cwd
    result = subprocess.run(
        [sys.executable, str(script_dir / f"{name}.py"), *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if ok:
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    else:
        assert result.returncode != 0, f"{name} should have failed:\n{result.stdout}"
    return result


def logged(result: subprocess.CompletedProcess[str], pattern: str) -> list[str]:
    """The captures of ``pattern`` in the leader's log, in order."""
    return re.findall(pattern, result.stderr)


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert lines, "no output"
    return lines[-1]


# -- single jobs ------------------------------------------------------------------------------
def test_helloworld_prints_the_message_and_cleans_its_store(tmp_path: Path) -> None:
    result = run_example("tutorial_helloworld", tmp_path, "file:my-job-store")
    assert result.stdout == "Hello, world!, here's a message: You did it!\n"
    assert not (tmp_path / "my-job-store").exists()


@pytest.mark.parametrize("name", ["tutorial_quickstart", "tutorial_invokeworkflow"])
def test_quickstart_and_invoke_print_the_return_value(tmp_path: Path, name: str) -> None:
    result = run_example(name, tmp_path)
    assert result.stdout == "Hello, world!, here's a message: Woot\n"
    assert not (tmp_path / "toilWorkflowRun").exists()


def test_invokeworkflow2_prints_the_return_value(tmp_path: Path) -> None:
    result = run_example("tutorial_invokeworkflow2", tmp_path)
    assert last_line(result.stdout) == "Hello, world!, I have a message: Woot!"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith("invokeworkflow2")]
    assert leftovers == [], "clean=always removes the store"


def test_arguments_take_the_job_store_from_the_command_line(tmp_path: Path) -> None:
    result = run_example("tutorial_arguments", tmp_path, "file:my-jobstore", "--clean=always")
    assert result.stdout == "Hello, world!, here's a message: Woot\n"
    assert not (tmp_path / "my-jobstore").exists()


def test_arguments_without_a_job_store_is_a_usage_error(tmp_path: Path) -> None:
    result = run_example("tutorial_arguments", tmp_path, ok=False)
    assert result.returncode == 2
    assert "jobStore" in result.stderr


def test_job_function_logs_on_the_leader(tmp_path: Path) -> None:
    result = run_example("tutorial_jobfunctions", tmp_path)
    assert logged(result, r"Hello world, I have a message: (.*)") == ["Woot!"]


# -- several jobs -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["tutorial_multiplejobs", "tutorial_multiplejobs2", "tutorial_multiplejobs3"]
)
def test_multiple_jobs_run_parent_then_children_then_last(tmp_path: Path, name: str) -> None:
    result = run_example(name, tmp_path)
    messages = logged(result, r"Hello world, I have a message: (.*)")
    assert messages == ["first", "second or third", "second or third", "last"]


def test_dynamic_jobs_log_each_binary_string_of_length_5_once(tmp_path: Path) -> None:
    result = run_example("tutorial_dynamic", tmp_path)
    strings = logged(result, r"Binary string: (\S*)")
    assert len(strings) == 32
    assert sorted(strings) == ALL_BINARY_5


def test_promises_log_i_is_1_2_3_in_order(tmp_path: Path) -> None:
    result = run_example("tutorial_promises", tmp_path)
    assert logged(result, r"i is: (\d+)") == ["1", "2", "3"]


def test_recursive_promises_return_the_32_binary_strings(tmp_path: Path) -> None:
    result = run_example("tutorial_promises2", tmp_path)
    assert last_line(result.stdout) == repr(ALL_BINARY_5)


def test_promised_requirements_run(tmp_path: Path) -> None:
    run_example("tutorial_requirements", tmp_path)
    assert not (tmp_path / "toilWorkflowRun").exists()


# -- files ------------------------------------------------------------------------------------
def test_local_temp_files(tmp_path: Path) -> None:
    run_example("tutorial_managing", tmp_path)


def test_global_files_write_read_stream_delete(tmp_path: Path) -> None:
    result = run_example("tutorial_managing2", tmp_path)
    assert logged(result, r"The following example exercises (all the methods)") == [
        "all the methods"
    ]


def test_staging_imports_runs_and_exports(tmp_path: Path) -> None:
    # A copy, because the example writes its output next to itself.
    shutil.copy(EXAMPLES / "tutorial_staging.py", tmp_path)
    shutil.copytree(EXAMPLES / "stagingExampleFiles", tmp_path / "stagingExampleFiles")
    (tmp_path / "stagingExampleFiles" / "out.txt").unlink(missing_ok=True)
    run_example("tutorial_staging", tmp_path, script_dir=tmp_path)
    assert (tmp_path / "stagingExampleFiles" / "out.txt").read_text() == "Hello,\nWorld!"


def test_discover_files_runs_ls_in_jobs(tmp_path: Path) -> None:
    run_example("tutorial_discoverfiles", tmp_path, "file:my-jobstore", "--clean=always")
    assert not (tmp_path / "my-jobstore").exists()


# -- services, encapsulation, checkpoints -----------------------------------------------------
def test_service_start_value_reaches_the_child(tmp_path: Path) -> None:
    run_example("tutorial_services", tmp_path)
    assert not (tmp_path / "toilWorkflowRun").exists()


@pytest.mark.parametrize("name", ["tutorial_encapsulation", "tutorial_encapsulation2"])
def test_encapsulation(tmp_path: Path, name: str) -> None:
    result = run_example(name, tmp_path)
    assert last_line(result.stdout) == "None"


def _runs(directory: Path, kind: str) -> int:
    return sum(1 for p in directory.iterdir() if p.name.startswith(kind + "-"))


def test_checkpoint_reruns_when_a_successor_fails_its_retries(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = run_example(
        "checkpoints",
        tmp_path,
        "file:store",
        "--runsDir",
        str(runs),
        "--failures",
        "2",
        "--retryCount",
        "1",
    )
    assert last_line(result.stdout) == "flaky succeeded on attempt 2"
    assert (_runs(runs, "checkpoint"), _runs(runs, "flaky")) == (2, 3)


def test_checkpoint_gives_up_after_its_own_retries_then_restart_finishes(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    args = ("file:store", "--runsDir", str(runs), "--failures", "4", "--retryCount", "1")
    failed = run_example("checkpoints", tmp_path, *args, ok=False)
    assert "flaky attempt 3 fails on purpose" in failed.stderr
    assert (_runs(runs, "checkpoint"), _runs(runs, "flaky")) == (2, 4)
    assert (tmp_path / "store").is_dir(), "a failed run keeps its store for --restart"

    result = run_example("checkpoints", tmp_path, *args, "--restart")
    assert last_line(result.stdout) == "flaky succeeded on attempt 4"
    assert (_runs(runs, "checkpoint"), _runs(runs, "flaky")) == (2, 5)
    assert not (tmp_path / "store").exists()


def test_always_failing_workflow_reports_the_error_and_keeps_its_store(tmp_path: Path) -> None:
    result = run_example("example_alwaysfail", tmp_path, "file:jobstore", ok=False)
    assert "RuntimeError: Boom!" in result.stderr
    assert "Something somewhere has gone terribly wrong" in result.stderr
    assert (tmp_path / "jobstore").is_dir()


# -- the merge sort ---------------------------------------------------------------------------
def sorted_by_sort(path: Path) -> str:
    out = subprocess.run(
        ["sort", str(path)],
        env=dict(os.environ, LC_ALL="C"),
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_merge_sort_with_default_settings(tmp_path: Path) -> None:
    result = run_example("sort", tmp_path, "file:jobStore")
    assert "Generating one automatically called: fileToSort.txt" in result.stdout
    lines = (tmp_path / "fileToSort.txt").read_text().splitlines()
    assert len(lines) == 1000 and {len(line) for line in lines} == {49}
    assert (tmp_path / "sortedFile.txt").read_text() == sorted_by_sort(tmp_path / "fileToSort.txt")
    assert not (tmp_path / "jobStore").exists()


def test_merge_sort_with_custom_options_and_checkpoints(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run_example(
        "sort",
        tmp_path,
        "file:jobStore",
        "--numLines=5000",
        "--lineLength=10",
        "--overwriteOutput=True",
        f"--workDir={work}",
        "--N=2000",
        "--downCheckpoints",
    )
    assert len((tmp_path / "fileToSort.txt").read_text().splitlines()) == 5000
    assert (tmp_path / "sortedFile.txt").read_text() == sorted_by_sort(tmp_path / "fileToSort.txt")
    # the jobs' directories (and those the workers kept emptied for their next job) are gone
    assert list(work.iterdir()) == []


def _count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


@pytest.mark.slow
def test_merge_sort_resumes_after_the_leader_is_killed(tmp_path: Path) -> None:
    # The docs' "Error Handling and Resuming Pipelines": a run stops half way (here the
    # leader is SIGKILLed), the store is kept, and --restart finishes with the same output.
    args = ("file:jobStore", "--numLines=4000", "--N=2000", "--logLevel=WARNING")
    env = dict(os.environ, TMPDIR=str(tmp_path))
    leader = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "sort.py"), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store_files = tmp_path / "jobStore" / "files"
    deadline = time.monotonic() + 300
    while _count_files(store_files) < 40 and time.monotonic() < deadline:
        assert leader.poll() is None, leader.communicate()
        time.sleep(0.02)
    workers = psutil.Process(leader.pid).children(recursive=True)
    leader.kill()
    leader.communicate()
    psutil.wait_procs(workers, timeout=60)
    assert (tmp_path / "jobStore").is_dir()
    assert not (tmp_path / "sortedFile.txt").exists(), "the kill must land mid-run"

    run_example("sort", tmp_path, *args, "--restart", "--overwriteOutput=True")
    assert (tmp_path / "sortedFile.txt").read_text() == sorted_by_sort(tmp_path / "fileToSort.txt")
    assert not (tmp_path / "jobStore").exists()
