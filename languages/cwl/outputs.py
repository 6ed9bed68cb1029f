"""The final output object: files placed in ``--outdir`` and the object cwltool prints.

Stored files are hard-linked from the job store straight to their place in ``--outdir``
(no bytes copied on one file system, and the job store stays whole until it is cleaned);
stored directories are rebuilt there from hard links. As with cwltool, every File and
Directory of the output lands at the top of ``--outdir`` under its basename (a clash gets a
``_2``, ``_3``... suffix), secondary files beside their primary file, and the printed object
has ``location``/``path`` in ``--outdir``, ``basename``, ``class``, ``checksum``, ``size``,
``secondaryFiles``, and a full ``listing`` for each Directory.

Nothing that was in ``--outdir`` before is removed or changed: where a name is taken by a
file or directory the run did not put there, the output gets the next free ``_2``, ``_3``...
name (with a warning) instead of replacing it, as cwltool would. A basename that is not a
single name (``/``, ``..``) fails the export with ``UnsafeName`` naming the output.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from typing import IO, Any

from backends.jobstore.base import JobStore
from languages.cwl.files import (
    DIR_SCHEME,
    FILE_SCHEME,
    UnsafeName,
    check_name,
    file_id_of,
    file_uri,
    local_path_of,
    map_values,
    parse_dir_location,
    read_manifest,
    sha1_of,
    subtree,
)

GENERATION = "http://commonwl.org/cwltool#generation"
_DROPPED = ("path", "nameext", "nameroot", "dirname", GENERATION, "contents")
log = logging.getLogger(__name__)


def export_outputs(
    value: Any,
    store: JobStore,
    outdir: str,
    *,
    compute_checksum: bool = True,
    files: dict[str, str] | None = None,
) -> Any:
    """``value`` with its files placed in ``outdir`` (created if needed); ``files``, if
    given, gets each stored file's target path -> file ID. Raises ``UnsafeName`` (naming
    the output) for a basename that is not a single name."""
    os.makedirs(outdir, exist_ok=True)
    exporter = _Exporter(store, outdir, compute_checksum)
    try:
        if not isinstance(value, dict):
            return exporter.export(value)
        out = {}
        for name, item in value.items():
            try:
                out[name] = exporter.export(item)
            except UnsafeName as exc:
                raise UnsafeName(f"output {name!r}: {exc}") from None
        return out
    finally:
        if files is not None:
            files.update(
                {
                    target: file_id_of(loc)
                    for loc, target in exporter.placed.items()
                    if loc.startswith(FILE_SCHEME)
                }
            )


def print_outputs(value: Any, stream: IO[str]) -> None:
    """Print the output object as cwltool does (indented JSON)."""
    json.dump(value, stream, indent=4, ensure_ascii=False, default=str)
    stream.write("\n")
    stream.flush()


class _Exporter:
    def __init__(self, store: JobStore, outdir: str, checksum: bool) -> None:
        self.store = store
        self.outdir = outdir
        self.checksum = checksum
        #: source location -> target path (a value named twice is placed once)
        self.placed: dict[str, str] = {}
        self.taken: set[str] = set()
        self.suffix: dict[str, int] = {}

    def export(self, value: Any) -> Any:
        return map_values(value, lambda obj: self._place(obj, self.outdir))

    def _target(self, parent: str, basename: str, key: str) -> tuple[str, bool]:
        """Where ``key`` goes in ``parent``; whether it is already there. Never a name that
        this run placed already or that was taken before it (not replaced: a new name)."""
        known = self.placed.get(key)
        if known is not None and os.path.dirname(known) == parent:
            return known, True
        stem = os.path.join(parent, basename)
        target, n, there = stem, self.suffix.get(stem, 1), False
        while target in self.taken or os.path.lexists(target):
            if target not in self.taken and self._is_same(key, target):
                there = True  # placed by an earlier attempt of this export (a --restart)
                break
            n += 1
            target = f"{stem}_{n}"
        if target != stem and stem not in self.taken:
            log.warning(
                "%s already exists and is left as it is; this output goes to %s", stem, target
            )
        self.suffix[stem] = n  # the next clash starts here: no quadratic search
        self.taken.add(target)
        self.placed.setdefault(key, target)
        return target, there

    def _is_same(self, location: str, target: str) -> bool:
        """Whether ``target`` is the stored file ``location`` itself (a hard link to it)."""
        if not location.startswith(FILE_SCHEME):
            return False
        stored = self.store.local_path(file_id_of(location))
        try:
            return stored is not None and os.path.samefile(stored, target)
        except OSError:
            return False

    def _place(self, obj: dict[str, Any], parent: str) -> dict[str, Any]:
        check_name(obj)
        out = {k: v for k, v in obj.items() if k not in _DROPPED}
        loc = str(obj.get("location") or "")
        basename = str(obj.get("basename") or os.path.basename(loc.rstrip("/")) or "output")
        target, there = self._target(parent, basename, loc or repr(sorted(obj.items())))
        if obj["class"] == "File":
            if not there:
                self._put_file(obj, loc, target)
            if self.checksum and "checksum" not in out and loc.startswith(FILE_SCHEME):
                digest = self.store.file_digest(file_id_of(loc))  # hashed as it was stored
                out.update({"checksum": digest} if digest else {})
            self._describe_file(out, target)
            if obj.get("secondaryFiles"):
                out["secondaryFiles"] = [self._place(s, parent) for s in obj["secondaryFiles"]]
        else:
            if not there:
                self._put_dir(obj, loc, target)
            out["listing"] = self._listing(obj, target)
        out["location"], out["path"], out["basename"] = file_uri(target), target, basename
        out.setdefault("class", obj["class"])
        return out

    def _put_file(self, obj: dict[str, Any], loc: str, target: str) -> None:
        if loc.startswith(FILE_SCHEME):
            self.store.export_local(file_id_of(loc), target)
        elif "contents" in obj and not local_path_of(loc):
            with open(target, "w", encoding="utf-8") as stream:
                stream.write(str(obj["contents"]))
        else:
            _link_or_copy(local_path_of(loc) or str(obj.get("path")), target)

    def _put_dir(self, obj: dict[str, Any], loc: str, target: str) -> None:
        if loc.startswith(DIR_SCHEME):
            manifest_id, sub = parse_dir_location(loc)
            self._build(subtree(read_manifest(self.store, manifest_id), sub), target)
        elif local_path_of(loc):
            shutil.copytree(str(local_path_of(loc)), target, copy_function=_link_or_copy)
        else:
            os.makedirs(target)  # a literal Directory: its listing says what is in it

    def _build(self, tree: dict[str, Any], path: str) -> None:
        os.makedirs(path, exist_ok=True)
        for name, entry in tree.items():
            if isinstance(entry, dict):
                self._build(entry, os.path.join(path, name))
            else:
                self.store.export_local(entry, os.path.join(path, name))

    def _listing(self, obj: dict[str, Any], target: str) -> list[dict[str, Any]]:
        """The directory's listing as it now is in ``outdir`` (entries given keep their
        other fields; what the value did not list is listed from disk)."""
        given = {e.get("basename"): e for e in obj.get("listing") or ()}
        listing = []
        for name, entry in given.items():
            if not os.path.lexists(os.path.join(target, str(name))):
                # an entry of a literal Directory: place it inside
                listing.append(self._place(entry, target))
        for dirent in sorted(os.scandir(target), key=lambda e: e.name):
            if any(e["basename"] == dirent.name for e in listing):
                continue
            entry = {k: v for k, v in given.get(dirent.name, {}).items() if k not in _DROPPED}
            entry["basename"] = dirent.name
            entry["location"], entry["path"] = file_uri(dirent.path), dirent.path
            if dirent.is_dir():
                entry["class"] = "Directory"
                entry["listing"] = self._listing(given.get(dirent.name, {}), dirent.path)
            else:
                entry["class"] = "File"
                self._describe_file(entry, dirent.path)
            listing.append(entry)
        return listing

    def _describe_file(self, out: dict[str, Any], path: str) -> None:
        out["size"] = os.stat(path).st_size
        if self.checksum and "checksum" not in out:
            out["checksum"] = sha1_of(path)


def _link_or_copy(src: str, dest: str) -> str:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
    return dest
