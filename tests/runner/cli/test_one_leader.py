"""One leader per job store: a second leader is refused at once and names the first; a
SIGKILLed leader never blocks a restart; `toil status`, `toil clean` and `toil kill` know
who holds the store."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

TOOL = """cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, "sleep 3; echo done > out.txt"]
inputs: []
outputs: {out: {type: File, outputBinding: {glob: out.txt}}}
"""


def _holds_running(leader: subprocess.Popen[str], store: Path, cli: Any) -> bool:
    assert leader.poll() is None, leader.communicate()
    return store.exists() and cli.status_json(store)["counts"]["running"] == 3


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_a_second_leader_is_refused_at_once_and_the_first_finishes(
    tmp_path: Path, cli: Any
) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    first = cli.start(store, work, "wait", "--clean", "never")
    try:
        cli.wait_for(lambda: _holds_running(first, store, cli), "three running hold jobs")
        started = time.monotonic()
        second = cli.run(store, work, "wait", "--restart", timeout=60)
        refused_after = time.monotonic() - started
        assert first.poll() is None, "the second leader must not wait for the first"
        assert second.returncode == 2, second.stderr
        (line,) = _error_lines(second.stderr)
        assert "in use by a running leader" in line and f"pid {first.pid} on " in line
        assert "since " in line and f"toil kill file:{store}" in line and "Traceback" not in line
        print(f"second leader refused after {refused_after:.2f}s (process start included)")

        data = cli.status_json(store)
        assert data["state"] == "running" and data["leader"]["pid"] == first.pid
        assert data["leader"]["lease"]["owner"] == "visible.py"
        text = cli.toil("status", str(store)).stdout
        assert f"pid {first.pid} on " in text.splitlines()[0]
        cleaned = cli.toil("clean", str(store))
        assert cleaned.returncode == 2 and "toil kill" in cleaned.stderr
        assert store.exists() and first.poll() is None, "clean left the live run alone"
    finally:
        (work / "release").touch()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "TOTAL 5" in out
    counts = cli.executions(work)
    assert len(counts) == 5 and set(counts.values()) == {1}, counts
    assert cli.status_json(store)["state"] == "succeeded"
    assert cli.toil("clean", str(store)).returncode == 0 and not store.exists()


def test_a_sigkilled_leader_never_blocks_a_restart(tmp_path: Path, cli: Any) -> None:
    """The store is taken at once, while the killed leader's workers still run their jobs
    (they were forked from it: they must not hold its lease)."""
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    first = cli.start(store, work, "wait")
    cli.wait_for(lambda: _holds_running(first, store, cli), "three running hold jobs")
    workers = psutil.Process(first.pid).children(recursive=True)
    first.send_signal(signal.SIGKILL)
    first.wait()
    restart = cli.start(store, work, "wait", "--restart")
    try:
        cli.wait_for(
            lambda: cli.status_json(store)["leader"].get("pid") == restart.pid,
            "the restarted leader holding the store",
            timeout=30,
        )
        assert [w for w in workers if w.is_running()], "the orphaned workers still run"
        assert restart.poll() is None
    finally:
        (work / "release").touch()
        out, err = restart.communicate(timeout=120)
    assert restart.returncode == 0, err
    assert "TOTAL 5" in out
    counts = cli.executions(work)
    assert len(counts) == 5 and set(counts.values()) == {1}, counts


def test_a_second_cwl_leader_exits_2_naming_the_first(tmp_path: Path, cli: Any) -> None:
    tool = tmp_path / "sleep.cwl"
    tool.write_text(TOOL)
    store = tmp_path / "store"
    runner = str(Path(sys.executable).with_name("toil-cwl-runner"))
    argv = [runner, "--jobStore", str(store), "--no-container"]
    with subprocess.Popen(
        [*argv, "--outdir", str(tmp_path / "o1"), str(tool)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as first:
        cli.wait_for(lambda: any(store.glob("jobs/*.in")), "the first leader's tool running")
        second = subprocess.run(
            [*argv, "--restart", "--outdir", str(tmp_path / "o2"), str(tool)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert first.poll() is None
        _, err = first.communicate(timeout=120)
    assert second.returncode == 2, second.stderr
    (line,) = _error_lines(second.stderr)
    assert "in use by a running leader" in line and f"pid {first.pid} on " in line
    assert "(toil-cwl-runner, pid" in line
    assert first.returncode == 0, err
    assert (tmp_path / "o1" / "out.txt").read_text() == "done\n"
    assert not (tmp_path / "o2").exists()


def test_two_runs_in_one_process_on_one_memory_store(tmp_path: Path) -> None:
    from runner.api.job import Job
    from runner.config.options import build_config
    from runner.config.runconfig import RunConfig
    from runner.engine.run import Run
    from runner.errors import JobStoreInUseError

    def options(restart: bool) -> RunConfig:
        opts = Job.Runner.getDefaultOptions("memory:one-leader-test")
        opts.restart, opts.workDir = restart, str(tmp_path)
        opts.batchSystem = "inline"  # a memory: store's jobs must run in this process
        return build_config(opts)

    with Run(options(False)) as first:
        with pytest.raises(JobStoreInUseError, match="in use by a running leader"):
            Run(options(True)).__enter__()
        assert first.store.lease_holder() is not None
    assert not first.store.exists() or first.store.lease_holder() is None
