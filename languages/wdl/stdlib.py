"""miniwdl's standard library with file functions over moil's file store.

- ``WorkflowLib``: expressions the leader evaluates (declarations, call inputs, scatter and
  ``if`` expressions, runtime resources). Files are references into the job store
  (``languages.wdl.values``); ``read_*`` reads the stored file in place when the store is
  local, ``write_*`` moves the new file into the store.
- ``TaskLib``: expressions of a task in its worker, where every file is a local path. Relative
  paths are relative to the task's working directory. With ``outputs=True`` it also has
  ``stdout()``, ``stderr()`` and ``glob()``.

Both read only what the run may read (``languages.wdl.confine``): a task its working
directory, its inputs and the files it wrote; the workflow its inputs, the files of the job
store and URLs. Any other path is an error naming it.
"""

from __future__ import annotations

import glob
import os
import tempfile
import threading
from typing import Any

from WDL import Error, StdLib, Type, Value

from languages.wdl.confine import TaskPaths, input_paths, is_url, workflow_path
from languages.wdl.values import FileRef, new_group, parse_ref
from runner.jobenv.filestore import FileStore


class WorkflowLib(StdLib.Base):
    """Evaluation in the leader: files live in the job store."""

    def __init__(self, wdl_version: str, file_store: FileStore) -> None:
        self.file_store = file_store
        write_dir = os.path.join(file_store.local_temp_dir, "write_")
        super().__init__(wdl_version, write_dir=write_dir)
        self._local: dict[str, str] = {}

    def _devirtualize_filename(self, filename: str) -> str:
        """A local path to read ``filename`` (a file reference, a local path or a URL)."""
        cached = self._local.get(filename)
        if cached is not None:
            return cached
        ref = parse_ref(filename)
        if ref is None and is_url(filename):
            file_id = self.file_store.import_url(filename)
            ref = FileRef(str(file_id), new_group(), os.path.basename(filename) or "download")
        if ref is None:
            local = workflow_path(filename, input_paths(self.file_store), "read_*() argument")
            if not os.path.exists(local):
                raise Error.InputError(f"file not found: {filename}")
            return local
        path = self.file_store.local_path(ref.file_id)
        if path is None:
            where = tempfile.mkdtemp(dir=self.file_store.local_temp_dir)
            path = self.file_store.read_file(ref.file_id, os.path.join(where, ref.basename))
        self._local[filename] = path
        return path

    def _virtualize_filename(self, filename: str) -> str:
        """Move a file a ``write_*`` function made into the store; its reference."""
        name = os.path.basename(filename)
        file_id = self.file_store.write_file(filename, move=True, basename=name)
        return FileRef(str(file_id), new_group(), name).uri()

    def _resolve_source_relative_path(self, filename: str) -> str:
        return filename


class TaskLib(StdLib.Base):
    """Evaluation inside a task's worker: files are local paths, and only those of
    ``paths`` (the task's directory, inputs and written files) can be read.

    Building a standard library costs about half a millisecond, so ``for_task`` keeps one per
    thread, WDL version and kind, and points it at each task's directories in turn."""

    def __init__(self, wdl_version: str, paths: TaskPaths, *, outputs: bool = False) -> None:
        super().__init__(wdl_version, write_dir=os.path.join(paths.task_dir, "write_"))
        self.paths = paths
        if outputs:
            self._add_output_functions()

    @classmethod
    def for_task(cls, wdl_version: str, paths: TaskPaths, *, outputs: bool = False) -> TaskLib:
        """A library for one task (reused from an earlier task of this thread)."""
        cache: dict[tuple[str, bool], TaskLib] = _libs.__dict__.setdefault("cache", {})
        lib = cache.get((wdl_version, outputs))
        if lib is None:
            lib = cache[(wdl_version, outputs)] = cls(wdl_version, paths, outputs=outputs)
        lib.paths = paths
        lib._write_dir = os.path.join(paths.task_dir, "write_")
        return lib

    @property
    def task_dir(self) -> str:
        return self.paths.task_dir

    @property
    def work_dir(self) -> str:
        return self.paths.work_dir

    def _devirtualize_filename(self, filename: str) -> str:
        path = self.paths.resolve(filename)
        if path is None:
            raise Error.InputError(f"file not found: {filename}")
        return path

    def _virtualize_filename(self, filename: str) -> str:
        self.paths.written.add(os.path.realpath(filename))
        return filename

    def _resolve_source_relative_path(self, filename: str) -> str:
        return filename

    def _join_paths_default_directory(self) -> str:
        return self.work_dir

    def _add_output_functions(self) -> None:
        def glob_fn(pattern: Value.Base) -> Value.Array:
            pat = pattern.coerce(Type.String()).value
            if not pat:
                raise Error.InputError("empty glob() pattern")
            if pat.startswith(("/", "..")) or "/.." in pat:
                raise Error.InputError(
                    f"glob() pattern {pat!r} must be relative to the task's working directory"
                )
            found = sorted(
                p for p in glob.glob(os.path.join(self.work_dir, pat)) if os.path.isfile(p)
            )
            return Value.Array(Type.File(), [Value.File(p) for p in found])

        def stream(name: str) -> Any:
            return lambda: Value.File(os.path.join(self.task_dir, name))

        self.stdout = StdLib.StaticFunction("stdout", [], Type.File(), stream("stdout.txt"))
        self.stderr = StdLib.StaticFunction("stderr", [], Type.File(), stream("stderr.txt"))
        self.glob = StdLib.StaticFunction("glob", [Type.String()], Type.Array(Type.File()), glob_fn)


_libs = threading.local()
