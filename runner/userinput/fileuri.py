"""``file:`` URIs (RFC 8089) as local paths, for every front end.

RFC 8089 gives a local file three spellings, all accepted here:

- ``file:/abs/path`` (no authority),
- ``file:///abs/path`` (an empty authority),
- ``file://localhost/abs/path`` (``localhost``, or this machine's own host name),

with the path percent-encoded (``file:///my%20data/x.txt`` is ``/my data/x.txt``; bytes that are
not UTF-8 decode as the file system's own). The scheme and ``localhost`` are case-insensitive.
A URI that names another host, has a relative path, or carries a query or fragment cannot be
read here: ``file_uri_path`` raises ``InvalidFileUri`` (a ``ValueError``) saying so.

Text that starts with ``file:`` but is followed by neither ``/`` nor ``//`` is not a URI in
RFC 8089 (its path must be absolute): ``is_file_uri`` says False and callers treat it as the
relative path it then is.
"""

from __future__ import annotations

import socket
import urllib.parse

from runner.errors import MoilError

_LOCAL_HOSTS = frozenset({"", "localhost"})


class InvalidFileUri(MoilError, ValueError):
    """A ``file:`` URI that does not name a file of this machine."""


def is_file_uri(text: str) -> bool:
    """Whether ``text`` is a ``file:`` URI (``file:/...``, ``file://...``, any case)."""
    return len(text) > 5 and text[:5].lower() == "file:" and text[5] == "/"


def file_uri_path(uri: str) -> str:
    """The local absolute path a ``file:`` URI names. Raises InvalidFileUri (see module)."""
    if not is_file_uri(uri):
        raise InvalidFileUri(f"{uri!r} is not a file: URI with an absolute path")
    rest = uri[5:]
    if rest.startswith("//"):
        host, slash, path = rest[2:].partition("/")
        if not _is_this_host(host):
            raise InvalidFileUri(
                f"{uri!r} names the host {host!r}: only files of this machine can be read "
                "(write file:///path or file://localhost/path)"
            )
        path = slash + path
        if not path:
            raise InvalidFileUri(f"{uri!r} has no path")
    else:
        path = rest
    if "?" in path or "#" in path:
        raise InvalidFileUri(
            f"{uri!r} has a query or fragment; a '?' or '#' in a file name is written %3F or %23"
        )
    return urllib.parse.unquote(path, errors="surrogateescape")


def local_path(text: str) -> str:
    """``text`` as a local path: the path of a ``file:`` URI, else ``text`` unchanged."""
    return file_uri_path(text) if is_file_uri(text) else text


def _is_this_host(host: str) -> bool:
    host = urllib.parse.unquote(host).lower()
    if host in _LOCAL_HOSTS:
        return True
    # another name of this machine (looked up only for a host that is not plainly local)
    return host in (socket.gethostname().lower(), socket.getfqdn().lower())
