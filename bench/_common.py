"""Shared helpers of the bench/ scripts: run a command as a user would and measure it.

What `run_measured` reports for one command (a fresh process tree):
- wall: seconds from start to exit;
- cpu (user + sys): of the whole process tree, from ``getrusage(RUSAGE_CHILDREN)`` deltas,
  so it counts every descendant that was waited for (leader, workers, tools);
- leader peak RSS: the command's own process, sampled with psutil every ``SAMPLE_SECONDS``;
- write_bytes: bytes the tree caused to be written to storage (``/proc/self/io`` deltas; the
  kernel adds a reaped child's counters to its parent's, so this is the whole tree too).
  Bytes written to a file deleted before write-back still count: that is what makes it a
  measure of copies made.
- read_chars: bytes the tree read through read-like system calls (``rchar``), page cache hits
  included: a file read whole (a checksum, a copy) shows here even when it is cached.

CPU and bytes do not depend on how loaded the machine is; wall time and RSS sampling do.
Nothing here imports an engine: they run only as subprocesses.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
MOIL_BIN = os.path.join(REPO, ".venv", "bin")
SAMPLE_SECONDS = 0.05


def peers_venv() -> str:
    """Where bench/peers.sh puts Toil, cwltool and miniwdl (``PEERS_VENV`` overrides)."""
    return os.environ.get("PEERS_VENV", os.path.join(REPO, ".venv-peers"))


def peer_command(name: str) -> str | None:
    """Path of a console script of the peers venv, or None when it is not installed."""
    path = os.path.join(peers_venv(), "bin", name)
    return path if os.access(path, os.X_OK) else None


def moil_command(name: str) -> str:
    """Path of one of moil's console scripts (``toil-cwl-runner``, ``toil-wdl-runner``)."""
    return os.path.join(MOIL_BIN, name)


@dataclass
class Measure:
    """Figures of one command run (see the module docstring)."""

    wall: float
    user: float
    sys: float
    leader_peak_rss_mib: float
    write_bytes: int
    read_chars: int
    returncode: int
    timed_out: bool = False
    stderr_tail: str = ""
    stdout: str = field(default="", repr=False)

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def _proc_io() -> dict[str, int]:
    with open("/proc/self/io", encoding="ascii") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


class _RssSampler(threading.Thread):
    """Polls one process's RSS until it exits; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self._done = threading.Event()
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._proc = None

    def run(self) -> None:
        while self._proc is not None and not self._done.is_set():
            try:
                self.peak = max(self.peak, self._proc.memory_info().rss)
            except psutil.Error:
                return
            self._done.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_measured(
    argv: Sequence[str],
    cwd: str,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> Measure:
    """Run ``argv`` in its own session and measure it; never raises for a failing command.

    The command's stdout is kept (engines print their output object there); stderr keeps
    its last 3000 characters. On ``timeout`` the whole session is killed and ``timed_out``
    is set.
    """
    stderr_path = os.path.join(cwd, ".bench-stderr")
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    io0 = _proc_io()
    start = time.perf_counter()
    with open(stderr_path, "w+b") as stderr:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        sampler = _RssSampler(proc.pid)
        sampler.start()
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        wall = time.perf_counter() - start
        sampler.stop()
        stderr.seek(0)
        tail = stderr.read().decode(errors="replace")[-3000:]
    os.remove(stderr_path)
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    io1 = _proc_io()
    _wait_for_detached_cleanup()
    return Measure(
        wall=wall,
        user=usage1.ru_utime - usage0.ru_utime,
        sys=usage1.ru_stime - usage0.ru_stime,
        leader_peak_rss_mib=sampler.peak / 2**20,
        write_bytes=io1["write_bytes"] - io0["write_bytes"],
        read_chars=io1["rchar"] - io0["rchar"],
        returncode=proc.returncode,
        timed_out=timed_out,
        stderr_tail=tail,
        stdout=out.decode(errors="replace"),
    )


def _wait_for_detached_cleanup(limit: float = 120.0) -> None:
    """Wait until no detached ``rm`` of a moil job store runs (moil deletes its temporary
    store in the background after the command returns): the next measured run must not
    share the machine with the last one's clean-up. Not counted in any figure."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy = False
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if proc.info.get("name") == "rm" and any(".deleting-" in a for a in cmdline):
                busy = True
                break
        if not busy:
            return
        time.sleep(0.1)


def bare_cost(argv: Sequence[str], times: int, cwd: str, stdout_file: bool = True) -> Measure:
    """What ``times`` runs of the bare tool cost by themselves (fork+exec from Python,
    stdout to a file when ``stdout_file``, as an engine would run it)."""
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    target = os.path.join(cwd, ".bench-bare-out")
    for _ in range(times):
        with open(target if stdout_file else os.devnull, "wb") as out:
            subprocess.run(list(argv), cwd=cwd, stdout=out, check=True)
    wall = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if stdout_file:
        os.remove(target)
    return Measure(
        wall=wall,
        user=usage1.ru_utime - usage0.ru_utime,
        sys=usage1.ru_stime - usage0.ru_stime,
        leader_peak_rss_mib=0.0,
        write_bytes=0,
        read_chars=0,
        returncode=0,
    )


def machine() -> dict[str, Any]:
    """The facts a figure needs beside it: date, cores, memory, load, Python."""
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host_cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


class LoadTracker:
    """Load average samples taken between runs, summarised as min/mean/max of the 1-min load."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def sample(self) -> float:
        load = os.getloadavg()[0]
        self.samples.append(load)
        return load

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        return {
            "min": round(min(self.samples), 2),
            "mean": round(sum(self.samples) / len(self.samples), 2),
            "max": round(max(self.samples), 2),
        }


class Report:
    """The table a benchmark prints as its runs finish, and the JSON it writes at the end.

    ``report.run(fn, *args)`` calls ``fn(*args)`` for one row, records the load average around it and
    prints the row under the header; ``report.finish(args)`` prints the whole table again and
    writes bench/results/NAME-TIMESTAMP.json with the machine's facts and every row."""

    def __init__(self, name: str, title: str, columns: list[tuple[str, str, str]]) -> None:
        self.name = name
        self.columns = columns
        self.info = machine()
        self.load = LoadTracker()
        self.rows: list[dict[str, Any]] = []
        print(
            f"{title}, {self.info['date']}, {self.info['host_cores']} cores, "
            f"load {self.info['load_average']}"
        )
        print(table([], columns))

    def run(self, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        before = self.load.sample()
        row = fn(*args)
        row["load"] = (before + self.load.sample()) / 2
        self.rows.append(row)
        print(table([row], self.columns).splitlines()[1], flush=True)
        return row

    def finish(self, args: Any) -> None:
        print()
        print(table(self.rows, self.columns))
        self.info["load_during_runs"] = self.load.summary()
        payload = {"machine": self.info, "args": vars(args), "rows": self.rows}
        path = write_results(self.name, payload)
        print(f"\nload average during runs: {self.load.summary()}; results: {path}")


def write_results(name: str, payload: dict[str, Any]) -> str:
    """Write ``payload`` to bench/results/NAME-TIMESTAMP.json (gitignored); return the path."""
    os.makedirs(RESULTS, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(RESULTS, f"{name}-{stamp}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, default=_json_default)
        f.write("\n")
    return path


def _json_default(value: object) -> object:
    if isinstance(value, Measure):
        data = asdict(value)
        data.pop("stdout")
        data["cpu"] = value.cpu
        return data
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Rows as a fixed-width text table; ``columns`` are (key, header, format spec)."""
    cells = [
        ["-" if row.get(key) is None else format(row[key], spec) for key, _, spec in columns]
        for row in rows
    ]
    # A floor on widths keeps rows printed one by one (as runs finish) under the header.
    widths = [
        max(len(header), 7, *(len(c[i]) for c in cells)) for i, (_, header, _) in enumerate(columns)
    ]
    lines = ["  ".join(h.rjust(w) for (_, h, _), w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)
