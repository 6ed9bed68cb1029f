"""Where runs put temporary job stores and job directories (runner/jobenv/tempdirs.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile

import pytest

from runner.jobenv import tempdirs


@pytest.fixture
def temp_base(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempdirs, "_made", {})
    return tmp_path


def test_private_dir_is_the_users_own_and_reused(temp_base) -> None:
    path = tempdirs.private_temp_dir("work")
    assert path == os.path.join(temp_base, f"moil-work-{os.geteuid()}")
    info = os.lstat(path)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert tempdirs.stores_dir() == os.path.join(temp_base, f"moil-stores-{os.geteuid()}")
    tempdirs.forget_made_dirs()
    assert tempdirs.private_temp_dir("work") == path  # an existing one is taken as it is


def test_a_name_taken_by_a_file_or_symlink_falls_back_to_the_temp_dir(temp_base) -> None:
    (temp_base / f"moil-work-{os.geteuid()}").write_text("not a directory")
    target = temp_base / "elsewhere"
    target.mkdir()
    (temp_base / f"moil-stores-{os.geteuid()}").symlink_to(target)
    assert tempdirs.private_temp_dir("work") == str(temp_base)
    assert tempdirs.stores_dir() == str(temp_base)


def test_work_dir_option_wins(temp_base) -> None:
    assert tempdirs.work_dir("/some/where") == "/some/where"
    assert tempdirs.work_dir(None).endswith(f"moil-work-{os.geteuid()}")


def test_spread_flag_is_set_where_the_file_system_has_it(tmp_path) -> None:
    lsattr = subprocess.run(
        ["lsattr", "-d", str(tmp_path)], check=False, capture_output=True, text=True
    )
    if lsattr.returncode != 0:
        pytest.skip(f"lsattr cannot read flags here: {lsattr.stderr.strip()}")
    assert tempdirs.spread_subdirs(str(tmp_path)) is True
    flags = subprocess.run(
        ["lsattr", "-d", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert "T" in flags


def test_spread_is_false_where_it_means_nothing(tmp_path) -> None:
    assert tempdirs.spread_subdirs(str(tmp_path / "missing")) is False
    if os.path.isdir("/proc/self"):
        assert tempdirs.spread_subdirs("/proc/self") is False
