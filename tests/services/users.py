"""A non-root user for schedulers that refuse root, and a Python that user can run.

Grid Engine (``min_uid 1000``) and HTCondor refuse jobs from root, as sites do. Such a job
runs as the submitting user, so a moil worker in it needs an interpreter and the project's
packages that user can read. The project's ``.venv`` is readable by others, but its
``bin/python`` is often a link into ``/root/.pyenv`` (``/root`` is mode 0700): another user
cannot execute it. ``user_python`` then builds a small mirror venv from the system's Python
of the same minor version (same ABI, so the compiled extensions in ``.venv`` load) whose only
content is a ``.pth`` line adding ``.venv``'s site-packages, and the console scripts of
``.venv/bin`` (``toil-cwl-runner``...) with their first line pointing at it.

The user is created once with ``useradd`` and kept (other sessions may use it at the same
time); nothing here changes the permissions of existing directories.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

DEFAULT_USER = "moiltest"


class UserUnavailable(RuntimeError):
    """The user or an interpreter it can run cannot be had here (the message says why)."""


def ensure_user(name: str = DEFAULT_USER, min_uid: int = 1000) -> pwd.struct_passwd:
    """The account ``name`` (created with a home directory if missing; needs root).

    Raises UserUnavailable if it cannot be created or its uid is below ``min_uid``."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if os.geteuid() != 0:
            raise UserUnavailable(f"user {name} is missing and only root can create it") from None
        argv = ["useradd", "--create-home", "--shell", "/bin/bash", name]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        try:  # another process may have created it meanwhile: that is fine
            entry = pwd.getpwnam(name)
        except KeyError:
            raise UserUnavailable(f"useradd {name} failed: {done.stderr.strip()}") from None
    if entry.pw_uid < min_uid:
        raise UserUnavailable(f"user {name} has uid {entry.pw_uid}, below {min_uid}")
    return entry


def user_dir(path: Path, user: str = DEFAULT_USER) -> Path:
    """Create ``path`` owned by ``user``, mode 0755 (its parents must be searchable)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, user, user)
    path.chmod(0o755)
    return path


def runs_as(user: str, argv: list[str], env: dict[str, str] | None = None) -> bool:
    """Whether ``argv`` exits 0 when run as ``user``."""
    done = subprocess.run(
        ["runuser", "-u", user, "--", *argv],
        env=env,
        capture_output=True,
        cwd="/",
        timeout=120,
        check=False,
    )
    return done.returncode == 0


def user_python(base: Path, user: str = DEFAULT_USER) -> Path:
    """A Python executable ``user`` can run that imports the project's packages.

    ``sys.executable`` if the user can already run it; else a mirror venv made under
    ``base/venv-USER`` (see the module's docstring). Raises UserUnavailable if neither works
    (no system Python of this minor version)."""
    probe = ["-c", "import runner, cwltool"]
    if runs_as(user, [sys.executable, *probe]):
        return Path(sys.executable)
    venv = base / f"venv-{user}"
    python = venv / "bin" / "python"
    if not python.exists():
        _mirror_venv(venv)
    if not runs_as(user, [str(python), *probe]):
        raise UserUnavailable(f"{user} cannot import the project's packages with {python}")
    return python


def _mirror_venv(venv: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}")
    system = next((p for p in candidates if os.access(p, os.X_OK)), None)
    if system is None:
        raise UserUnavailable(
            f"{sys.executable} is not executable by other users and no system python{version} "
            "exists to build a venv they can run"
        )
    done = subprocess.run(
        [system, "-m", "venv", "--without-pip", str(venv)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise UserUnavailable(f"{system} -m venv failed: {done.stderr.strip()[-500:]}")
    site = Path(sysconfig.get_paths()["purelib"])
    target = venv / "lib" / f"python{version}" / "site-packages" / "moil-project.pth"
    # An "import" line in a .pth runs at start-up: addsitedir also processes the .pth files
    # of .venv (the editable install of moil itself).
    target.write_text(f"import site; site.addsitedir({str(site)!r})\n")
    shebang = f"#!{Path(sys.prefix) / 'bin' / 'python'}"
    for script in (Path(sys.prefix) / "bin").iterdir():
        try:
            first, rest = script.read_text().split("\n", 1)
        except (UnicodeDecodeError, ValueError, OSError):
            continue
        if first.strip() in (shebang, shebang + "3") and not (venv / "bin" / script.name).exists():
            copy = venv / "bin" / script.name
            copy.write_text(f"#!{venv / 'bin' / 'python'}\n{rest}")
            copy.chmod(0o755)
