"""CWL File and Directory values as they travel between jobs: locations in the job store.

Between jobs a File's ``location`` is ``moilfile:<file ID>`` (the ID percent-quoted) and a
Directory's is ``moildir:<manifest ID>`` or ``moildir:<manifest ID>/<sub/path>``, where the
manifest is a stored JSON tree ``{name: file ID | {subtree}}``. Nothing else about a value
changes: ``basename``, ``size``, ``checksum``, ``format``, ``secondaryFiles``, ``listing``
travel as they are. ``path`` and ``dirname`` are local to one process and are dropped.

``localize`` turns such a value into one with ``file://`` locations that cwltool can use in
this process: a stored file is used where it lies (or hard-linked into a directory), a
stored directory is rebuilt from hard links. ``globalize`` does the reverse for values
cwltool produced: a file this process localized maps back to its ID; a new file enters the
store by rename (``move``) when the job owns it, by hard link otherwise. Bytes are copied
only when the job store is on another file system.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from backends.jobstore.base import JobStore
from runner.cache.store import CallCache
from runner.errors import MoilError, PermanentJobError
from runner.userinput.fileuri import file_uri_path, is_file_uri

#: remote input locations imported into the store once, at the start of the run
_FETCHED = ("http://", "https://", "ftp://", "s3://")

FILE_SCHEME = "moilfile:"
DIR_SCHEME = "moildir:"
_LOCAL_KEYS = ("path", "dirname")


class MissingInput(MoilError):
    """A File or Directory named by the inputs does not exist."""


class UnsafeName(PermanentJobError):
    """A File's or Directory's ``basename`` is not a single name: it would be used as a path
    that leaves its directory (``/``, ``..``) or names the directory itself."""


def check_name(obj: dict[str, Any]) -> None:
    """Raise ``UnsafeName`` unless ``obj``'s ``basename`` (if it has one) is a single name.

    The CWL spec: "The basename must not contain a slash". Every place that turns a basename
    into a path (staging inputs, placing outputs in ``--outdir``) relies on this check."""
    name = obj.get("basename")
    if name is None:
        return
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise UnsafeName(
            f"{obj.get('class', 'File')} basename {name!r} is not a single name: a basename "
            "must not be empty, '.' or '..', nor contain '/'"
        )


def check_names(value: Any) -> None:
    """``check_name`` on every File and Directory in ``value``, nested ones included."""
    for obj in iter_files(value):
        check_name(obj)


# -- locations --------------------------------------------------------------------------------
def file_location(file_id: str) -> str:
    return FILE_SCHEME + urllib.parse.quote(file_id, safe="/")


def dir_location(manifest_id: str, subpath: str = "") -> str:
    loc = DIR_SCHEME + urllib.parse.quote(manifest_id, safe="")
    return loc + ("/" + urllib.parse.quote(subpath, safe="/") if subpath else "")


def file_id_of(location: str) -> str:
    return urllib.parse.unquote(location[len(FILE_SCHEME) :])


def parse_dir_location(location: str) -> tuple[str, str]:
    """(manifest ID, sub path) of a ``moildir:`` location."""
    rest = location[len(DIR_SCHEME) :]
    head, _, sub = rest.partition("/")
    return urllib.parse.unquote(head), urllib.parse.unquote(sub)


def is_stored(location: str) -> bool:
    return location.startswith((FILE_SCHEME, DIR_SCHEME))


def local_path_of(location: str) -> str | None:
    """The local path a ``file:`` URI (any RFC 8089 form) or plain path names, else None."""
    if is_file_uri(location):
        return file_uri_path(location)
    if location.startswith("/"):
        return location
    return None


def is_special_file(path: str) -> bool:
    """Whether ``path`` is a FIFO or a device (``/dev/null``): a file a tool can read, that
    is never hashed, sized, copied or linked, only passed on as it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


def file_uri(path: str) -> str:
    from schema_salad.ref_resolver import file_uri as salad_file_uri

    return salad_file_uri(path)


# -- walking values ---------------------------------------------------------------------------
def is_file_or_dir(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class") in ("File", "Directory")


def map_values(value: Any, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """A copy of ``value`` with every top-level File/Directory object replaced by ``fn``."""
    if is_file_or_dir(value):
        return fn(value)
    if isinstance(value, dict):
        return {k: map_values(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [map_values(v, fn) for v in value]
    return value


def iter_files(value: Any) -> Iterable[dict[str, Any]]:
    """Every File and Directory object in ``value``, nested ones included."""
    if is_file_or_dir(value):
        yield value
        for key in ("secondaryFiles", "listing"):
            for item in value.get(key) or ():
                yield from iter_files(item)
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_files(v)
    elif isinstance(value, list):
        for v in value:
            yield from iter_files(v)


# -- manifests --------------------------------------------------------------------------------
def read_manifest(store: JobStore, manifest_id: str) -> dict[str, Any]:
    """The tree of a stored directory (read each time: an in-place update may change it)."""
    with store.open_read(manifest_id) as stream:
        tree: dict[str, Any] = json.loads(stream.read())
    return tree


def write_manifest(store: JobStore, tree: dict[str, Any]) -> str:
    file_id, stream = store.write_stream("listing.json")
    with stream:
        stream.write(json.dumps(tree, sort_keys=True).encode())
    return str(file_id)


def rewrite_manifest(store: JobStore, manifest_id: str, sub: str, tree: dict[str, Any]) -> bool:
    """Replace the subtree ``sub`` of a stored directory in place (InplaceUpdateRequirement:
    every value naming the directory sees the change). Only a local store can; returns
    whether it did."""
    path = store.local_path(manifest_id)
    if path is None:
        return False
    whole = read_manifest(store, manifest_id)
    if sub:
        parent = subtree(whole, os.path.dirname(sub))
        parent[os.path.basename(sub)] = tree
    else:
        whole = tree
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".listing-")
    with os.fdopen(fd, "w") as stream:
        json.dump(whole, stream, sort_keys=True)
    os.replace(temp, path)
    store.file_updated(manifest_id)
    return True


def subtree(tree: dict[str, Any], subpath: str) -> dict[str, Any]:
    for part in [p for p in subpath.split("/") if p]:
        tree = tree[part]
    return tree


# -- localize -----------------------------------------------------------------------------------
class Localizer:
    """Maps stored values to local ``file://`` ones in one process and remembers the way back.

    ``link_dir``: when given, stored files are hard-linked under it (needed when the caller
    moves them, e.g. into ``--outdir``); else the store's own path is used, read only.
    """

    def __init__(self, store: JobStore, work_dir: str, link_dir: str | None = None) -> None:
        self.store = store
        self.work_dir = work_dir
        self.link_dir = link_dir
        #: real local path -> stored location it came from
        self.back: dict[str, str] = {}
        #: directories rebuilt from the store: (local path, manifest ID, sub path)
        self.materialized: list[tuple[str, str, str]] = []
        #: stored location -> checksum, of the inputs that came with one
        self.checksums: dict[str, str] = {}
        self._linked: dict[tuple[str, str], str] = {}

    def localize(self, value: Any) -> Any:
        return map_values(value, self._localize_obj)

    def record_in_place_changes(self) -> None:
        """A tool that updates its inputs in place (InplaceUpdateRequirement) may have
        changed the stored files it was given: the store records their new checksums."""
        for location in set(self.back.values()):
            if location.startswith(FILE_SCHEME):
                self.store.file_updated(file_id_of(location))

    def _localize_obj(self, obj: dict[str, Any]) -> dict[str, Any]:
        check_name(obj)
        obj = dict(obj)
        loc = str(obj.get("location", ""))
        if obj["class"] == "File":
            if loc.startswith(FILE_SCHEME):
                if obj.get("checksum"):
                    self.checksums[loc] = str(obj["checksum"])
                path = self._file_path(file_id_of(loc), str(obj.get("basename") or "file"))
                obj["location"], obj["path"] = file_uri(path), path
            if obj.get("secondaryFiles"):
                obj["secondaryFiles"] = [self._localize_obj(s) for s in obj["secondaryFiles"]]
            return obj
        if loc.startswith(DIR_SCHEME):
            path = self._materialize(loc, str(obj.get("basename") or "dir"))
            obj["location"], obj["path"] = file_uri(path), path
            if "listing" in obj:
                obj["listing"] = [self._localize_entry(e, path) for e in obj["listing"]]
        elif "listing" in obj:
            obj["listing"] = [self._localize_obj(e) for e in obj["listing"]]
        return obj

    def _localize_entry(self, entry: dict[str, Any], parent: str) -> dict[str, Any]:
        """A listing entry of a materialized directory: it lies inside ``parent``."""
        check_name(entry)
        entry = dict(entry)
        path = os.path.join(parent, str(entry.get("basename")))
        if os.path.lexists(path):
            entry["location"], entry["path"] = file_uri(path), path
            if "listing" in entry:
                entry["listing"] = [self._localize_entry(e, path) for e in entry["listing"]]
            if entry.get("secondaryFiles"):
                entry["secondaryFiles"] = [self._localize_obj(s) for s in entry["secondaryFiles"]]
            return entry
        return self._localize_obj(entry)

    def _file_path(self, file_id: str, basename: str) -> str:
        known = self._linked.get((file_id, basename))
        if known is not None:
            return known
        if self.link_dir is None:
            path = self.store.local_path(file_id)
            if path is not None:
                path = os.path.realpath(path)
                self.back[path] = file_location(file_id)
                return path
        target = os.path.join(self._fresh_dir(), basename)
        self.store.export_local(file_id, target)
        self.back[target] = file_location(file_id)
        self._linked[(file_id, basename)] = target
        return target

    def _fresh_dir(self) -> str:
        base = self.link_dir or self.work_dir
        os.makedirs(base, exist_ok=True)
        return tempfile.mkdtemp(prefix="f", dir=base)

    def _materialize(self, location: str, basename: str) -> str:
        manifest_id, sub = parse_dir_location(location)
        tree = subtree(read_manifest(self.store, manifest_id), sub)
        root = os.path.join(self._fresh_dir(), basename)
        self._build(tree, root, manifest_id, sub)
        self.materialized.append((root, manifest_id, sub))
        return root

    def _build(self, tree: dict[str, Any], path: str, manifest_id: str, sub: str) -> None:
        os.makedirs(path, exist_ok=True)
        self.back[os.path.realpath(path)] = dir_location(manifest_id, sub)
        for name, entry in tree.items():
            target = os.path.join(path, name)
            if isinstance(entry, dict):
                self._build(entry, target, manifest_id, f"{sub}/{name}" if sub else name)
            else:
                self.store.export_local(entry, target)
                self.back[os.path.realpath(target)] = file_location(entry)


def sha1_of(path: str) -> str:
    """CWL's ``checksum`` of a local file."""
    digest = hashlib.sha1()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return f"sha1${digest.hexdigest()}"


# -- globalize -----------------------------------------------------------------------------------
class Globalizer:
    """Puts the local files named by cwltool values into the store.

    ``owned``: directories whose files this job made and may give away (moved into the
    store); files elsewhere are hard-linked. ``back``: local path -> stored location, for
    files that came from the store (from a Localizer). ``checksums``: stored location ->
    checksum of files already known; with ``checksum``, a File without one gets it from
    there or, for a new file, from one read of it as it enters the store (so a file is
    hashed once in its life, not once per step). ``digests``: digests of local files
    remembered across runs (the call cache's), so an input file unchanged since an earlier
    run (same path, size, mtime and inode) is not read again to hash it.
    """

    def __init__(
        self,
        store: JobStore,
        back: dict[str, str] | None = None,
        owned: Iterable[str] = (),
        require_exists: bool = False,
        inputs: Iterable[str] = (),
        checksums: dict[str, str] | None = None,
        checksum: bool = False,
        digests: CallCache | None = None,
    ) -> None:
        self.store = store
        self.digests = digests
        self.back = back if back is not None else {}  # shared with the Localizer
        self.owned = [os.path.realpath(p) + os.sep for p in owned]
        self.require_exists = require_exists
        #: local inputs of the job (files or directories): links to them are allowed
        self.inputs = {os.path.realpath(p) for p in inputs}
        self.checksums = checksums if checksums is not None else {}
        self.checksum = checksum

    def globalize(self, value: Any) -> Any:
        return map_values(value, self._globalize_obj)

    def _globalize_obj(self, obj: dict[str, Any]) -> dict[str, Any]:
        check_name(obj)
        obj = dict(obj)
        loc = str(obj.get("location") or "")
        path = local_path_of(loc) if loc else obj.get("path")
        if path is not None and not is_stored(loc):
            if obj["class"] == "File" and self._passed_as_is(path):
                obj["location"] = file_uri(path)
            elif obj["class"] == "File":
                obj["location"] = self._store_file(
                    path, str(obj.get("basename") or ""), obj.get("checksum")
                )
            else:
                obj["location"] = self._store_dir(path)
        elif loc.startswith(_FETCHED) and self.require_exists:
            obj["location"] = self._fetch(loc)
        for key in _LOCAL_KEYS:
            obj.pop(key, None)
        if self.checksum and obj["class"] == "File" and "checksum" not in obj:
            known = self.checksums.get(str(obj.get("location")))
            if known:
                obj["checksum"] = known
        if obj.get("secondaryFiles"):
            obj["secondaryFiles"] = [self._globalize_obj(s) for s in obj["secondaryFiles"]]
        if "listing" in obj:
            obj["listing"] = [self._globalize_obj(e) for e in obj["listing"]]
        return obj

    def _passed_as_is(self, path: str) -> bool:
        """A FIFO or device named by the inputs (not one a job made) stays where it is."""
        return not self._owned(os.path.abspath(path)) and is_special_file(path)

    def _owned(self, path: str) -> bool:
        return any(path.startswith(root) for root in self.owned)

    def _check_link(self, path: str, real: str) -> None:
        """A link the job made must point into its own directories or to its inputs."""
        if real == os.path.abspath(path) or not self._owned(os.path.abspath(path)):
            return
        if self._owned(real + os.sep) or real in self.back:
            return
        parts = real.split(os.sep)
        for i in range(len(parts), 1, -1):
            if os.sep.join(parts[:i]) in self.inputs:
                return
        raise MissingInput(
            f"{path} is a symbolic link to {real}, outside the tool's directories and its "
            "inputs; refusing it"
        )

    def _store_file(self, path: str, basename: str, checksum: str | None = None) -> str:
        real = os.path.realpath(path)
        known = self.back.get(real)
        if known is not None:
            return known
        if not os.path.isfile(real):
            raise MissingInput(f"file not found: {path}")
        self._check_link(path, real)
        move = self._owned(path) and not os.path.islink(path) and self._owned(real)
        # the store takes only a digest computed here from the bytes (one given with the
        # value may be anyone's claim): then it need not hash the file a second time
        computed = sha1_of(real) if self.checksum and not checksum else None
        if computed is None and self.digests is not None:
            computed = self.digests.known_digest(real)
            if computed is None:
                computed = sha1_of(real)
                self.digests.remember_digest(real, computed)
        digest = (checksum or computed) if self.checksum else None
        file_id = self.store.import_local(
            real, move=move, basename=basename or None, digest=computed
        )
        loc = file_location(file_id)
        self.back[real] = loc
        if digest:
            self.checksums[loc] = digest
        return loc

    def _store_dir(self, path: str) -> str:
        real = os.path.realpath(path)
        known = self.back.get(real)
        if known is not None:
            return known
        if not os.path.isdir(real):
            raise MissingInput(f"directory not found: {path}")
        tree, subdirs = self._import_tree(path)
        manifest_id = write_manifest(self.store, tree)
        loc = dir_location(manifest_id)
        self.back[real] = loc
        for sub_real, sub in subdirs:
            self.back.setdefault(sub_real, dir_location(manifest_id, sub))
        return loc

    def sync_in_place(self, materialized: list[tuple[str, str, str]]) -> None:
        """Store what a tool changed in directories it updated in place."""
        for path, manifest_id, sub in materialized:
            tree, _ = self._import_tree(path)
            rewrite_manifest(self.store, manifest_id, sub, tree)

    def _import_tree(self, root: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Import every file below ``root``; the manifest tree and the subdirectories."""
        tree: dict[str, Any] = {}
        subdirs: list[tuple[str, str]] = []
        stack: list[tuple[str, dict[str, Any], str]] = [(root, tree, "")]
        while stack:
            path, node, sub = stack.pop()
            for entry in sorted(os.scandir(path), key=lambda e: e.name):
                rel = f"{sub}/{entry.name}" if sub else entry.name
                if entry.is_dir():  # follows symlinks, as cwltool's listing does
                    child: dict[str, Any] = {}
                    node[entry.name] = child
                    subdirs.append((os.path.realpath(entry.path), rel))
                    stack.append((entry.path, child, rel))
                elif entry.is_file():
                    loc = self._store_file(entry.path, entry.name)
                    node[entry.name] = file_id_of(loc) if loc.startswith(FILE_SCHEME) else loc
        return tree, subdirs

    def _fetch(self, url: str) -> str:
        from backends.errors import JobStoreError
        from runner.jobenv.filestore import import_url

        try:
            return file_location(import_url(self.store, url))
        except (OSError, JobStoreError) as exc:
            raise MissingInput(f"cannot fetch {url}: {exc}") from None
