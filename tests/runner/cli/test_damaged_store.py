"""Damaged job stores: unreadable results, a journal damaged in the middle, stored files
changed behind the store's back, and the privacy of what a store holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from backends.jobstore import journal
from runner.model.events import JobRan, decode

SCRIPTS = Path(__file__).parents[1] / "scripts"


def _events(store: Path) -> list[tuple[int, list[Any]]]:
    """Each journal frame of ``store``: its start offset and its events."""
    with open(store / "records" / "journal", "rb") as stream:
        frames = list(journal.scan(stream))
    starts = [0, *(end for end, _ in frames[:-1])]
    return [
        (start, list(decode(records))) for start, (_, records) in zip(starts, frames, strict=True)
    ]


def test_unreadable_results_count_as_none_and_their_jobs_rerun(tmp_path: Path, cli: Any) -> None:
    """Orphaned workers of a killed leader leave results; two of them are damaged (cut
    short, garbage): --restart warns once for each and reruns those two jobs only."""
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    leader = cli.start(store, work, "wait")
    cli.wait_for(
        lambda: (
            leader.poll() is None
            and store.exists()
            and cli.status_json(store)["counts"]["running"] == 3
        ),
        "three running holds",
    )
    workers = psutil.Process(leader.pid).children(recursive=True)
    leader.send_signal(signal.SIGKILL)
    leader.wait()
    (work / "release").touch()
    psutil.wait_procs(workers, timeout=60)  # each finishes its hold job and writes a result
    results = sorted((store / "jobs").glob("*.out"))
    assert len(results) >= 2, results
    whole = results[0].read_bytes()
    results[0].write_bytes(whole[: len(whole) // 2])
    results[1].write_bytes(b"\x00garbage that is no pickle")
    damaged = {p.name[:-4] for p in results[:2]}

    restarted = cli.run(store, work, "wait", "--restart")
    assert restarted.returncode == 0, restarted.stderr
    assert "TOTAL 5" in restarted.stdout
    warnings = [line for line in restarted.stderr.splitlines() if "cannot be read" in line]
    assert len(warnings) == 2 and all(any(j in w for j in damaged) for w in warnings), warnings
    assert "Traceback" not in restarted.stderr
    counts = cli.executions(work)
    assert {j: n for j, n in counts.items() if n > 1} == dict.fromkeys(damaged, 2)


def test_a_damaged_frame_in_the_middle_costs_only_its_own_jobs(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    first = cli.run(store, work, "chain", "--clean", "never")
    assert first.returncode == 0, first.stderr
    frames = _events(store)
    assert len(frames) > 10, len(frames)
    index = len(frames) // 3
    start, lost = frames[index]
    lost_ran = {e.job_id for e in lost if isinstance(e, JobRan)}
    kept_ran = {
        e.job_id
        for _, events in frames
        if events is not lost
        for e in events
        if isinstance(e, JobRan)
    }
    assert lost_ran and kept_ran
    data = bytearray((store / "records" / "journal").read_bytes())
    data[start + 20] ^= 0xFF  # one bad byte in the frame's payload
    (store / "records" / "journal").write_bytes(bytes(data))

    restarted = cli.run(store, work, "chain", "--restart")
    assert restarted.returncode == 0, restarted.stderr
    assert "TOTAL 48" in restarted.stdout
    assert f"damaged at byte {start}:" in restarted.stderr
    assert "Traceback" not in restarted.stderr
    counts = cli.executions(work)
    assert {j for j in kept_ran if counts.get(j, 0) > 1} == set(), "an intact job reran"
    assert {j for j, n in counts.items() if n > 1} <= lost_ran


def _stored_file_run(
    cli: Any, store: Path, work: Path, mode: str, damage: Callable[[], None]
) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        str(SCRIPTS / "stored_file.py"),
        str(store),
        str(work),
        mode,
        "--retryCount",
        "1",
        "--logLevel",
        "INFO",
        "--clean",
        "never",
    ]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        cli.wait_for(
            lambda: (work / "waiting").exists() or proc.poll() is not None,
            "the job that reads the stored file",
        )
        assert proc.poll() is None, proc.communicate()
        damage()
        (work / "release").touch()
        out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def test_a_truncated_stored_file_fails_the_job_that_reads_it(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()

    def truncate() -> None:
        (stored,) = store.glob("files/*/made.txt")
        stored.write_bytes(b"")

    result = _stored_file_run(cli, store, work, "made", truncate)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "SIZE" not in result.stdout
    assert "made.txt" in result.stderr and "holds 0 bytes where 12 were stored" in result.stderr
    assert "cannot be re-created" in result.stderr
    assert "retrying (attempt 2 of 2)" in result.stderr  # retryable: retried, in vain here


def test_a_damaged_input_is_put_back_from_the_users_file(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    (work / "input.txt").write_text("input bytes\n")

    def damage() -> None:
        (stored,) = store.glob("files/*/input.txt")
        fresh = work / "fresh"
        fresh.write_text("input bytes\n")
        os.replace(fresh, work / "input.txt")  # the user's input, restored as a new file
        stored.write_bytes(b"")  # the store's link to the old one is cut to nothing

    result = _stored_file_run(cli, store, work, "input", damage)
    assert result.returncode == 0, result.stderr
    assert "SIZE 12" in result.stdout
    logs = "".join(p.read_text() for p in store.glob("logs/*.log"))
    assert f"put it back from {work / 'input.txt'}" in logs  # the job's log says so


def test_an_explicit_store_is_private_whatever_the_umask(tmp_path: Path, cli: Any) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    argv = [
        sys.executable,
        str(SCRIPTS / "visible.py"),
        str(store),
        str(work),
        "fail",
        "--clean",
        "never",
        "--retryCount",
        "0",
        "--stats",
    ]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=lambda: os.umask(0),
    )
    assert result.returncode != 0 and "boom 4242" in result.stderr
    modes = {
        str(p.relative_to(store)): oct(p.stat().st_mode & 0o777) for p in [store, *store.rglob("*")]
    }
    assert {p: m for p, m in modes.items() if m not in ("0o700", "0o600")} == {}
    assert {"logs", "shared/config", "records/journal", "lease"} <= {
        p.split("/")[0] if p.startswith("logs/") else p for p in modes
    }
