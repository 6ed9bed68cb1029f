"""The FTP server the ``ftp://`` inputs will be tested against: anonymous reads, the user's
login, refusals, through urllib (as a URL fetch does) and ftplib."""

from __future__ import annotations

import ftplib
import io
import urllib.error
import urllib.request

import pytest

from tests.services.ftp import FtpServer

pytestmark = pytest.mark.ftp


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return bytes(answer.read())


def test_anonymous_and_user_fetch_with_urllib(ftp_server: FtpServer) -> None:
    (ftp_server.root / "inputs").mkdir(exist_ok=True)
    (ftp_server.root / "inputs" / "reads.fastq").write_bytes(b"@r1\nACGT\n+\nIIII\n")
    assert _fetch(ftp_server.url("inputs/reads.fastq")) == b"@r1\nACGT\n+\nIIII\n"
    assert _fetch(ftp_server.url("inputs/reads.fastq", login=True)) == b"@r1\nACGT\n+\nIIII\n"
    with pytest.raises(urllib.error.URLError):
        _fetch(ftp_server.url("inputs/absent.txt"))
    wrong = ftp_server.url("inputs/reads.fastq").replace("ftp://", "ftp://moil:wrong@")
    with pytest.raises(urllib.error.URLError, match="530"):
        _fetch(wrong)


def test_user_writes_anonymous_cannot(ftp_server: FtpServer) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, binary
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=30)
        ftp.login(ftp_server.user, ftp_server.password)
        ftp.storbinary("STOR uploaded.bin", io.BytesIO(data))
        assert "uploaded.bin" in ftp.nlst()
    assert (ftp_server.root / "uploaded.bin").read_bytes() == data
    assert _fetch(ftp_server.url("uploaded.bin")) == data
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=30)
        ftp.login()  # anonymous
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.storbinary("STOR anon.bin", io.BytesIO(b"no"))
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.delete("uploaded.bin")
    assert not (ftp_server.root / "anon.bin").exists()
    assert (ftp_server.root / "uploaded.bin").exists()
