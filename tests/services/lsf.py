"""A STAND-IN for IBM Spectrum LSF, for tests. It is not LSF and contains none of its code.

No open implementation of LSF exists (IBM's is proprietary; OpenLava is long gone), so moil's
``lsf`` backend is tested against this imitation of LSF's documented command-line surface,
which runs the jobs for real as local processes on this host, so a moil worker truly runs:

- ``bsub [-n N] [-R "select[...] rusage[mem=M] span[hosts=1]"] [-M M] [-W [H:]MM]
  [-o|-oo FILE] [-e|-eo FILE] [-J NAME] [-q normal] [-cwd DIR] [-env all|none|"all, ~X"]
  COMMAND...`` (or a script on stdin, ``#BSUB`` lines read) prints ``Job <N> is submitted
  to default queue <normal>.``; ``%J`` in paths is the job id. Memory is in MB
  (``LSF_UNIT_FOR_LIMITS=MB`` in ``lsf.conf``; ``100MB``/``2GB`` also taken); ``rusage[mem]``
  reserves memory for the whole job (``RESOURCE_RESERVE_PER_TASK=N``); ``-M`` is a per-job
  limit on the resident memory of the job's processes together (``LSB_JOB_MEMLIMIT=Y``).
  The job gets the submitter's environment plus ``LSB_JOBID``, ``LSB_DJOB_NUMPROC``,
  ``LSB_HOSTS``, ``LSB_MCPU_HOSTS``...; ``-o`` receives the output as the job runs and LSF's
  job report at the end (as with ``LSB_STDOUT_DIRECT=Y``); without ``-e``, stderr goes there
  too; without ``-o`` the output goes to ``LSB_SHAREDIR/mail/N`` (LSF would mail it).
- ``bjobs [-a|-d|-r|-p] [-u USER|all] [-l] [-noheader] [-o "FIELDS [delimiter='c']" [-json]]
  [IDS]``: the default table, ``-o`` with the usual fields (``jobid stat exit_code
  exit_reason pend_reason user queue job_name submit_time start_time finish_time max_mem
  memlimit slots exec_host ...``), ``-json`` as ``{"COMMAND":"bjobs","JOBS":N,"RECORDS":[
  {"JOBID":"1","STAT":"DONE",...}]}`` (string values; ``EXIT_CODE`` empty for ``DONE``),
  ``-l`` (``Status <DONE>``, ``Done successfully.``, ``Exited with exit code 3.``,
  ``MAX MEM: 12 Mbytes;``, ``PENDING REASONS:``). Finished jobs stay listed for
  ``CLEAN_PERIOD`` (3600 s). ``Job <N> is not found`` on stderr, exit 255 if no id is known.
- ``bkill [-s SIGNAL] IDS|0``: LSF's SIGINT, SIGTERM, SIGKILL sequence
  (``JOB_TERMINATE_INTERVAL`` 1 s here; LSF's default is 10 s), ``Job <N> is being
  terminated``; the job ends ``EXIT`` with ``TERM_OWNER: job killed by owner``
  (``TERM_ADMIN`` when root kills another user's job). Over ``-M``: ``TERM_MEMLIMIT: job
  killed after reaching LSF memory usage limit``; over ``-W``: ``TERM_RUNLIMIT``. The exit
  code is the job's (128 + signal when a signal ended it).
- ``bhist [-l] [IDS]``, ``bqueues``, ``bhosts``, ``lshosts``, ``lsid`` (says it is a stand-in,
  and mimics ``IBM Spectrum LSF Standard 10.1.0.13``, a version with ``-json``),
  ``bparams -a``, ``lsadmin showconf lim``.
- One host with the given slots (may exceed the cores) and memory; jobs start in id order
  when slots and reserved memory allow, else pend with ``Not enough job slot(s): 1 host;`` or
  ``Job requirements for reserving resource (mem) not satisfied: 1 host;`` (a request larger
  than the host pends forever, as it would on a real one-host LSF).

What it does not do (a backend must not take this for LSF): no ``mbatchd``/``sbatchd``/LIM,
no second host, queue, job array, job group, dependency (``-w``), interactive job (``-I``,
``-K``), ``bacct``, ``bmod``, ``bstop``/``bresume``, reservation, fairshare or preemption;
pending reasons and ``bhist`` summaries are shaped like LSF's but their exact wording in
every case, ``bjobs -json``'s handling of unknown ids (here: stderr only) and column widths
are the stand-in's; ``-l`` lines are not wrapped at 80 columns; ``-R`` understands only
``rusage[mem=]`` (``select``/``order``/``span`` are accepted and ignored); unsupported
options are refused with a message naming the stand-in.

State lives under one directory (see tests/services/lsf_jobs.py): ``conf/lsf.conf`` and
``conf/lsb.params`` (``LSF_ENVDIR``), ``state/`` (``LSB_SHAREDIR``: job records), ``bin/``
(the commands, small shell scripts running tests/services/lsf_commands.py with this
interpreter). ``python -m tests.services.lsf_daemon`` is the scheduling daemon. Jobs run as
the submitting user; the daemon runs as whoever started the cluster (root in tests).

Usage by hand::

    python -m tests.services.lsf start /tmp/mylsf [SLOTS]    # prints the exports
    python -m tests.services.lsf stop /tmp/mylsf
    python -m tests.services.lsf with [DIR] -- COMMAND...
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import lsf_jobs
from tests.services.host import kill_and_wait, run_with, schedulable_memory_mib, with_command

PROJECT = Path(__file__).resolve().parents[2]
COMMANDS = (
    "bsub",
    "bjobs",
    "bkill",
    "bhist",
    "bqueues",
    "bhosts",
    "lshosts",
    "lsid",
    "bparams",
    "lsadmin",
)


class LsfUnavailable(RuntimeError):
    """The stand-in cannot start (the message says why)."""


@dataclass
class LsfCluster:
    """A running stand-in. ``env`` has ``LSF_ENVDIR`` and ``bin/`` first on ``PATH``."""

    base_dir: Path
    host: str
    slots: int
    memory_mb: int
    env: dict[str, str] = field(default_factory=dict)
    _daemon: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bin_dir(self) -> Path:
        return self.base_dir / "bin"

    @property
    def envdir(self) -> Path:
        return self.base_dir / "conf"

    def run(
        self,
        *argv: str,
        check: bool = True,
        cwd: str | Path | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command (``bsub``, ``bjobs``...) with ``env``."""
        return subprocess.run(
            argv,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
            cwd=cwd,
            input=input,
        )

    def stop(self) -> None:
        """Kill every job (SIGKILL to its process group) and stop the daemon."""
        _stop(self.base_dir, self._daemon)
        self._daemon = None


def start(
    base_dir: str | os.PathLike[str],
    slots: int = 8,
    memory_mb: int | None = None,
    *,
    timeout: float = 30.0,
) -> LsfCluster:
    """Write the configuration and commands under ``base_dir`` and start the daemon."""
    base = Path(base_dir).resolve()
    for sub in ("conf", "bin", "state"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    # Any user may submit: the shared directories are like /tmp (sticky, world-writable).
    for sub in ("jobs", "kill", "scripts", "mail"):
        (base / "state" / sub).mkdir(exist_ok=True)
        (base / "state" / sub).chmod(0o1777)
    (base / "state" / "next_id").touch()
    (base / "state" / "next_id").chmod(0o666)
    base.chmod(0o755)
    cluster = LsfCluster(
        base, socket.gethostname().split(".")[0], slots, memory_mb or schedulable_memory_mib()
    )
    _write_conf(cluster)
    _write_commands(cluster)
    path = f"{cluster.bin_dir}:{os.environ.get('PATH', os.defpath)}"
    cluster.env = {**os.environ, "LSF_ENVDIR": str(cluster.envdir), "PATH": path}
    with open(base / "state" / "daemon.log", "ab") as log:
        cluster._daemon = subprocess.Popen(
            [sys.executable, "-m", "tests.services.lsf_daemon", str(cluster.envdir)],
            cwd=PROJECT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lsf_jobs.daemon_running(lsf_jobs.load_config(str(cluster.envdir))):
            return cluster
        if cluster._daemon.poll() is not None:
            break
        time.sleep(0.05)
    cluster.stop()
    tail = (base / "state" / "daemon.log").read_text(errors="replace")[-1500:]
    raise LsfUnavailable(f"the stand-in's daemon did not start:\n{tail}")


def _write_conf(cluster: LsfCluster) -> None:
    conf = {
        "LSF_UNIT_FOR_LIMITS": "MB",
        "LSB_JOB_MEMLIMIT": "Y",
        "LSB_STDOUT_DIRECT": "Y",
        "LSB_SHAREDIR": str(cluster.base_dir / "state"),
        "LSF_ENVDIR": str(cluster.envdir),
        "MOIL_LSF_CLUSTER": "moil",
        "MOIL_LSF_HOST": cluster.host,
        "MOIL_LSF_SLOTS": str(cluster.slots),
        "MOIL_LSF_MEMORY_MB": str(cluster.memory_mb),
    }
    params = {
        "RESOURCE_RESERVE_PER_TASK": "N",
        "JOB_TERMINATE_INTERVAL": "1",
        "CLEAN_PERIOD": "3600",
        "MBD_SLEEP_TIME": "1",
    }
    header = "# moil's LSF stand-in (tests/services/lsf.py), not IBM Spectrum LSF\n"
    for name, values in (("lsf.conf", conf), ("lsb.params", params)):
        text = "".join(f"{key}={value}\n" for key, value in values.items())
        (cluster.envdir / name).write_text(header + text)


def _write_commands(cluster: LsfCluster) -> None:
    # No PYTHONPATH is set (-I, and the path is added in the code): bsub hands the
    # submitter's environment to the job unchanged. The commands need only the standard
    # library, so any user's interpreter will do.
    call = (
        "import sys; sys.path.insert(0, {root!r}); "
        "from tests.services.lsf_commands import main; sys.exit(main(sys.argv[1:]))"
    )
    code = call.format(root=str(PROJECT))
    python = _python_for_everyone()
    for name in COMMANDS:
        script = cluster.bin_dir / name
        script.write_text(
            f"#!/bin/sh\n# {name} of moil's LSF stand-in (not IBM Spectrum LSF)\n"
            f'exec {shlex.quote(python)} -I -c {shlex.quote(code)} {name} "$@"\n'
        )
        script.chmod(0o755)


def _python_for_everyone() -> str:
    """This interpreter if every user can run it, else the system's python3 (the project's
    .venv often links into /root/.pyenv, which only root may enter)."""
    real = Path(sys.executable).resolve()
    if all(p.stat().st_mode & stat.S_IXOTH for p in (real, *real.parents)):
        return sys.executable
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def _daemon_pid(base: Path) -> int | None:
    """The daemon's pid if its pid file names a live stand-in daemon for ``base``."""
    try:
        pid = int((base / "state" / "daemon.pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"lsf_daemon" in cmdline and str(base).encode() in cmdline else None


def _stop(base: Path, daemon: subprocess.Popen[bytes] | None) -> None:
    pids = {p for p in (_daemon_pid(base), daemon.pid if daemon else None) if p}
    # The daemon kills its running jobs (SIGKILL to each process group) as it exits.
    kill_and_wait(sorted(pids), grace=10.0)
    if daemon is not None:
        daemon.wait(timeout=10)


def stop_dir(base_dir: str | os.PathLike[str]) -> None:
    """Stop a stand-in started earlier in ``base_dir`` (possibly by another process)."""
    _stop(Path(base_dir).resolve(), None)


def main(argv: list[str] | None = None) -> int:
    """``start DIR [SLOTS]``, ``stop DIR``, ``with [DIR] -- COMMAND...``."""
    args = sys.argv[1:] if argv is None else argv
    wanted = with_command(args)
    if wanted:
        return run_with(wanted[0], "moil-lsf-", start, wanted[1])
    if len(args) not in (2, 3) or args[0] not in ("start", "stop"):
        print(
            "usage: python -m tests.services.lsf start DIR [SLOTS] | stop DIR | "
            "with [DIR] -- COMMAND...",
            file=sys.stderr,
        )
        return 2
    if args[0] == "stop":
        stop_dir(args[1])
        print(f"# stopped the LSF stand-in in {args[1]}")
        return 0
    started = time.monotonic()
    cluster = start(args[1], int(args[2]) if len(args) == 3 else 8)
    print(f"# LSF stand-in (not IBM Spectrum LSF) up in {time.monotonic() - started:.2f}s")
    print(f"export LSF_ENVDIR={cluster.envdir}")
    print(f"export PATH={cluster.env['PATH']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
