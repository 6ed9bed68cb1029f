"""A real Grid Engine (Son of Grid Engine 8.1.9, Debian's) on this host, for tests and by hand.

One private cell under one directory: ``root/`` is the ``SGE_ROOT`` (links to the packaged
binaries, and the cell ``moil/common`` with ``bootstrap``, ``act_qmaster``, ``host_aliases``
and the ``accounting`` file ``qacct`` reads), ``spool/`` and ``spooldb/`` hold the daemons'
state, ``bin/`` the client commands (``qsub``, ``qstat``, ``qdel``, ``qacct``, ``qconf``...)
and ``work/`` a directory owned by the submitting user for job files. The system's default
cell (``/var/lib/gridengine/default``) is not used. ``sge_qmaster`` and ``sge_execd`` run
as ``sgeadmin`` on ports picked free at start; clients reach this cell through
``GridEngineCluster.env`` (``SGE_ROOT``, ``SGE_CELL``, ``SGE_QMASTER_PORT``,
``SGE_EXECD_PORT``, and ``PATH`` starting with ``bin/``, so ``qsub`` is Grid Engine's even
where another ``qsub`` comes first on the system's ``PATH``, e.g. Slurm's PBS wrappers of
tests/services/torque.py).

The cell, as a small site would set it up: one exec and submit host in ``@allhosts``, the
queue ``all.q`` with ``slots`` as given (may exceed the cores: jobs then share them),
``pe_list smp`` and no load threshold (other work on this machine must not stop it); the
parallel environment ``smp`` (``allocation_rule $pe_slots``: all of a job's slots on one
host, ``NSLOTS`` in its environment); the scheduler runs every second and keeps pending
reasons (``schedd_job_info true``: ``qstat -j N`` says why a job waits); ``h_vmem`` is
requestable and consumable (host capacity: memory minus 2 GiB; default 1G when a job does not
ask). ``h_vmem`` is **per slot**: ``-pe smp 2 -l h_vmem=100M`` gives the job 200M, enforced
twice: as ``ulimit -v`` on each process, and by ``sge_execd`` which kills the job (SIGKILL)
when its processes together exceed it; ``qacct -j N`` then shows ``failed 37 : qmaster
enforced h_rt, h_cpu, or h_vmem limit`` and ``exit_status 137``.

Users: ``min_uid``/``min_gid`` stay 1000, so root cannot submit ("job rejected: your user id
0 is lower than minimum user id 1000"), as at a site. Jobs are submitted as the user the
cluster creates (``moiltest``, see tests/services/users.py): ``cluster.run_as_user(...)``.
A moil leader runs as that user too (``runuser -u moiltest -- ...`` with
``cluster.user_python()``, which imports the project's packages, and its job store under
``cluster.work_dir``); the project's ``.venv/bin/python`` itself usually links into
``/root/.pyenv``, which other users cannot enter. ``root_may_submit=True`` lowers
``min_uid``/``min_gid`` to 0 instead (jobs then run as root; it must be set at start: a
running ``sge_execd`` keeps the value it read).

Daemons start with a minimal environment (``PATH``, ``LANG`` and the ``SGE_*`` variables):
a job sees that plus what Grid Engine adds (``JOB_ID``, ``NSLOTS``, ``TMPDIR``...), not the
submitter's environment unless it asks (``-V``, ``-v``), as on a site.

Known limits: Grid Engine's communication library listens on all addresses (it has no bind
address setting); it answers only hosts of this cell. A job that fails before it starts
(for instance an unreadable ``-o`` path) may put the queue in error state (``E`` in
``qstat -f``); ``cluster.clear_errors()`` clears it.

Usage by hand::

    python -m tests.services.gridengine start /tmp/mysge [SLOTS] [--root-may-submit]
    python -m tests.services.gridengine stop /tmp/mysge
    python -m tests.services.gridengine with [DIR] -- COMMAND...   # start, run, stop

No pytest import here; the fixture lives in ``tests/services/fixtures.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import users
from tests.services.host import (
    apt_install,
    kill_and_wait,
    pid_from_file,
    processes_with,
    run_with,
    schedulable_memory_mib,
    with_command,
)
from tests.services.serverproc import free_port

PACKAGES = ("gridengine-master", "gridengine-exec", "gridengine-client")
LIBEXEC = Path("/usr/lib/gridengine")
PACKAGED_ROOT = Path("/var/lib/gridengine")
CELL = "moil"
ADMIN = "sgeadmin"
# The client commands linked into bin/ (qselect, qhold, qrls are links to qstat/qalter).
CLIENTS = (
    "qsub",
    "qstat",
    "qdel",
    "qacct",
    "qconf",
    "qhost",
    "qalter",
    "qhold",
    "qrls",
    "qmod",
    "qselect",
    "qping",
    "qquota",
)
_MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"


class GridEngineUnavailable(RuntimeError):
    """Grid Engine cannot be installed or started on this machine (the message says why)."""


def ensure_installed() -> None:
    """Install the Grid Engine packages with apt-get if ``sge_qmaster`` is missing (needs
    root). debconf is preseeded so the install asks nothing and creates no cluster of its
    own. Raises GridEngineUnavailable with apt-get's output tail if that fails."""
    if all((LIBEXEC / name).exists() for name in ("sge_qmaster", "sge_execd", "qsub")):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise GridEngineUnavailable(
            "sge_qmaster is missing and apt-get cannot run here (needs root)"
        )
    host = socket.gethostname()
    lines = [
        f"{package} {question}"
        for package in (
            "gridengine-common",
            "gridengine-client",
            "gridengine-master",
            "gridengine-exec",
        )
        for question in (
            f"shared/gridenginemaster string {host}",
            "shared/gridenginecell string default",
            "shared/gridengineconfig boolean false",
        )
    ]
    subprocess.run(
        ["debconf-set-selections"],
        input="\n".join(lines) + "\n",
        text=True,
        capture_output=True,
        check=False,
    )
    try:
        apt_install(PACKAGES)
    except RuntimeError as exc:
        raise GridEngineUnavailable(str(exc)) from None
    if not (LIBEXEC / "sge_qmaster").exists():
        raise GridEngineUnavailable(f"apt-get installed {' '.join(PACKAGES)} but no sge_qmaster")


@dataclass
class GridEngineCluster:
    """A running private cell. ``env`` is the environment for Grid Engine's commands."""

    base_dir: Path
    host: str
    slots: int
    memory_mib: int
    user: str
    root_may_submit: bool
    env: dict[str, str] = field(default_factory=dict)

    @property
    def sge_root(self) -> Path:
        return self.base_dir / "root"

    @property
    def bin_dir(self) -> Path:
        return self.base_dir / "bin"

    @property
    def work_dir(self) -> Path:
        """A directory owned by ``user`` (mode 0755) for job scripts, output and stores."""
        return self.base_dir / "work"

    def run(
        self, *argv: str, check: bool = True, cwd: str | Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a Grid Engine command as the caller (root: a manager of this cell)."""
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, check=check, timeout=60, cwd=cwd
        )

    def run_as_user(
        self, *argv: str, check: bool = True, cwd: str | Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command as ``user`` with ``env`` (``runuser`` keeps the environment)."""
        return self.run(
            "runuser", "-u", self.user, "--", *argv, check=check, cwd=cwd or self.work_dir
        )

    def user_python(self) -> Path:
        """A Python that ``user`` can run with the project's packages (see users.py)."""
        return users.user_python(self.base_dir, self.user)

    def job_ids(self) -> list[str]:
        """IDs of every job this cell still holds (any user, any state)."""
        done = self.run("qstat", "-u", "*", check=False)
        return [line.split()[0] for line in done.stdout.splitlines()[2:] if line.strip()]

    def clear_errors(self) -> None:
        """Clear the error state of every queue (``qmod -c '*'``)."""
        self.run("qmod", "-c", "*", check=False)

    def stop(self) -> None:
        """Delete every job, stop the daemons and leave no process of this cell behind."""
        _stop(self.base_dir, self.env)


def start(
    base_dir: str | os.PathLike[str],
    slots: int = 8,
    *,
    root_may_submit: bool = False,
    user: str = users.DEFAULT_USER,
    timeout: float = 60.0,
) -> GridEngineCluster:
    """Create the cell under ``base_dir``, start ``sge_qmaster`` and ``sge_execd``, configure
    them (see the module's docstring) and wait until the queue takes jobs.

    ``base_dir`` and its parents must be searchable by ``sgeadmin`` and ``user`` (a
    directory under /tmp is). Raises GridEngineUnavailable with the daemons' messages if
    the cell does not come up; nothing is left running then."""
    ensure_installed()
    try:
        users.ensure_user(user)
    except users.UserUnavailable as exc:
        raise GridEngineUnavailable(str(exc)) from None
    base = Path(base_dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    ports = (free_port(), free_port())
    env = {
        **os.environ,
        "SGE_ROOT": str(base / "root"),
        "SGE_CELL": CELL,
        "SGE_QMASTER_PORT": str(ports[0]),
        "SGE_EXECD_PORT": str(ports[1]),
        "PATH": f"{base / 'bin'}:{os.environ.get('PATH', _MINIMAL_PATH)}",
    }
    cluster = GridEngineCluster(
        base, "", slots, schedulable_memory_mib(), user, root_may_submit, env
    )
    try:
        cluster.host = _make_cell(cluster)
        _spawn_daemon("sge_qmaster", cluster)
        _wait_for(
            lambda: cluster.run("qconf", "-sh", check=False).returncode == 0,
            timeout,
            base,
            "sge_qmaster to answer qconf",
        )
        _configure(cluster)
        _spawn_daemon("sge_execd", cluster)
        _wait_for(lambda: _queue_ready(cluster), timeout, base, "the queue to take jobs")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _as_admin(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        ["runuser", "-u", ADMIN, "--", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise GridEngineUnavailable(
            f"{' '.join(argv)} failed:\n{(done.stdout + done.stderr)[-800:]}"
        )


def _make_cell(cluster: GridEngineCluster) -> str:
    """Write the cell and its initial spool; return this host's name as Grid Engine sees it."""
    base, env = cluster.base_dir, cluster.env
    common = base / "root" / CELL / "common"
    common.mkdir(parents=True, exist_ok=True)
    for name in ("bin", "utilbin", "util", "lib"):
        link = base / "root" / name
        if not link.is_symlink():
            link.symlink_to(PACKAGED_ROOT / name)
    (base / "bin").mkdir(exist_ok=True)
    for name in CLIENTS:
        link = base / "bin" / name
        if not link.is_symlink():
            link.symlink_to(LIBEXEC / name)
    for sub in ("spool/qmaster/job_scripts", "spool/execd", "spooldb", "conf"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    users.user_dir(cluster.work_dir, cluster.user)
    # 127.0.0.1 resolves back to "localhost": without this alias qmaster takes its own
    # clients for a foreign host and answers "access denied".
    host = socket.gethostname()
    (common / "host_aliases").write_text(f"{host} localhost\n")
    resolved = subprocess.run(
        [str(LIBEXEC / "gethostname"), "-aname"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    host = resolved or host
    (common / "act_qmaster").write_text(f"{host}\n")
    (common / "bootstrap").write_text(_bootstrap(base))
    (base / "conf" / "ports").write_text(f"{env['SGE_QMASTER_PORT']} {env['SGE_EXECD_PORT']}\n")
    _write_initial_config(cluster)
    for top in (base / "root" / CELL, base / "spool", base / "spooldb", base / "conf"):
        for owned in [top, *top.rglob("*")]:
            shutil.chown(owned, ADMIN, ADMIN)
    spool_init = [
        [str(LIBEXEC / "spoolinit"), "berkeleydb", "libspoolb", str(base / "spooldb"), "init"],
        [str(LIBEXEC / "spooldefaults"), "configuration", str(base / "conf" / "configuration")],
        [str(LIBEXEC / "spooldefaults"), "complexes", str(base / "conf" / "centry")],
        [
            str(LIBEXEC / "spooldefaults"),
            "usersets",
            "/usr/share/gridengine/util/resources/usersets",
        ],
        [str(LIBEXEC / "spooldefaults"), "managers", ADMIN],
    ]
    if not (base / "spooldb" / "sge").exists():
        for argv in spool_init:
            _as_admin(argv, env)
    return host


def _bootstrap(base: Path) -> str:
    return f"""admin_user sgeadmin
default_domain none
ignore_fqdn false
spooling_method berkeleydb
spooling_lib libspoolb
spooling_params {base / "spooldb"}
binary_path /usr/sbin
qmaster_spool_dir {base / "spool" / "qmaster"}
security_mode none
listener_threads 2
worker_threads 2
scheduler_threads 1
"""


def _write_initial_config(cluster: GridEngineCluster) -> None:
    """The global configuration and the complexes, spooled before qmaster first starts."""
    conf = cluster.base_dir / "conf"
    min_id = "0" if cluster.root_may_submit else "1000"
    overrides = {
        "execd_spool_dir": str(cluster.base_dir / "spool" / "execd"),
        "min_uid": min_id,
        "min_gid": min_id,
        # Accounting written at once, so qacct knows a job as soon as qstat forgets it.
        "reporting_params": "accounting=true reporting=false flush_time=00:00:01 "
        "accounting_flush_time=00:00:00 joblog=false sharelog=00:00:00",
        # A job's processes are found and killed by the group id Grid Engine adds to them.
        "execd_params": "ENABLE_ADDGRP_KILL=TRUE",
        "load_report_time": "00:00:05",
    }
    lines = []
    for line in Path("/usr/share/gridengine/default-configuration").read_text().splitlines():
        key = line.split()[0] if line.strip() and not line.startswith("#") else None
        lines.append(f"{key} {overrides[key]}" if key in overrides else line)
    (conf / "configuration").write_text("\n".join(lines) + "\n")
    centry = conf / "centry"
    shutil.rmtree(centry, ignore_errors=True)
    shutil.copytree("/usr/share/gridengine/util/resources/centry", centry)
    h_vmem = (centry / "h_vmem").read_text()
    h_vmem = h_vmem.replace("consumable  NO", "consumable  YES").replace(
        "default     0", "default     1G"
    )
    (centry / "h_vmem").write_text(h_vmem)


def _daemon_env(cluster: GridEngineCluster) -> dict[str, str]:
    # What a site's init script gives: jobs inherit sge_execd's environment.
    keep = ("SGE_ROOT", "SGE_CELL", "SGE_QMASTER_PORT", "SGE_EXECD_PORT")
    return {"PATH": _MINIMAL_PATH, "LANG": "C.UTF-8", **{k: cluster.env[k] for k in keep}}


def _spawn_daemon(name: str, cluster: GridEngineCluster) -> None:
    """Start a daemon (it forks into the background as sgeadmin and its parent exits)."""
    done = subprocess.run(
        [str(LIBEXEC / name)],
        env=_daemon_env(cluster),
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
        start_new_session=True,
    )
    if done.returncode != 0:
        raise GridEngineUnavailable(
            f"{name} exited {done.returncode}: {(done.stdout + done.stderr)[-800:]}\n"
            + _messages(cluster.base_dir)
        )


def _configure(cluster: GridEngineCluster) -> None:
    """Hosts, host group, parallel environment, queue and scheduler, through qconf."""
    conf, host = cluster.base_dir / "conf", cluster.host
    (conf / "exechost").write_text(
        f"hostname {host}\ncomplex_values h_vmem={cluster.memory_mib}M\n"
        + "".join(
            f"{key} NONE\n"
            for key in _NONE_LISTS + ("load_scaling", "usage_scaling", "report_variables")
        )
    )
    (conf / "allhosts").write_text(f"group_name @allhosts\nhostlist {host}\n")
    (conf / "smp").write_text(_SMP + "".join(f"{key} NONE\n" for key in _NONE_LISTS[:2]))
    queue = {
        "qname": "all.q",
        "hostlist": "@allhosts",
        "load_thresholds": "NONE",
        "pe_list": "smp",
        "slots": str(cluster.slots),
        "qtype": "BATCH",
        "shell": "/bin/sh",
        "tmpdir": "/tmp",
    }
    (conf / "all.q").write_text(_edit(cluster.run("qconf", "-sq").stdout, queue))
    sched = {
        "schedule_interval": "0:0:1",
        "schedd_job_info": "true",
        "flush_submit_sec": "1",
        "flush_finish_sec": "1",
    }
    (conf / "sched").write_text(_edit(cluster.run("qconf", "-ssconf").stdout, sched))
    for argv in (
        ["-Ae", "exechost"],
        ["-as", host],
        ["-Ahgrp", "allhosts"],
        ["-Ap", "smp"],
        ["-Aq", "all.q"],
        ["-Msconf", "sched"],
    ):
        done = cluster.run("qconf", *argv, check=False, cwd=conf)
        if done.returncode != 0:
            raise GridEngineUnavailable(f"qconf {' '.join(argv)} failed: {done.stderr.strip()}")


_NONE_LISTS = ("user_lists", "xuser_lists", "projects", "xprojects")
# All of a job's slots on one host (what a multi-core job needs), NSLOTS in its environment.
_SMP = """pe_name smp
slots 9999
start_proc_args NONE
stop_proc_args NONE
allocation_rule $pe_slots
control_slaves FALSE
job_is_first_task TRUE
urgency_slots min
accounting_summary FALSE
qsort_args NONE
"""


def _edit(template: str, values: dict[str, str]) -> str:
    """A qconf object (``key value`` lines) with ``values`` replacing its keys."""
    out = []
    for line in template.splitlines():
        key = line.split()[0] if line.strip() else ""
        out.append(f"{key} {values[key]}" if key in values else line)
    return "\n".join(out) + "\n"


def _queue_ready(cluster: GridEngineCluster) -> bool:
    # A queue instance whose execd has not reported yet shows state "u" (unknown).
    done = cluster.run("qstat", "-f", "-q", "all.q", check=False)
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("all.q@")]
    return bool(rows) and all(len(row) == 5 for row in rows)


def _messages(base: Path) -> str:
    tails = []
    for path in sorted(base.glob("spool/**/messages")):
        tails.append(f"--- {path}\n" + path.read_text(errors="replace")[-1200:])
    return "\n".join(tails)


def _wait_for(ready: Callable[[], bool], timeout: float, base: Path, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise GridEngineUnavailable(
        f"timed out after {timeout:.0f}s waiting for {what}\n" + _messages(base)
    )


def _stop(base: Path, env: dict[str, str]) -> None:
    sge_root = base / "root"
    qmaster = pid_from_file(base / "spool" / "qmaster" / "qmaster.pid", "sge_qmaster")

    def client(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LIBEXEC / argv[0]), *argv[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    # Without this cell's port a client would talk to whatever listens on the default one.
    if qmaster is not None and "SGE_QMASTER_PORT" in env:
        client("qdel", "-f", "-u", "*")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            listed = client("qstat", "-u", "*")
            if listed.returncode != 0 or not listed.stdout.strip():
                break
            time.sleep(0.2)
        client("qconf", "-ke", "all")
        client("qconf", "-km")
    execds = (pid_from_file(f, "sge_execd") for f in base.glob("spool/execd/*/execd.pid"))
    kill_and_wait([p for p in execds if p], grace=10.0)
    # qmaster's controlled shutdown takes ~8 s (its threads wait out their timers); its
    # Berkeley DB spool recovers from a kill, and no job is left to lose by then.
    kill_and_wait([qmaster] if qmaster else [], grace=2.0)
    # Shepherds and jobs: the daemons were started with this SGE_ROOT, jobs inherit it.
    stragglers = processes_with(
        "SGE_ROOT", str(sge_root), daemon=lambda comm: comm.startswith("sge_"), job_marker="JOB_ID"
    )
    kill_and_wait(stragglers, grace=2.0)


def stop_dir(base_dir: str | os.PathLike[str]) -> None:
    """Stop a cell started earlier in ``base_dir`` (possibly by another process)."""
    base = Path(base_dir).resolve()
    env = {**os.environ, "SGE_ROOT": str(base / "root"), "SGE_CELL": CELL}
    ports = _ports_of(base)
    if ports:
        env["SGE_QMASTER_PORT"], env["SGE_EXECD_PORT"] = ports
    _stop(base, env)


def _ports_of(base: Path) -> tuple[str, str] | None:
    try:
        return tuple((base / "conf" / "ports").read_text().split()[:2])  # type: ignore[return-value]
    except (OSError, ValueError):
        return None


def exports(cluster: GridEngineCluster) -> dict[str, str]:
    """The variables a shell needs to reach this cell."""
    keep = ("SGE_ROOT", "SGE_CELL", "SGE_QMASTER_PORT", "SGE_EXECD_PORT", "PATH")
    return {k: cluster.env[k] for k in keep}


def main(argv: list[str] | None = None) -> int:
    """``start DIR [SLOTS] [--root-may-submit]``, ``stop DIR``, ``with [DIR] -- CMD...``."""
    args = sys.argv[1:] if argv is None else argv
    root = "--root-may-submit" in args
    args = [a for a in args if a != "--root-may-submit"]
    wanted = with_command(args)
    if wanted:
        return run_with(
            wanted[0], "moil-sge-", lambda base: start(base, root_may_submit=root), wanted[1]
        )
    if len(args) not in (2, 3) or args[0] not in ("start", "stop"):
        print(
            "usage: python -m tests.services.gridengine start DIR [SLOTS] [--root-may-submit]"
            " | stop DIR | with [DIR] -- COMMAND...",
            file=sys.stderr,
        )
        return 2
    if args[0] == "stop":
        stop_dir(args[1])
        print(f"# stopped the Grid Engine cell in {args[1]}")
        return 0
    started = time.monotonic()
    cluster = start(args[1], int(args[2]) if len(args) == 3 else 8, root_may_submit=root)
    print(
        f"# Grid Engine up in {time.monotonic() - started:.2f}s on host {cluster.host}; "
        f"submit as {cluster.user} (runuser -u {cluster.user} -- qsub ...)"
    )
    for name, value in exports(cluster).items():
        print(f"export {name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
