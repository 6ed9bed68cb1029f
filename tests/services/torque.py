"""PBS/Torque commands for tests: Slurm's own PBS wrappers over the real Slurm of slurm.py.

No Torque or OpenPBS package exists for this machine. Debian's ``slurm-wlm-torque`` holds
SchedMD's Perl wrappers ``qsub``, ``qstat``, ``qdel``, ``qalter``, ``qhold``, ``qrls``,
``qrerun``, ``pbsnodes``, which turn PBS requests into ``sbatch``/``squeue``/``scancel``
calls and read Slurm's state through its Perl API. What they give is the PBS command
surface for real, over a real scheduler: jobs truly run, with Slurm's limits.

The package conflicts with ``gridengine-client`` (both own ``/usr/bin/qsub``), so it is not
installed: its ``.deb`` is fetched with ``apt-get download`` and unpacked once into
``cache_dir()`` (``$MOIL_TORQUE_CACHE`` or ``~/.cache/moil/torque``), its Perl dependencies
(``libslurm-perl``, ``libslurmdb-perl``, ``libswitch-perl``) are installed as packages, and
the wrappers are reached through ``TorqueCluster.env``, whose ``PATH`` starts with their
directory. Grid Engine's fixture does the same with its own ``bin/``, so each finds its own
``qsub`` in one ``make test``. (The wrappers run ``sbatch`` from their own directory, which
therefore holds links to Slurm's commands.)

What the wrappers do, seen with Slurm 22.05 (Debian 12):

- ``qsub -l nodes=1:ppn=2,mem=100mb,walltime=00:10:00 job.sh`` becomes ``sbatch -N1 -n2
  -t10 --mem=100M`` (``ppn`` gives Slurm *tasks*, ``SLURM_CPUS_ON_NODE=2``; ``mem=102400K``
  works too; ``walltime`` is rounded up to minutes); ``-V``, ``-v K=V``, ``-N``, ``-o``,
  ``-e``, ``-j``, ``-q`` (partition), ``-W depend=`` are passed on. ``qsub`` prints the bare
  Slurm job id (``42``; Torque prints ``42.server``).
- ``qstat [ids]`` (table with ``S`` = Q/R/C...), ``qstat -a``, ``qstat -f ID`` (``Job Id:``,
  ``job_state = R``, ``exec_host``, ``Resource_List.walltime/nodect/ncpus``), ``qdel ID``.
- ``pbsnodes`` lists the Slurm node (``np``, ``state``, ``status = ...``).

PBS behaviours they do **not** cover (a backend must not rely on them here):

- no ``qstat -x`` (PBS Pro's finished-job history): "Unknown option: x", exit 2;
- ``qstat -f`` has no ``exit_status``/``Exit_status``: a finished job is ``job_state = C``
  whether it succeeded, failed, was killed for memory or time, or was deleted with ``qdel``;
  ``Resource_List`` lacks ``mem``; a finished job is forgotten after Slurm's ``MinJobAge``
  (300 s here), after which ``qstat ID`` prints nothing and exits 153 (no "Unknown Job Id");
  ``qdel`` of an unknown id exits 1, silently;
- the job gets no ``PBS_*`` variables (no ``PBS_O_WORKDIR``, ``PBS_JOBID``,
  ``PBS_NODEFILE``; ``SLURM_*`` instead); it starts in the submit directory;
- ``#PBS -o/-e`` lines in the script are overridden: the wrapper always passes ``-o``/``-e``
  (default ``NAME.oID``/``NAME.eID`` in the submit directory);
- ``-S shell`` is ignored with a warning on stderr (the script's ``#!`` line decides);
- ``pbsnodes --version`` is refused (Toil uses it to tell PBS Pro from Torque);
- jobs run as the submitter, root included (Slurm allows it; Torque sites do not).

Usage by hand::

    python -m tests.services.torque start /tmp/mypbs     # Slurm + the wrappers; prints exports
    python -m tests.services.torque stop /tmp/mypbs
    python -m tests.services.torque with [DIR] -- COMMAND...

No pytest import here; the fixture lives in ``tests/services/fixtures.py``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.services import slurm
from tests.services.host import apt_install, run_with, with_command

PACKAGE = "slurm-wlm-torque"
PERL_DEPENDENCIES = ("libslurm-perl", "libslurmdb-perl", "libswitch-perl")
COMMANDS = ("qsub", "qstat", "qdel", "qalter", "qhold", "qrls", "qrerun", "pbsnodes")
# The wrappers call these from their own directory (Perl's $FindBin::Bin).
_SLURM_COMMANDS = ("sbatch", "salloc", "srun", "squeue", "scontrol", "scancel")


class TorqueUnavailable(RuntimeError):
    """The PBS wrappers cannot be had here (the message says why)."""


def cache_dir() -> Path:
    """Where the unpacked wrappers are kept: ``$MOIL_TORQUE_CACHE`` or ``~/.cache/moil/torque``."""
    configured = os.environ.get("MOIL_TORQUE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "moil" / "torque"


def ensure_installed(cache: Path | None = None) -> Path:
    """Slurm, the wrappers' Perl dependencies and the unpacked wrappers; returns the
    directory holding ``qsub``. Safe from several processes at once. Raises
    TorqueUnavailable if apt-get cannot provide them."""
    try:
        slurm.ensure_installed()
    except slurm.SlurmUnavailable as exc:
        raise TorqueUnavailable(str(exc)) from None
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "unpack.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(cache.glob(f"{PACKAGE}_*/usr/bin/qsub"))
        bin_dir = found[-1].parent if found else _unpack(cache)
        if not _perl_ready(bin_dir):
            if os.geteuid() != 0 or shutil.which("apt-get") is None:
                raise TorqueUnavailable("the wrappers' Perl modules are missing (needs root)")
            try:
                apt_install(PERL_DEPENDENCIES)
            except RuntimeError as exc:
                raise TorqueUnavailable(str(exc)) from None
        for name in _SLURM_COMMANDS:
            link, target = bin_dir / name, Path("/usr/bin") / name
            if not link.is_symlink() and target.exists():
                link.symlink_to(target)
    return bin_dir


def _perl_ready(bin_dir: Path) -> bool:
    # Not "perl -c qsub": loading Slurm's Perl module without SLURM_CONF tries DNS first.
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Status}\n", *PERL_DEPENDENCIES],
        capture_output=True,
        text=True,
        check=False,
    )
    return (bin_dir / "qsub").exists() and done.stdout.split() == ["installed"] * 3


def _unpack(cache: Path) -> Path:
    if shutil.which("apt-get") is None:
        raise TorqueUnavailable(f"{PACKAGE} is not unpacked in {cache} and apt-get is missing")
    work = Path(tempfile.mkdtemp(prefix="download-", dir=cache))
    try:
        argv = ["apt-get", "download", PACKAGE]
        done = subprocess.run(argv, cwd=work, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, check=False)
            done = subprocess.run(argv, cwd=work, capture_output=True, text=True, check=False)
        debs = list(work.glob(f"{PACKAGE}_*.deb"))
        if not debs:
            raise TorqueUnavailable(f"apt-get download {PACKAGE} failed:\n{done.stderr[-800:]}")
        target = cache / debs[0].stem
        partial = work / "root"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(partial)], check=True)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / "usr" / "bin"


@dataclass
class TorqueCluster:
    """The PBS wrappers over a running Slurm. ``env`` reaches both (``SLURM_CONF``, and
    ``PATH`` with the wrappers first)."""

    slurm: slurm.SlurmCluster
    bin_dir: Path
    env: dict[str, str]

    def run(
        self, *argv: str, check: bool = True, cwd: str | Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command (``qsub``, ``qstat``...) with ``env``."""
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, check=check, timeout=60, cwd=cwd
        )


def over(cluster: slurm.SlurmCluster, cache: Path | None = None) -> TorqueCluster:
    """The wrappers over an already running Slurm (the session's, in tests)."""
    bin_dir = ensure_installed(cache)
    path = f"{bin_dir}:{cluster.env.get('PATH', os.defpath)}"
    return TorqueCluster(cluster, bin_dir, {**cluster.env, "PATH": path})


def start(base_dir: str | os.PathLike[str], cpus: int = 8) -> TorqueCluster:
    """Start a Slurm under ``base_dir`` (see slurm.start) with the wrappers over it."""
    bin_dir = ensure_installed()
    cluster = slurm.start(base_dir, cpus)
    path = f"{bin_dir}:{cluster.env.get('PATH', os.defpath)}"
    return TorqueCluster(cluster, bin_dir, {**cluster.env, "PATH": path})


@dataclass
class _Running:
    """A TorqueCluster as host.run_with wants it (stopping stops its Slurm)."""

    cluster: TorqueCluster

    @property
    def env(self) -> dict[str, str]:
        return self.cluster.env

    def stop(self) -> None:
        self.cluster.slurm.stop()


def _start_service(base: Path) -> _Running:
    return _Running(start(base))


def main(argv: list[str] | None = None) -> int:
    """``start DIR [CPUS]``, ``stop DIR``, ``with [DIR] -- COMMAND...``."""
    args = sys.argv[1:] if argv is None else argv
    wanted = with_command(args)
    if wanted:
        return run_with(wanted[0], "moil-pbs-", _start_service, wanted[1])
    if len(args) not in (2, 3) or args[0] not in ("start", "stop"):
        print(
            "usage: python -m tests.services.torque start DIR [CPUS] | stop DIR | "
            "with [DIR] -- COMMAND...",
            file=sys.stderr,
        )
        return 2
    if args[0] == "stop":
        slurm.stop_dir(args[1])
        print(f"# stopped the Slurm under the PBS wrappers in {args[1]}")
        return 0
    started = time.monotonic()
    cluster = start(args[1], int(args[2]) if len(args) == 3 else 8)
    print(f"# Slurm with the PBS wrappers up in {time.monotonic() - started:.2f}s")
    print(f"export SLURM_CONF={cluster.env['SLURM_CONF']}")
    print(f"export PATH={cluster.env['PATH']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
