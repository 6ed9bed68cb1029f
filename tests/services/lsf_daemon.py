"""The scheduling daemon of the LSF stand-in (tests/services/lsf.py): starts pending jobs as
local processes when the host's slots and memory allow, watches them, and records how they
ended. Run as ``python -m tests.services.lsf_daemon LSF_ENVDIR`` (lsf.py starts it).

Each tick (0.1 s): new records and kill requests are read; pending jobs are started in id
order while slots and reserved memory (``rusage[mem=]``, for the whole job) remain; every
running job's memory (the resident set of its process tree) is sampled about twice a second
against ``-M`` and its age against ``-W``. A job over a limit, or named by ``bkill``, gets
LSF's signal sequence: SIGINT, SIGTERM, SIGKILL, ``JOB_TERMINATE_INTERVAL`` seconds apart
(1 s here, 10 s in LSF's default), and ends ``EXIT`` with ``TERM_MEMLIMIT``,
``TERM_RUNLIMIT``, ``TERM_OWNER`` or ``TERM_ADMIN``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import psutil

from tests.services import lsf_jobs
from tests.services.lsf_jobs import Config, Job

TICK = 0.1
SAMPLE_EVERY = 0.5
_SEQUENCE = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


@dataclass
class Running:
    """A started job: its process, and where its kill sequence stands."""

    job: Job
    process: subprocess.Popen[bytes]
    reason: str = ""  # TERM_* once the daemon decided to end it
    signals_sent: int = 0
    last_signal: float = 0.0
    sampled: float = 0.0


@dataclass
class Daemon:
    config: Config
    pending: dict[int, Job] = field(default_factory=dict)
    running: dict[int, Running] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    def tick(self) -> None:
        self._read_new()
        self._handle_kills()
        self._schedule()
        now = time.time()
        for job_id in list(self.running):
            self._watch(self.running[job_id], now)

    def _read_new(self) -> None:
        for path in lsf_jobs.jobs_dir(self.config).glob("*.json"):
            job_id = int(path.stem)
            if job_id in self.seen:
                continue
            job = lsf_jobs.load(self.config, job_id)
            if job is None:
                continue  # being written
            self.seen.add(job_id)
            if job.stat == "PEND":
                self.pending[job_id] = job

    def _handle_kills(self) -> None:
        for request in (self.config.share / "kill").iterdir():
            job_id = int(request.name)
            signal_name, requester = (request.read_text().split() + ["", ""])[:2]
            request.unlink()
            owner_kill = requester in (self._owner(job_id), "")
            reason = "TERM_OWNER" if owner_kill else "TERM_ADMIN"
            if job_id in self.pending:
                job = self.pending.pop(job_id)
                self._finish(job, None, reason)
            elif job_id in self.running:
                entry = self.running[job_id]
                if signal_name in ("", "KILL_SEQUENCE"):
                    entry.reason = entry.reason or reason
                else:
                    self._signal(entry, getattr(signal, f"SIG{signal_name}", signal.SIGTERM))

    def _owner(self, job_id: int) -> str:
        job = self.pending.get(job_id) or (
            self.running[job_id].job if job_id in self.running else None
        )
        return job.user if job else ""

    def _schedule(self) -> None:
        free_slots = self.config.slots - sum(r.job.slots for r in self.running.values())
        free_mem = self.config.memory_mb - sum(
            r.job.mem_reserve_mb or 0 for r in self.running.values()
        )
        for job_id in sorted(self.pending):
            job = self.pending[job_id]
            wanted_mem = job.mem_reserve_mb or 0
            if job.slots > free_slots:
                self._pend(job, "Not enough job slot(s): 1 host;")
            elif wanted_mem > free_mem:
                self._pend(
                    job, "Job requirements for reserving resource (mem) not satisfied: 1 host;"
                )
            else:
                del self.pending[job_id]
                self._start(job)
                free_slots -= job.slots
                free_mem -= wanted_mem

    def _pend(self, job: Job, reason: str) -> None:
        if job.pend_reason != reason:
            job.pend_reason = reason
            lsf_jobs.save(self.config, job)

    def _start(self, job: Job) -> None:
        if not Path(job.cwd).is_dir():
            self._finish(job, None, "TERM_CWD_NOTEXIST", exit_code=1)
            return
        mail = str(self.config.share / "mail" / str(job.id))
        out = _open(job.output or mail, job.output_overwrite, job)
        err = _open(job.error, job.error_overwrite, job) if job.error else out
        argv = ["/bin/sh", job.script] if job.script else ["/bin/sh", "-c", job.command]
        other = job.uid != os.getuid()  # the daemon runs as root, the job as its submitter
        try:
            process = subprocess.Popen(
                argv,
                cwd=job.cwd,
                env=self._job_env(job),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                user=job.uid if other else None,
                group=job.gid if other else None,
                extra_groups=[] if other else None,
            )
        finally:
            out.close()
            if err is not out:
                err.close()
        job.stat, job.pend_reason, job.start_time, job.pid = "RUN", "", time.time(), process.pid
        lsf_jobs.save(self.config, job)
        self.running[job.id] = Running(job, process)

    def _job_env(self, job: Job) -> dict[str, str]:
        host = self.config.host
        return {
            **job.env,
            "LSB_JOBID": str(job.id),
            "LSB_JOBINDEX": "0",
            "LSB_JOBNAME": job.name,
            "LSB_QUEUE": job.queue,
            "LSB_HOSTS": " ".join([host] * job.slots),
            "LSB_MCPU_HOSTS": f"{host} {job.slots}",
            "LSB_DJOB_NUMPROC": str(job.slots),
            "LSB_MAX_NUM_PROCESSORS": str(job.slots),
            "LSB_SUB_HOST": job.submit_host,
            "LS_SUBCWD": job.cwd,
            "LSF_ENVDIR": str(self.config.envdir),
            **({"LSB_OUTPUTFILE": job.output} if job.output else {}),
            **({"LSB_ERRORFILE": job.error} if job.error else {}),
        }

    def _watch(self, entry: Running, now: float) -> None:
        job = entry.job
        code = entry.process.poll()
        if code is not None:
            del self.running[job.id]
            self._finish(job, 128 - code if code < 0 else code, entry.reason)
            return
        if now - entry.sampled >= SAMPLE_EVERY:
            entry.sampled = now
            rss_mb, cpu = _usage(entry.process.pid)
            job.max_mem_mb, job.cpu_time = max(job.max_mem_mb, rss_mb), max(job.cpu_time, cpu)
            if job.mem_limit_mb and rss_mb > job.mem_limit_mb and not entry.reason:
                entry.reason = "TERM_MEMLIMIT"
            assert job.start_time is not None
            if job.run_limit_s and now - job.start_time > job.run_limit_s and not entry.reason:
                entry.reason = "TERM_RUNLIMIT"
        interval = self.config.terminate_interval
        if (
            entry.reason
            and entry.signals_sent < len(_SEQUENCE)
            and (entry.signals_sent == 0 or now - entry.last_signal >= interval)
        ):
            self._signal(entry, _SEQUENCE[entry.signals_sent])
            entry.signals_sent += 1

    def _signal(self, entry: Running, sig: int) -> None:
        entry.last_signal = time.time()
        entry.job.signals.append(signal.Signals(sig).name[3:])
        try:
            os.killpg(entry.process.pid, sig)
        except ProcessLookupError:
            pass

    def _finish(
        self, job: Job, code: int | None, reason: str, exit_code: int | None = None
    ) -> None:
        job.exit_code = exit_code if exit_code is not None else code
        job.stat = "DONE" if job.exit_code == 0 and not reason else "EXIT"
        job.exit_reason = lsf_jobs.term_reason(reason)
        job.finish_time, job.pend_reason = time.time(), ""
        lsf_jobs.save(self.config, job)
        if job.output and job.start_time:
            _append_report(self.config, job)

    def shutdown(self) -> None:
        """Kill every running job at once (SIGKILL to each process group) and record it."""
        for entry in self.running.values():
            self._signal(entry, signal.SIGKILL)
        for entry in list(self.running.values()):
            entry.process.wait()
            self._finish(entry.job, 128 + signal.SIGKILL, "TERM_ADMIN")
        self.running.clear()


def _open(path: str, overwrite: bool, job: Job) -> BinaryIO:
    """The job's output file, owned by the job's user when this daemon created it."""
    existed = os.path.exists(path)
    handle = open(path, "wb" if overwrite else "ab")  # noqa: SIM115 - closed by the caller
    if not existed and job.uid != os.getuid():
        os.fchown(handle.fileno(), job.uid, job.gid)
    return handle


def _usage(pid: int) -> tuple[float, float]:
    """Resident memory (MiB) and CPU seconds of a process and its descendants."""
    try:
        top = psutil.Process(pid)
        processes = [top, *top.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0
    rss, cpu = 0, 0.0
    for process in processes:
        try:
            rss += process.memory_info().rss
            times = process.cpu_times()
            cpu += times.user + times.system
        except psutil.Error:
            continue
    return rss / 2**20, cpu


def _append_report(config: Config, job: Job) -> None:
    """LSF's job report, appended to the ``-o`` file when the job ends (as with
    ``LSB_STDOUT_DIRECT=Y``: the output itself was written there as the job ran)."""
    if job.stat == "DONE":
        outcome = "Successfully completed."
    elif job.exit_reason:
        outcome = f"{job.exit_reason}.\nExited with exit code {job.exit_code}."
    else:
        outcome = f"Exited with exit code {job.exit_code}."
    lines = [
        "",
        "-" * 60,
        f"Sender: LSF System <lsfadmin@{config.host}>",
        (
            f"Subject: Job {job.id}: <{job.command}> in cluster <{config.cluster}> "
            f"{'Done' if job.stat == 'DONE' else 'Exited'}"
        ),
        "",
        (
            f"Job <{job.command}> was submitted from host <{job.submit_host}> by user "
            f"<{job.user}> in cluster <{config.cluster}>."
        ),
        (
            f"Job was executed on host(s) <{job.slots}*{config.host}>, in queue <{job.queue}>, "
            f"as user <{job.user}> in cluster <{config.cluster}>."
        ),
        f"<{job.cwd}> was used as the working directory.",
        "",
        "Your job looked like:",
        "",
        "-" * 60,
        "# LSBATCH: User input",
        job.command,
        "-" * 60,
        "",
        outcome,
        "",
        "Resource usage summary:",
        "",
        f"    CPU time :                                   {job.cpu_time:.2f} sec.",
        f"    Max Memory :                                 {round(job.max_mem_mb)} MB",
        "",
        "The output (if any) is above this job summary.",
        "",
    ]
    with open(job.output or os.devnull, "a") as handle:
        handle.write("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    """Run the daemon for the cluster whose ``LSF_ENVDIR`` is ``argv[0]`` until SIGTERM."""
    config = lsf_jobs.load_config(argv[0])
    daemon = Daemon(config)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    (config.share / "daemon.pid").write_text(str(os.getpid()))
    try:
        while not stopping:
            daemon.tick()
            time.sleep(TICK)
    finally:
        daemon.shutdown()
        (config.share / "daemon.pid").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
