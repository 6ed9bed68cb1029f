"""A real single-node Slurm on this host, for tests and for trying the Slurm backend by hand.

Everything lives under one directory: a private munge key and ``munged`` (its own socket, so
no system munge is touched), ``slurm.conf`` and ``cgroup.conf``, state, spool, logs and pid
files. Daemons listen on 127.0.0.1 on ports picked free at start. Commands reach this cluster
through ``SLURM_CONF`` (see ``SlurmCluster.env``).

Memory limits: where the cgroup v1 memory controller is mounted writable (this machine kind),
``task/cgroup`` enforces ``--mem`` and Slurm ends an over-limit job as OUT_OF_MEMORY. Elsewhere
the cluster falls back to ``JobAcctGatherParams=OverMemoryKill`` (sampling every second),
where Slurm kills the job but records it as FAILED (signal 9), not OUT_OF_MEMORY;
``SlurmCluster.memory_enforced_by_cgroup`` tells which. ``MOIL_SLURM_CGROUP=0`` forces the
fallback.

Usage by hand::

    python -m tests.services.slurm start /tmp/myslurm      # prints: export SLURM_CONF=...
    python -m tests.services.slurm stop /tmp/myslurm

No pytest import here; the fixture lives in ``tests/services/fixtures.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.services.host import (
    apt_install,
    kill_and_wait,
    pid_from_file,
    processes_with,
    schedulable_memory_mib,
)
from tests.services.serverproc import free_port

PACKAGES = ("slurm-wlm", "slurmctld", "slurmd", "slurm-client", "munge")
_MUNGED = "/usr/sbin/munged"
_STATE_FILE = "cluster.json"


class SlurmUnavailable(RuntimeError):
    """Slurm cannot be installed or started on this machine (the message says why)."""


def ensure_installed() -> None:
    """Install Slurm and munge with apt-get if ``slurmctld`` is missing (needs root).

    Raises SlurmUnavailable with apt-get's output tail if that fails."""
    if shutil.which("slurmctld") and shutil.which("sbatch") and Path(_MUNGED).exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise SlurmUnavailable("slurmctld is missing and apt-get cannot run here (needs root)")
    try:
        apt_install(PACKAGES)
    except RuntimeError as exc:
        raise SlurmUnavailable(str(exc)) from None
    if shutil.which("slurmctld") is None:
        raise SlurmUnavailable(f"apt-get installed {' '.join(PACKAGES)} but slurmctld is missing")


@dataclass
class SlurmCluster:
    """A running single-node cluster. ``env`` is the environment for Slurm commands."""

    base_dir: Path
    node_name: str
    cpus: int
    memory_mib: int
    memory_enforced_by_cgroup: bool
    env: dict[str, str] = field(default_factory=dict)
    _daemons: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def conf(self) -> Path:
        return self.base_dir / "slurm.conf"

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Slurm command against this cluster."""
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, check=check, timeout=60
        )

    def queued_job_ids(self) -> list[str]:
        """IDs of every job this cluster still runs or holds (any user)."""
        done = self.run("squeue", "-h", "-o", "%i", check=False)
        return done.stdout.split()

    def stop(self) -> None:
        """Cancel every job, stop the daemons and leave no process of this cluster behind."""
        _stop(
            self.base_dir,
            self.env,
            self._daemons,
            self.node_name if self.memory_enforced_by_cgroup else None,
        )
        self._daemons.clear()


def start(
    base_dir: str | os.PathLike[str],
    cpus: int = 8,
    *,
    cgroup: bool | None = None,
    timeout: float = 60.0,
) -> SlurmCluster:
    """Start munged, slurmctld and slurmd under ``base_dir`` and wait until the node is idle.

    ``cpus`` may exceed the real count (``SlurmdParameters=config_overrides``), which lets
    tests run many jobs at once. ``cgroup``: enforce memory with task/cgroup (True), by
    sampling (False), or the former where this host allows it (None). ``base_dir`` and its parents must be searchable by the
    ``munge`` user (munged refuses a socket it cannot expose); a directory made with
    ``tempfile.mkdtemp(dir="/tmp")`` and mode 0755 is. Raises SlurmUnavailable with the
    daemons' log tail if the cluster does not come up; nothing is left running then."""
    ensure_installed()
    base = Path(base_dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    _check_searchable(base)
    for sub in ("state", "spool", "log"):
        (base / sub).mkdir(exist_ok=True)
    host = socket.gethostname().split(".")[0]
    ports = (free_port(), free_port())
    # A node name of its own: clusters side by side (xdist workers, other sessions) get
    # separate cgroup trees (slurm_<node>) and never mix up their jobs.
    node = f"moil{ports[1]}"
    memory = schedulable_memory_mib()
    if cgroup is None:
        cgroup = _cgroup_v1_memory_usable() and os.environ.get("MOIL_SLURM_CGROUP", "1") != "0"
    env = {**os.environ, "SLURM_CONF": str(base / "slurm.conf")}
    cluster = SlurmCluster(base, node, cpus, memory, cgroup, env)
    try:
        cluster._daemons.append(_start_munged(base))
        _write_conf(base, host, node, ports, cpus, memory, cgroup)
        _write_state(base, node)
        cluster._daemons.append(_spawn(["slurmctld", "-D", "-i"], base, "slurmctld", env))
        _wait_for(
            lambda: "UP" in cluster.run("scontrol", "ping", check=False).stdout,
            timeout,
            base,
            "slurmctld to answer scontrol ping",
        )
        cluster._daemons.append(_spawn(["slurmd", "-D", "-N", node], base, "slurmd", env))
        _wait_for(lambda: _node_idle(cluster), timeout, base, "the node to become idle")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _check_searchable(path: Path) -> None:
    for parent in (path, *path.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise SlurmUnavailable(
                f"{parent} is not searchable by others (mode {oct(parent.stat().st_mode)}); "
                "munged needs every parent of its socket to be: use a directory under /tmp"
            )


def _cgroup_v1_memory_usable() -> bool:
    limit = Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    return limit.exists() and os.access("/sys/fs/cgroup/memory", os.W_OK)


def _start_munged(base: Path) -> subprocess.Popen[bytes]:
    """A private munged: own key, own socket under base/munge (never the system's)."""
    sock_dir, private = base / "munge", base / "munge" / "private"
    private.mkdir(parents=True, exist_ok=True)
    shutil.chown(sock_dir, "munge", "munge")
    shutil.chown(private, "munge", "munge")
    sock_dir.chmod(0o755)
    private.chmod(0o700)
    key = private / "munge.key"
    if not key.exists():
        subprocess.run(
            ["mungekey", "--create", "--keyfile", str(key)], check=True, capture_output=True
        )
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    argv = [
        _MUNGED,
        "--foreground",
        f"--socket={sock_dir}/munge.sock",
        f"--key-file={key}",
        f"--pid-file={sock_dir}/munged.pid",
        f"--log-file={private}/munged.log",
        f"--seed-file={private}/munged.seed",
    ]
    with open(private / "munged.out", "ab") as out:
        munged = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            user="munge",
            group="munge",
            extra_groups=[],
            start_new_session=True,
        )
    probe = ["munge", "-n", "-S", f"{sock_dir}/munge.sock"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and munged.poll() is None:
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return munged
        time.sleep(0.05)
    munged.kill()
    munged.wait()
    log = (private / "munged.out").read_text(errors="replace")[-800:]
    raise SlurmUnavailable(f"munged did not start:\n{log}")


def _write_conf(
    base: Path, host: str, node: str, ports: tuple[int, int], cpus: int, memory: int, cgroup: bool
) -> None:
    """slurm.conf (and cgroup.conf beside it, where Slurm looks for it)."""
    lines = [
        "ClusterName=moiltest",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ports[0]}",
        f"SlurmdPort={ports[1]}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={base}/munge/munge.sock",
        "ProctrackType=proctrack/linuxproc",
        f"TaskPlugin={'task/cgroup' if cgroup else 'task/none'}",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "DefMemPerCPU=256",
        "ReturnToService=2",
        "SlurmdParameters=config_overrides",
        "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
        "MinJobAge=300",
        "KillWait=5",
        "MpiDefault=none",
        "JobAcctGatherType=jobacct_gather/linux",
        "JobAcctGatherFrequency=1",
        *([] if cgroup else ["JobAcctGatherParams=OverMemoryKill"]),
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={base}/log/jobcomp.txt",
        "AccountingStorageType=accounting_storage/none",
        f"StateSaveLocation={base}/state",
        f"SlurmdSpoolDir={base}/spool",
        f"SlurmctldPidFile={base}/slurmctld.pid",
        f"SlurmdPidFile={base}/slurmd.pid",
        f"SlurmctldLogFile={base}/log/slurmctld.log",
        f"SlurmdLogFile={base}/log/slurmd.log",
        (
            f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} "
            f"RealMemory={memory} State=UNKNOWN"
        ),
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]
    (base / "slurm.conf").write_text("\n".join(lines) + "\n")
    (base / "cgroup.conf").write_text(
        "CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\nCgroupAutomount=no\n"
        "ConstrainRAMSpace=yes\nConstrainSwapSpace=no\nConstrainCores=no\n"
        "ConstrainDevices=no\n"
    )


def _write_state(base: Path, node: str) -> None:
    (base / _STATE_FILE).write_text(json.dumps({"node": node, "conf": str(base / "slurm.conf")}))


def _spawn(argv: list[str], base: Path, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Foreground daemons in their own session: this process can reap them, and a test's
    # Ctrl-C does not reach them before stop() runs.
    with open(base / "log" / f"{name}.out", "ab") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True
        )


def _node_idle(cluster: SlurmCluster) -> bool:
    done = cluster.run("sinfo", "-h", "-o", "%t", check=False)
    return done.stdout.strip() == "idle"


def _wait_for(ready: object, timeout: float, base: Path, what: str) -> None:
    assert callable(ready)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    tails = [
        f"--- {p.name}\n" + p.read_text(errors="replace")[-1200:]
        for p in sorted((base / "log").glob("*.log"))
    ]
    raise SlurmUnavailable(
        f"timed out after {timeout:.0f}s waiting for {what}\n" + "\n".join(tails)
    )


def _stop(
    base: Path, env: dict[str, str], daemons: list[subprocess.Popen[bytes]], cgroup_node: str | None
) -> None:
    """Stop what runs under ``base``; remove ``cgroup_node``'s cgroups if it has some."""
    conf = env.get("SLURM_CONF", str(base / "slurm.conf"))
    if pid_from_file(base / "slurmctld.pid") is not None:
        # A running job's slurmstepd outlives the daemons and ignores SIGTERM: cancel first.
        queued = subprocess.run(
            ["squeue", "-h", "-o", "%i"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.split()
        if queued:
            subprocess.run(
                ["scancel", "--quiet", *queued],
                env=env,
                capture_output=True,
                timeout=30,
                check=False,
            )
        _wait_queue_empty(env, 15.0)
    munged = pid_from_file(base / "munge" / "munged.pid")
    pids = [p for p in (pid_from_file(base / n) for n in ("slurmd.pid", "slurmctld.pid")) if p]
    pids += [d.pid for d in daemons if d.pid not in pids and d.pid != munged]
    kill_and_wait(pids, grace=10.0)
    # slurmstepd and jobs: slurmd passes its environment on; jobs get the submitter's.
    stragglers = processes_with(
        "SLURM_CONF", conf, daemon=lambda comm: comm == "slurmstepd", job_marker="SLURM_JOB_ID"
    )
    kill_and_wait(stragglers, grace=2.0)
    # munge last: slurmd may still need credentials while it winds down.
    kill_and_wait([munged] if munged else [], grace=10.0)
    for daemon in daemons:
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait(timeout=5)
    for name in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
        (base / name).unlink(missing_ok=True)
    if cgroup_node:
        _remove_cgroups(cgroup_node)


def _wait_queue_empty(env: dict[str, str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["squeue", "-h", "-o", "%i"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0 or not done.stdout.strip():
            return
        time.sleep(0.2)


def _remove_cgroups(node: str) -> None:
    """task/cgroup leaves an empty ``slurm_<node>`` hierarchy per controller; remove it."""
    root = Path("/sys/fs/cgroup")
    for top in root.glob(f"*/slurm_{node}"):
        for path in sorted(
            (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ) + [top]:
            try:
                path.rmdir()
            except OSError:
                pass


def stop_dir(base_dir: str | os.PathLike[str]) -> None:
    """Stop a cluster started earlier in ``base_dir`` (possibly by another process)."""
    base = Path(base_dir).resolve()
    conf = base / "slurm.conf"
    cgroup = conf.exists() and "task/cgroup" in conf.read_text()
    try:
        node = str(json.loads((base / _STATE_FILE).read_text())["node"])
    except (OSError, ValueError, KeyError):
        node = None
    _stop(base, {**os.environ, "SLURM_CONF": str(conf)}, [], node if cgroup else None)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.services.slurm start|stop DIR [CPUS]``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3) or args[0] not in ("start", "stop"):
        print("usage: python -m tests.services.slurm start|stop DIR [CPUS]", file=sys.stderr)
        return 2
    if args[0] == "stop":
        stop_dir(args[1])
        print(f"stopped the cluster in {args[1]}")
        return 0
    started = time.monotonic()
    cluster = start(args[1], cpus=int(args[2]) if len(args) == 3 else 8)
    print(
        f"# Slurm up in {time.monotonic() - started:.2f}s on node {cluster.node_name} "
        f"(memory enforced by cgroup: {cluster.memory_enforced_by_cgroup})"
    )
    print(f"export SLURM_CONF={cluster.conf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
