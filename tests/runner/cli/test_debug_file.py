"""`toil debug-file` on the store of a real CWL run (a scatter of four greetings gathered
into one file): list the stored files, fetch them by pattern, all of them, as links."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
GREETINGS = {f"Hello {name}!\n" for name in ("Ada", "Grace", "Barbara", "Frances")}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of a finished run: its kept store in ``store``, outputs in ``out``."""
    root = tmp_path_factory.mktemp("debugfile")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "languages.cwl.cli",
            "--jobStore",
            str(root / "store"),
            "--clean",
            "never",
            "--outdir",
            str(root / "out"),
            "--logLevel",
            "WARNING",
            str(REPO / "examples/workflow/greet.cwl"),
            str(REPO / "examples/workflow/greet-job.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=root,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["greetings"]["basename"] == "greetings.txt"
    return root


def debug_file(
    cli: Any, run: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.toil_cmd", "debug-file", str(run / "store"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd or run,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )


def test_list_files_prints_each_stored_file_and_writes_toils_listing(
    run: Path, tmp_path: Path, cli: Any
) -> None:
    done = debug_file(cli, run, "--listFilesInJobStore", "true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    names = sorted(file_id.split("/")[1] for file_id, _ in rows)
    assert names == ["greetings.txt", *["output.txt"] * 4]
    sizes = {file_id.split("/")[1]: int(size) for file_id, size in rows}
    assert sizes["greetings.txt"] == (run / "out" / "greetings.txt").stat().st_size
    assert sorted((tmp_path / "jobstore_files.txt").read_text().splitlines()) == names


def test_fetch_by_pattern_copies_the_matching_files_without_overwriting(
    run: Path, tmp_path: Path, cli: Any
) -> None:
    into = tmp_path / "fetched"
    into.mkdir()
    done = debug_file(cli, run, "--fetch", "greet*", "output.txt", "--localFilePath", str(into))
    assert done.returncode == 0, done.stderr
    assert (into / "greetings.txt").read_text() == (run / "out" / "greetings.txt").read_text()
    outputs = sorted(p.name for p in into.iterdir() if p.name.startswith("output.txt"))
    assert outputs == ["output.txt", "output.txt_2", "output.txt_3", "output.txt_4"]
    assert {(into / name).read_text() for name in outputs} == GREETINGS
    assert not any(p.is_symlink() for p in into.iterdir())


def test_fetch_entire_job_store_with_symlinks(run: Path, tmp_path: Path, cli: Any) -> None:
    done = debug_file(
        cli,
        run,
        "--fetchEntireJobStore",
        "true",
        "--useSymlinks",
        "true",
        "--localFilePath",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    fetched = sorted(tmp_path.iterdir())
    assert len(fetched) == 5
    store = (run / "store").resolve()
    for path in fetched:
        assert path.is_symlink() and store in path.resolve().parents
    assert {p.read_text() for p in fetched if p.name.startswith("output")} == GREETINGS


def test_mistakes_are_one_line_with_their_exit_code(run: Path, tmp_path: Path, cli: Any) -> None:
    none = debug_file(cli, run, "--fetch", "*.bam", "--localFilePath", str(tmp_path))
    assert (
        none.returncode == 1 and none.stderr == "toil debug-file: no stored file matches '*.bam'\n"
    )
    missing = cli.toil("debug-file", str(tmp_path / "nothing"), "--listFilesInJobStore", "true")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no job store" in missing.stderr
    bad = debug_file(cli, run, "--useSymlinks", "maybe", "--fetchEntireJobStore", "true")
    assert bad.returncode == 2 and "--useSymlinks maybe" in bad.stderr
    nothing = debug_file(cli, run)
    assert nothing.returncode == 2 and "--listFilesInJobStore" in nothing.stderr
    assert list(tmp_path.iterdir()) == []


def test_debug_job_retrieve_task_directory_copies_a_tasks_stored_inputs(
    run: Path, tmp_path: Path, cli: Any
) -> None:
    per_job = cli.toil("status", "--perJob", str(run / "store")).stdout.splitlines()
    gathers = [line.split("\t")[0].split()[1] for line in per_job if "/gather " in line]
    found = {}
    for job_id in gathers:
        into = tmp_path / job_id
        done = cli.toil(
            "debug-job", "--retrieveTaskDirectory", str(into), str(run / "store"), job_id
        )
        assert done.returncode == 0, done.stderr
        assert "not run" in done.stderr
        found[job_id] = sorted(p.name for p in into.iterdir())
    assert len(found) == 2  # the gather step and its tool: both are given the four files
    for job_id, names in found.items():
        assert names == ["output.txt", "output.txt_2", "output.txt_3", "output.txt_4"]
        assert {p.read_text() for p in (tmp_path / job_id).iterdir()} == GREETINGS
    root = [line.split("\t")[0].split()[1] for line in per_job if line.startswith("JOB:greet.cwl ")]
    none = cli.toil(
        "debug-job", "--retrieveTaskDirectory", str(tmp_path / "root"), str(run / "store"), root[0]
    )
    assert none.returncode == 0 and "copied 0 stored input files" in none.stderr
