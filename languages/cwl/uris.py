"""``file:`` URIs in every form RFC 8089 allows, as CWL documents and inputs write them.

RFC 8089 lets a local file be named ``file:/abs/path`` (no authority), ``file:///abs/path``
(an empty one), ``file://localhost/abs/path``, or ``file://HOST/abs/path`` with this host's
own name, each with percent-encoded characters. cwltool and schema-salad only understand
``file:///``: ``file:/abs`` was taken as a relative path, ``file://localhost/`` worked by
chance, and ``file://otherhost/abs`` named a file of *this* host. Here every local form
becomes the one form the rest of the code reads (``file:///abs/path``, percent-encoding
kept as given), and a file of another host is an error. Where: the locations of the input
object (``inputs.py``) and of the documents' defaults (``load.py``), the document and job
file named on the command line, and ``run``/``$import``/``$include``/``location`` in the
text of every document schema-salad fetches (``fetcher_constructor``).

``canonical_file_uri`` and ``file_uri_path`` are pure functions that any front end could
share (the WDL one has its own for now).
"""

from __future__ import annotations

import functools
import os
import re
import socket
import urllib.parse
import urllib.request
from typing import Any

from runner.errors import MoilError


class RemoteFileURI(MoilError):
    """A ``file://HOST/...`` URI names a file of another host (exit 1)."""


@functools.cache
def _local_names() -> frozenset[str]:
    names = {"", "localhost", "127.0.0.1", "::1"}
    for name in (socket.gethostname(), socket.getfqdn()):
        names.add(name.lower())
    return frozenset(names)


def is_file_uri(text: str) -> bool:
    """Whether ``text`` is a ``file:`` URI (any form)."""
    return text[:5].lower() == "file:"


def canonical_file_uri(uri: str) -> str:
    """``uri`` as ``file:///abs/path[#fragment]`` if it is a local ``file:`` URI of any
    RFC 8089 form; any other string comes back unchanged. Raises RemoteFileURI for a
    ``file:`` URI with another host's name."""
    if not is_file_uri(uri):
        return uri
    split = urllib.parse.urlsplit(uri)
    if split.netloc.lower() not in _local_names():
        raise RemoteFileURI(
            f"{uri} names a file on host {split.netloc!r}, not on this one: give a local "
            "path, file:///path or file://localhost/path"
        )
    if split.path.startswith("//"):  # file:////host/share: a UNC name (RFC 8089 E.3.2)
        raise RemoteFileURI(f"{uri} is a UNC name of a shared file on another host")
    if not split.path.startswith("/"):
        return uri  # "file:relative" is no RFC 8089 form: leave it to the caller's checks
    path = split.path
    query = f"?{split.query}" if split.query else ""
    fragment = f"#{split.fragment}" if split.fragment else ""
    return f"file://{path}{query}{fragment}"


def file_uri_path(uri: str) -> str | None:
    """The local path a ``file:`` URI names (percent-decoded), or None if ``uri`` is no
    ``file:`` URI. Raises RemoteFileURI for another host's file."""
    if not is_file_uri(uri):
        return None
    split = urllib.parse.urlsplit(canonical_file_uri(uri))
    return urllib.request.url2pathname(split.path)


def canonical_locations(value: Any) -> None:
    """Rewrite in place the ``location`` (and a URI ``path``) of every File and Directory
    in ``value`` (nested ones included) to the canonical ``file:///`` form."""
    if isinstance(value, list):
        for item in value:
            canonical_locations(item)
        return
    if not isinstance(value, dict):
        return
    if value.get("class") in ("File", "Directory"):
        for key in ("location", "path"):
            text = value.get(key)
            if isinstance(text, str) and is_file_uri(text):
                value[key] = canonical_file_uri(text)
    for item in value.values():
        if isinstance(item, (dict, list)):
            canonical_locations(item)


_NOT_CANONICAL = re.compile(r"file:(?!///)", re.IGNORECASE)

#: keys whose values schema-salad resolves as references to documents or files
REFERENCE_KEYS = frozenset({"run", "$import", "$include", "$mixin", "location"})


def canonical_references(text: str, name: str = "") -> str:
    """A YAML/JSON document's text with every ``file:`` URI that is the value of a
    reference key (``run``, ``$import``, ``$include``, ``$mixin``, ``location``) in the
    canonical form, each edited where it stands (line numbers stay; nothing else, block
    scalars included, is touched). Text that does not parse comes back as it is. Raises
    RemoteFileURI (``name:line:col: ...``) for a reference to another host's file."""
    if not _NOT_CANONICAL.search(text):  # the common case: no parse
        return text
    from schema_salad.utils import yaml_no_ts

    try:
        doc = yaml_no_ts().load(text)
    except Exception:  # noqa: BLE001 (salad reports the document's own errors)
        return text
    lines = text.split("\n")
    for line, col, old, new in sorted(_reference_edits(doc, name), reverse=True):
        found = lines[line].find(old, col)
        if found >= 0:
            lines[line] = lines[line][:found] + new + lines[line][found + len(old) :]
    return "\n".join(lines)


def _reference_edits(doc: Any, name: str) -> list[tuple[int, int, str, str]]:
    edits = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            lc: Any = getattr(node, "lc", None)
            if key in REFERENCE_KEYS and isinstance(value, str) and is_file_uri(value) and lc:
                line, col = lc.value(key)
                try:
                    new = canonical_file_uri(value)
                except RemoteFileURI as exc:
                    raise RemoteFileURI(f"{name}:{line + 1}:{col + 1}: {exc}") from None
                if new != value:
                    edits.append((line, col, value, new))
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return edits


def _shown(url: str) -> str:
    """A document's name as salad's messages show it (relative to the current directory)."""
    path = file_uri_path(url)
    return os.path.relpath(path) if path else url


_fetchers: list[type] = []


def fetcher_constructor() -> type:
    """schema-salad's fetcher, reading documents with ``canonical_references`` applied."""
    if _fetchers:
        return _fetchers[0]
    from schema_salad.fetcher import DefaultFetcher

    class CanonicalFileURIFetcher(DefaultFetcher):
        def fetch_text(self, url: str, content_types: list[str] | None = None) -> str:
            text = super().fetch_text(canonical_file_uri(url), content_types)
            fixed = canonical_references(text, _shown(url))
            if fixed is not text:
                self.cache[url] = fixed  # salad's cache holds what it was given
            return fixed

        def check_exists(self, url: str) -> bool:
            return bool(super().check_exists(canonical_file_uri(url)))

    _fetchers.append(CanonicalFileURIFetcher)
    return CanonicalFileURIFetcher
