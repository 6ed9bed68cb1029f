"""Finding a suite's test list in a directory, a file, or a downloaded archive."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from conformance.gate import HarnessError
from conformance.suite import fetch_archive, find_list_file, resolve_list_file

NAMES = ("conformance_test_v1.0.yaml", "conformance_tests.yaml")


def make_suite(root: Path) -> Path:
    """A suite laid out like the v1.0 one, with a decoy list deeper down."""
    (root / "cwl-v1.0" / "v1.0" / "deep").mkdir(parents=True)
    (root / "cwl-v1.0" / "conformance_test_v1.0.yaml").write_text("[]\n")
    (root / "cwl-v1.0" / "v1.0" / "deep" / "conformance_tests.yaml").write_text("[]\n")
    return root / "cwl-v1.0"


def test_find_list_file_prefers_the_shallowest(tmp_path: Path) -> None:
    suite = make_suite(tmp_path)
    assert find_list_file(suite, NAMES) == suite / "conformance_test_v1.0.yaml"
    with pytest.raises(HarnessError):
        find_list_file(suite, ("nothing.yaml",))


def test_resolve_directory_file_and_default(tmp_path: Path) -> None:
    suite = make_suite(tmp_path)
    listed = suite / "conformance_test_v1.0.yaml"
    assert resolve_list_file(str(suite), tmp_path / "unused", NAMES) == listed
    assert resolve_list_file(str(listed), tmp_path / "unused", NAMES) == listed
    assert resolve_list_file(None, suite, NAMES) == listed
    with pytest.raises(HarnessError, match="does not exist"):
        resolve_list_file(str(tmp_path / "missing"), tmp_path, NAMES)


@pytest.mark.parametrize("kind", ["gztar", "zip"])
def test_archive_url_is_fetched_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    suite = make_suite(tmp_path / "src")
    archive = shutil.make_archive(str(tmp_path / "suite"), kind, suite.parent, suite.name)
    monkeypatch.setenv("MOIL_CONFORMANCE_CACHE", str(tmp_path / "cache"))
    url = Path(archive).as_uri()
    found = resolve_list_file(url, tmp_path / "unused", NAMES)
    assert found.name == "conformance_test_v1.0.yaml"
    assert found.is_relative_to(tmp_path / "cache")
    Path(archive).unlink()  # a second resolution must not need the archive again
    assert resolve_list_file(url, tmp_path / "unused", NAMES) == found


def test_archive_with_escaping_member_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    payload = tmp_path / "payload"
    payload.write_text("x")
    with tarfile.open(evil, "w") as tar:
        tar.add(payload, arcname="../escaped.txt")
    with pytest.raises(HarnessError):
        fetch_archive(evil.as_uri(), tmp_path / "cache")
    assert list(tmp_path.rglob("escaped.txt")) == []
