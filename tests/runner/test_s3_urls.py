"""s3:// URLs in Toil's Python API (importFile/exportFile), on both S3 servers, with a
file: job store and with an aws: one (the URL's bucket is another than the store's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.s3 import S3Server

pytestmark = pytest.mark.s3

SCRIPT = Path(__file__).parent / "scripts" / "s3_roundtrip.py"


@pytest.mark.parametrize("store_kind", ["file", "aws"])
def test_import_and_export_s3_urls(s3_server: S3Server, tmp_path: Path, store_kind: str) -> None:
    data = s3_server.new_bucket()
    s3_server.client().put_object(Bucket=data, Key="in/hello.txt", Body=b"hello s3\n")
    store = (
        f"aws:{s3_server.region}:{s3_server.new_bucket()}"
        if store_kind == "aws"
        else str(tmp_path / "store")
    )
    environ = s3_server.env(os.environ)
    environ["MOIL_S3_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            store,
            f"s3://{data}/in/hello.txt",
            f"s3://{data}/out/HELLO.txt",
            "--logLevel",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = s3_server.client().get_object(Bucket=data, Key="out/HELLO.txt")["Body"].read()
    assert got == b"HELLO S3\n"


def test_a_missing_s3_object_is_named(moto_s3: S3Server, tmp_path: Path) -> None:
    data = moto_s3.new_bucket()
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "store"),
            f"s3://{data}/absent.txt",
            f"s3://{data}/out.txt",
            "--logLevel",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        env=moto_s3.env(os.environ),
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: no object at s3://{data}/absent.txt (on the S3 ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # no traceback


CAT_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: cat
inputs:
  f: {type: File, inputBinding: {position: 1}}
stdout: out.txt
outputs:
  out: {type: stdout}
"""


def _cat(server: S3Server, tmp_path: Path, location: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "cat.cwl").write_text(CAT_TOOL)
    (tmp_path / "job.json").write_text(json.dumps({"f": {"class": "File", "location": location}}))
    environ = server.env(os.environ)
    environ["MOIL_S3_CACHE"] = str(tmp_path / "cache")
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("toil-cwl-runner")),
            "--outdir",
            str(tmp_path / "out"),
            str(tmp_path / "cat.cwl"),
            str(tmp_path / "job.json"),
        ],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )


def test_a_cwl_file_input_from_s3(moto_s3: S3Server, tmp_path: Path) -> None:
    data = moto_s3.new_bucket()
    moto_s3.client().put_object(Bucket=data, Key="in/hello.txt", Body=b"hello from s3\n")
    done = _cat(moto_s3, tmp_path, f"s3://{data}/in/hello.txt")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "out.txt").read_text() == "hello from s3\n"
    missing = _cat(moto_s3, tmp_path, f"s3://{data}/in/absent.txt")
    assert missing.returncode == 1, missing.stderr
    errors = [line for line in missing.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"cannot fetch s3://{data}/in/absent.txt: no object" in errors[0]
    assert "Traceback" not in missing.stderr
