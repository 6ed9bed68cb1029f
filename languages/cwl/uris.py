"""``file:`` URIs in every form RFC 8089 allows, where CWL documents and inputs use them.

RFC 8089 lets a local file be named ``file:/abs/path``, ``file:///abs/path``,
``file://localhost/abs/path`` or ``file://HOST/abs/path`` with this host's own name, each
percent-encoded; ``runner.userinput.fileuri`` (shared with the WDL side) reads them as paths. cwltool
and schema-salad only understand ``file:///``: ``file:/abs`` was taken as a relative path,
as ``run:`` or ``$import`` it failed ("not in the index"), and ``file://otherhost/abs``
read this host's ``/abs``. Here every local form becomes ``file:///abs/path`` (the
percent-encoding and a ``#fragment`` kept as given) before cwltool sees it, and a file of
another host is refused (``InvalidFileUri``, a ValueError): in the input object
(``inputs.py``), the documents' defaults (``load.py``), the document and job file named on
the command line, and ``run``/``$import``/``$include``/``$mixin``/``location`` in the text
of every document schema-salad fetches (``fetcher_constructor``).
"""

from __future__ import annotations

import os
import re
from typing import Any

from runner.userinput.fileuri import InvalidFileUri, file_uri_path, is_file_uri

__all__ = ["InvalidFileUri", "canonical_file_uri", "canonical_locations", "file_uri_path"]


def canonical_file_uri(uri: str) -> str:
    """``uri`` as ``file:///abs/path[#fragment]`` if it is a local ``file:`` URI of any
    RFC 8089 form; other text comes back unchanged. Raises InvalidFileUri for one that
    names another host's file (``runner.userinput.fileuri``'s rules)."""
    if not is_file_uri(uri):
        return uri
    base, hash_mark, fragment = uri.partition("#")  # a document's #main, kept
    file_uri_path(base)  # the checks: this host, an absolute path, no query
    rest = base[5:]
    path = "/" + rest[2:].partition("/")[2] if rest.startswith("//") else rest
    return f"file://{path}{hash_mark}{fragment}"


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
    InvalidFileUri (``name:line:col: ...``) for a reference to another host's file."""
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
                except InvalidFileUri as exc:
                    raise InvalidFileUri(f"{name}:{line + 1}:{col + 1}: {exc}") from None
                if new != value:
                    edits.append((line, col, value, new))
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return edits


def _shown(url: str) -> str:
    """A document's name as salad's messages show it (relative to the current directory)."""
    try:
        return os.path.relpath(file_uri_path(url.partition("#")[0]))
    except InvalidFileUri:  # http(s), or no local file: the URL itself
        return url


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
