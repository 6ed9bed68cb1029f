"""Which files a WDL value may name: outputs never come from outside the run.

**In a task** (its worker), an output ``File``/``Directory`` and the argument of a standard
library function (``read_*``, ``size``, ...) may name only

- a path under the task's working directory (``work/``), symlinks resolved;
- one of the task's input files (a symlink the command made to one resolves to it), or a path
  inside an input ``Directory``;
- a file its own ``write_*`` calls made, and its ``stdout()``/``stderr()``.

Anything else (``/etc/passwd``, ``../x``, a symlink the command made that points elsewhere,
even one that dangles) is refused with ``PathNotAllowed`` naming the path, as miniwdl does
(``TaskContainer.host_path``). A task in a container sees its directory at the same path inside
(languages.wdl.containers), so a container path is a host path and the same rule holds: a path
the container could not see is refused like any other, never read from the host.

**In the workflow** (the leader), a file is a job-store reference, a URL, or a local path. A
local path (or a ``file:`` URI) is allowed only if the user gave it as an input that stays in
place (``--referenceInputs``, a ``Directory``) or lies inside such a ``Directory``; miniwdl's
rule for a workflow output ``File f = "/etc/passwd"`` is the same. The root node records those
paths in the job store (``INPUT_PATHS``) so that a restarted leader knows them too.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from WDL import Type, Value

from languages.wdl.fetch import UrlFetcher
from languages.wdl.values import detach, iter_files, parse_ref
from runner.engine import names
from runner.errors import PermanentJobError
from runner.jobenv.filestore import FileStore
from runner.userinput.fileuri import InvalidFileUri, file_uri_path, is_file_uri

#: the job-store blob that lists the local input paths of a run (JSON)
INPUT_PATHS = names.language_blob("wdl", "input-paths")

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class PathNotAllowed(PermanentJobError):
    """A WDL value names a local path outside what the task or run may read."""


def is_url(text: str) -> bool:
    """Whether ``text`` is a URL other than ``file:`` (``http://``, ``s3://``, ...)."""
    return bool(_URL.match(text)) and not is_file_uri(text)


def within(path: str, base: str) -> bool:
    """Whether ``path`` is ``base`` or below it (both absolute, normalised)."""
    return path == base or path.startswith(base.rstrip("/") + "/")


# -- tasks --------------------------------------------------------------------------------------
class TaskPaths:
    """The files one task may name. ``inputs`` maps the local path of each input (file or
    directory) to the value it came from (the stager's map, filled while inputs are staged)."""

    def __init__(self, task_dir: str, work_dir: str, inputs: Mapping[str, str]) -> None:
        self.task_dir = task_dir
        self.work_dir = work_dir
        self.inputs = inputs
        #: files the task's write_* calls made (real paths)
        self.written: set[str] = set()
        self.streams = frozenset(os.path.join(task_dir, n) for n in ("stdout.txt", "stderr.txt"))
        self._real: tuple[int, frozenset[str], tuple[str, ...]] | None = None

    def resolve(self, path: str, *, directory: bool = False) -> str | None:
        """The local path of the File (or Directory) value ``path`` of this task: relative
        paths are under the working directory. None if nothing of that kind is there.
        Raises PathNotAllowed for a path outside what the task may name."""
        if is_file_uri(path):
            try:
                path = file_uri_path(path)
            except InvalidFileUri as exc:
                raise PathNotAllowed(str(exc)) from None
        local = path if os.path.isabs(path) else os.path.join(self.work_dir, path)
        if local in self.inputs:
            return local if _is_kind(local, directory) else None
        local = os.path.normpath(local)
        real = os.path.realpath(local)
        if not self._allowed(real):
            shown = path if path == local else f"{path} ({real})"
            if real != os.path.abspath(local):
                raise PathNotAllowed(
                    f"{shown}: a symlink to a file outside the task's working directory that "
                    "is not one of its inputs"
                )
            raise PathNotAllowed(
                f"{shown} is outside the task's working directory and is not one of its inputs"
            )
        if not _is_kind(real, directory):
            if os.path.exists(real):
                kind = "directory" if os.path.isdir(real) else "not a regular file"
                raise PathNotAllowed(f"{path} is a {kind}, not a {_kind(directory)}")
            return None
        if directory:
            _check_links_inside(local, self._allowed)
        return local

    def _allowed(self, real: str) -> bool:
        if within(real, self.work_dir) or real in self.written or real in self.streams:
            return True
        files, dirs = self._input_reals()
        return real in files or any(within(real, d) for d in dirs)

    def _input_reals(self) -> tuple[frozenset[str], tuple[str, ...]]:
        """The real paths of the inputs (files, directories), computed when first needed and
        again when more inputs were staged since."""
        if self._real is None or self._real[0] != len(self.inputs):
            reals = {os.path.realpath(p) for p in self.inputs}
            dirs = tuple(p for p in reals if os.path.isdir(p))
            self._real = (len(self.inputs), frozenset(reals), dirs)
        return self._real[1], self._real[2]


def _is_kind(path: str, directory: bool) -> bool:
    return os.path.isdir(path) if directory else os.path.isfile(path)


def _kind(directory: bool) -> str:
    return "directory" if directory else "file"


def _check_links_inside(root: str, allowed: Callable[[str], bool]) -> None:
    """Refuse a Directory holding a symlink that leads outside it and outside ``allowed``."""
    real_root = os.path.realpath(root)
    for where, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            entry = os.path.join(where, name)
            if os.path.islink(entry):
                target = os.path.realpath(entry)
                if not within(target, real_root) and not allowed(target):
                    raise PathNotAllowed(
                        f"{root} holds a symlink {os.path.relpath(entry, root)} that points "
                        f"outside the task's working directory: {os.readlink(entry)}"
                    )


# -- workflows ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputPaths:
    """The local paths a run's user gave as inputs that stay in place."""

    files: frozenset[str] = frozenset()
    dirs: tuple[str, ...] = ()

    def allows(self, path: str) -> bool:
        """Whether a workflow value may name the local ``path``."""
        if path in self.files or path in self.dirs:
            return True
        real = os.path.realpath(path)
        return real in self.files or any(
            within(real, d) or within(real, os.path.realpath(d)) for d in self.dirs
        )

    @staticmethod
    def of(values: Iterable[Value.Base]) -> InputPaths:
        """The local paths inside ``values`` (inputs as imported: references aside)."""
        files: set[str] = set()
        dirs: set[str] = set()
        for value in values:
            for f in iter_files(value):
                text = str(f.value)
                if parse_ref(text) is None and not is_url(text):
                    path = os.path.abspath(text)
                    if isinstance(f, Value.Directory):
                        dirs.add(path)
                    else:
                        files.update((path, os.path.realpath(path)))
        return InputPaths(frozenset(files), tuple(sorted(dirs)))


_known: dict[str, InputPaths] = {}
_known_lock = threading.Lock()


def record_input_paths(file_store: FileStore, paths: InputPaths) -> None:
    """Keep the run's in-place input paths in its job store (the root node does this)."""
    if paths.files or paths.dirs:
        data = {"files": sorted(paths.files), "dirs": list(paths.dirs)}
        file_store.store.write_shared(INPUT_PATHS, json.dumps(data).encode())
    with _known_lock:
        _known[file_store.store.locator] = paths


def input_paths(file_store: FileStore) -> InputPaths:
    """The run's in-place input paths (read from the job store once per process)."""
    locator = file_store.store.locator
    with _known_lock:
        known = _known.get(locator)
    if known is not None:
        return known
    store = file_store.store
    known = InputPaths()
    if store.shared_exists(INPUT_PATHS):
        data = json.loads(store.read_shared(INPUT_PATHS))
        known = InputPaths(frozenset(data["files"]), tuple(data["dirs"]))
    with _known_lock:
        _known[locator] = known
    return known


def workflow_path(text: str, paths: InputPaths, what: str) -> str:
    """A local path (or ``file:`` URI) named by a workflow value, as a path; PathNotAllowed
    unless ``paths`` allows it."""
    try:
        path = file_uri_path(text) if is_file_uri(text) else text
    except InvalidFileUri as exc:
        raise PathNotAllowed(f"{what}: {exc}") from None
    if not os.path.isabs(path) or not paths.allows(path):
        raise PathNotAllowed(
            f"{what}: {text} is a path on this host that is not an input of the run (a "
            "workflow may name only its inputs, the files its tasks made, and URLs)"
        )
    return path


def confine_workflow_value(
    value: Value.Base,
    file_store: FileStore,
    what: str,
    *,
    want: Type.Base | None = None,
    fetcher: UrlFetcher | None = None,
) -> Value.Base:
    """``value`` (a workflow declaration, call input or output named by ``what``) with every
    local path checked (``workflow_path``; PathNotAllowed) and ``file:`` URIs made paths.
    With ``fetcher`` (outputs), URLs are fetched into the job store: a URL with no file is
    null, and an error (FetchFailed) if ``want`` does not allow null there. A value without
    local paths or URLs comes back as it is (no copy)."""
    if not any(_needs_check(str(f.value), fetcher is not None) for f in iter_files(value)):
        return value
    missing: list[str] = []

    def one(f: Value.File | Value.Directory) -> str | None:
        text = str(f.value)
        if parse_ref(text) is not None:
            return text
        if not is_url(text):
            return workflow_path(text, input_paths(file_store), what)
        if fetcher is None:
            return text
        got = fetcher.get(text, what)
        if got is None:
            missing.append(text)
        return got

    out = Value.rewrite_paths(value, one)
    if missing and want is not None:
        assert fetcher is not None
        try:
            out = out.coerce(want)
        except Exception:  # noqa: BLE001 (miniwdl's null errors vary; the URL is the cause)
            raise fetcher.missing(missing[0], what) from None
    return detach(out)


def _needs_check(text: str, fetch: bool) -> bool:
    return parse_ref(text) is None and (fetch or not is_url(text))
