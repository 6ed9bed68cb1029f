"""Files in and out of a task's directory, by hard link and rename (never a copy of the bytes
on one filesystem).

``Stager`` turns the file references of a task's inputs into local paths: the files of one
group (one producing directory) land in one local directory, so sibling files stay siblings;
a name taken by another file of the group goes to a fresh directory. ``Collector`` turns the
local paths of a task's outputs back into references: a file the task made is moved into the
job store, an input file keeps its reference.
"""

from __future__ import annotations

import os

from WDL import Value

from languages.wdl.confine import is_url
from languages.wdl.values import FileRef, group_of_dir, new_group, parse_ref
from runner.jobenv.filestore import FileStore
from runner.userinput.fileuri import local_path


class Stager:
    """Local paths for input files, under ``root``."""

    def __init__(self, file_store: FileStore, root: str) -> None:
        self.file_store = file_store
        self.root = root
        self.group_dirs: dict[str, str] = {}
        self.placed: dict[str, str] = {}  # local path -> file ID placed there
        self.staged: dict[str, str] = {}  # reference -> local path
        #: local path -> the value it came from (to give outputs that are inputs their reference)
        self.origin: dict[str, str] = {}

    def stage_value(self, value: Value.Base) -> Value.Base:
        """``value`` with every file reference replaced by a local path."""
        return Value.rewrite_paths(value, lambda f: self.stage(f.value))

    def stage(self, text: str) -> str:
        """The local path of one file value (a reference, a URL, or a local path)."""
        if text in self.staged:
            return self.staged[text]
        ref = parse_ref(text)
        given = text
        if ref is None and is_url(text):
            file_id = self.file_store.import_url(text)
            ref = FileRef(
                str(file_id),
                group_of_dir(text.rsplit("/", 1)[0]),
                text.rsplit("/", 1)[-1] or "download",
            )
            given = ref.uri()  # an output that is this input names the fetched file
        if ref is None:
            # a local input read in place (the leader allowed it: languages.wdl.confine)
            path = local_path(text)
            self.origin[path] = text
            return path
        path = self._place(ref)
        self.staged[text] = path
        self.origin[path] = given
        return path

    def _place(self, ref: FileRef) -> str:
        directory = self.group_dirs.get(ref.group)
        if directory is None:
            directory = self.group_dirs[ref.group] = self._new_dir()
        dest = os.path.join(directory, ref.relpath)
        if dest in self.placed:
            if self.placed[dest] == ref.file_id:
                return dest
            dest = os.path.join(self._new_dir(), ref.relpath)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        self.file_store.read_file(ref.file_id, dest)
        self.placed[dest] = ref.file_id
        return dest

    def _new_dir(self) -> str:
        path = os.path.join(
            self.root, str(len(os.listdir(self.root)) if os.path.isdir(self.root) else 0)
        )
        os.makedirs(path)
        return path


class Collector:
    """File references for a task's output paths."""

    def __init__(
        self, file_store: FileStore, task_dir: str, work_dir: str, origin: dict[str, str]
    ) -> None:
        self.file_store = file_store
        self.task_dir = os.path.realpath(task_dir)
        self.work_dir = os.path.realpath(work_dir)
        self.origin = origin
        self.work_group = new_group()
        self.other_group = new_group()
        self.done: dict[str, str] = {}

    def collect_value(self, value: Value.Base) -> Value.Base:
        """``value`` with every local path replaced by a reference."""
        return Value.rewrite_paths(value, lambda f: self.collect(f.value))

    def collect(self, path: str) -> str:
        if parse_ref(path) is not None:  # an output URL, fetched into the store
            return path
        if path in self.origin:
            return self.origin[path]
        if path in self.done:
            return self.done[path]
        real = os.path.realpath(path)
        if real in self.origin and not os.path.islink(path):
            return self.origin[real]
        group, relpath = self._where(path)
        # a file the task made is moved; a link (or anything outside) is linked, not moved
        mine = not os.path.islink(path) and _within(real, self.task_dir)
        file_id = self.file_store.write_file(real, move=mine, basename=os.path.basename(relpath))
        ref = FileRef(str(file_id), group, relpath).uri()
        self.done[path] = ref
        return ref

    def _where(self, path: str) -> tuple[str, str]:
        """The group and relative path of an output: files under the working directory keep
        their layout; others stand alone."""
        absolute = os.path.abspath(path)
        for base, group in ((self.work_dir, self.work_group), (self.task_dir, self.other_group)):
            if _within(absolute, base):
                return group, os.path.relpath(absolute, base)
        return group_of_dir(os.path.dirname(absolute)), os.path.basename(absolute)


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")
