"""The call cache's local store: atomic entries, damage read as a miss, pruning."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.cache.keys import Blob, CacheKey, why_changed
from runner.cache.store import LocalCache, open_cache, prune
from runner.errors import UsageError
from tests.languages.conftest import REPO


def blob(tmp_path: Path, name: str, data: bytes) -> Blob:
    path = tmp_path / "made" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    import hashlib

    return Blob("sha1$" + hashlib.sha1(data).hexdigest(), str(path))


def test_put_then_get_links_the_file(tmp_path: Path) -> None:
    cache = LocalCache(str(tmp_path / "c"))
    made = blob(tmp_path, "out.txt", b"result\n")
    cache.put("k1", {"out": "v"}, [made])
    entry = cache.get("k1")
    assert entry is not None
    assert entry.value == {"out": "v"}
    cached = entry.paths[made.digest]
    assert os.stat(cached).st_ino == os.stat(made.path).st_ino  # a link, not a copy
    assert cache.get("k2") is None


def test_damaged_entry_or_file_is_a_miss(tmp_path: Path) -> None:
    cache = LocalCache(str(tmp_path / "c"))
    made = blob(tmp_path, "out.txt", b"result\n")
    cache.put("k1", 1, [made])
    entry_file = next((tmp_path / "c" / "entries").rglob("k1.json"))
    data = entry_file.read_bytes()
    entry_file.write_bytes(data[:-5])
    assert cache.get("k1") is None
    entry_file.write_bytes(data.replace(b'"value":1', b'"value":2'))
    assert cache.get("k1") is None  # its checksum no longer matches
    entry_file.write_bytes(data)
    assert cache.get("k1") is not None
    Path(made.path).write_bytes(b"edited!")  # the other name of the cached file
    assert cache.get("k1") is None


def test_digests_are_remembered_by_path_size_mtime_inode(tmp_path: Path) -> None:
    cache = LocalCache(str(tmp_path / "c"))
    made = blob(tmp_path, "in.txt", b"input")
    cache.remember_digest(made.path, made.digest)
    assert cache.known_digest(made.path) == made.digest
    os.utime(made.path, ns=(0, 10**9))
    assert cache.known_digest(made.path) is None


def test_parts_say_what_changed() -> None:
    old = CacheKey.of("n", "step", {"command": "a", "input x": 1})
    new = CacheKey.of("n", "step", {"command": "b", "input x": 1, "input y": 2})
    assert why_changed(dict(old.parts), new) == "command changed, input y added"
    assert why_changed(None, new) == "not run before"
    assert old.digest != new.digest
    assert CacheKey.of("m", "other", {"input x": 1, "command": "a"}).digest == old.digest


def test_a_remote_cache_is_refused_with_what_to_do() -> None:
    with pytest.raises(UsageError, match="s3:// cache is not supported yet"):
        open_cache("s3://bucket/prefix")


def test_prune_by_age_then_size(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = LocalCache(str(root))
    old, mid, new = (blob(tmp_path, f"{n}.bin", n.encode() * 1000) for n in ("o", "m", "n"))
    for key, made in (("old", old), ("mid", mid), ("new", new)):
        cache.put(key, key, [made])
    now = time.time() + 7200  # the files are past the sweep's grace
    entries = {p.stem: p for p in (root / "entries").rglob("*.json")}
    for name, age in (("old", 40 * 86400), ("mid", 2 * 86400), ("new", 0)):
        os.utime(entries[name], (now - age, now - age))
    done = prune(str(root), older_than=30 * 86400, now=now)
    assert (done.entries, done.blobs) == (1, 1)
    assert cache.get("old") is None and cache.get("mid") is not None
    assert Path(old.path).read_bytes() == b"o" * 1000  # the file the run made stays
    done = prune(str(root), max_size=1500, now=now)
    assert (done.entries, done.blobs) == (1, 1)
    assert cache.get("new") is not None and cache.get("mid") is None


def test_prune_command_refuses_a_directory_that_is_no_cache(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("x")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.cli.toil_cmd",
            "prune-cache",
            str(tmp_path),
            "--older-than",
            "1s",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert proc.returncode == 2, proc.stderr
    assert "is not a moil call cache" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "precious.txt").exists()
