"""``file:`` URIs as RFC 8089 spells them, read as local paths."""

from __future__ import annotations

import socket

import pytest

from runner.userinput.fileuri import InvalidFileUri, file_uri_path, is_file_uri, local_path


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:/abs/path.txt", "/abs/path.txt"),
        ("file:///abs/path.txt", "/abs/path.txt"),
        ("file://localhost/abs/path.txt", "/abs/path.txt"),
        ("FILE://LocalHost/abs/path.txt", "/abs/path.txt"),
        ("file:///my%20data/a%2Bb%23c%3F.txt", "/my data/a+b#c?.txt"),
        ("file:/caf%C3%A9", "/caf\u00e9"),
        ("file:///bytes%FF", "/bytes\udcff"),  # not UTF-8: the file system's own bytes
        (f"file://{socket.gethostname()}/abs", "/abs"),
    ],
)
def test_every_local_form_gives_the_path(uri: str, path: str) -> None:
    assert is_file_uri(uri)
    assert file_uri_path(uri) == path
    assert local_path(uri) == path


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("file://elsewhere.example/abs", "names the host 'elsewhere.example'"),
        ("file:///abs/a?b", "query or fragment"),
        ("file:///abs/a#b", "query or fragment"),
        ("file://localhost", "has no path"),
    ],
)
def test_uris_that_name_no_local_file_are_refused(uri: str, reason: str) -> None:
    with pytest.raises(InvalidFileUri, match=reason):
        file_uri_path(uri)


@pytest.mark.parametrize("text", ["file:relative.txt", "file:", "data/file:x", "/abs/path"])
def test_other_text_is_not_a_uri(text: str) -> None:
    assert not is_file_uri(text)
    assert local_path(text) == text
