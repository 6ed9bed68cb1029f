"""The call-cache key of a CommandLineTool node, and its outputs in the cache's form.

The key's parts (``runner.cache.keys``):

- ``command``: baseCommand, arguments, stdin/stdout/stderr, shellQuote of the tool as
  loaded (schema-salad's normal form: comments, layout and key order do not count);
- ``tool definition``: the rest of the tool (inputs, outputs, their bindings), with the
  document's directory taken out of IDs so that moving a checkout changes nothing;
- ``requirements``: the requirements and hints in force (inherited ones included) but the
  container's;
- ``container image``: the image's ID as the engine holds it (a tag moved to another
  digest is a change), or ``none`` when tools run on the host;
- ``input NAME``: the value, every File and Directory in it by content (the job store's
  sha1 of each file, recorded when it entered the store), never by location;
- ``environment``: the values of variables passed through ``--preserve-environment``;
- ``resources``: cores and memory, for a tool whose text reads ``runtime.``.

A tool is never reused when it asks not to be (``WorkReuse: enableReuse: false``), when it
updates its inputs in place, or when the run has secret inputs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from languages.cwl.files import (
    DIR_SCHEME,
    FILE_SCHEME,
    dir_location,
    file_id_of,
    file_location,
    map_values,
    parse_dir_location,
    read_manifest,
    subtree,
    write_manifest,
)
from languages.cwl.load import ProcRef, resolve
from runner.cache.keys import Blob, CacheKey, digest_of
from runner.errors import MoilError
from runner.jobenv import secrets

if TYPE_CHECKING:
    from backends.batch.base import Resources
    from backends.jobstore.base import JobStore
    from runner.config.runconfig import RunConfig

KEYER_PATH = "languages.cwl.cachekey:KEYER"
_COMMAND_FIELDS = ("baseCommand", "arguments", "stdin", "stdout", "stderr", "shellQuote")
_BLOB = "moilcache:"
_LOCAL_FIELDS = ("location", "path", "dirname", "checksum", "size")


class NotCacheable(MoilError):
    """A value that cannot be identified by content (a file not in the job store)."""


class CwlKeyer:
    """``runner.cache.keys.Keyer`` of ``languages.cwl.tool`` nodes."""

    def __init__(self) -> None:
        self._tools: dict[ProcRef, dict[str, Any] | None] = {}
        self._images: dict[tuple[str | None, str], str | None] = {}
        self._recorded_bytes: bytes | None = None
        self._recorded_tools: dict[str, dict[str, Any]] = {}

    def key(
        self,
        store: JobStore,
        payload: Any,
        resources: Resources,
        config: RunConfig,
        recorded: bytes | None = None,
    ) -> CacheKey | None:
        ref: ProcRef = payload["tool"]
        tool = (
            self._tool_parts(ref)
            if recorded is None
            else self._recorded(recorded).get(_ref_key(ref))
        )
        if tool is None or secrets.values():
            return None
        parts: dict[str, Any] = {k: v for k, v in tool.items() if not k.startswith("_")}
        image, final = self._image(ref, config)
        parts["container image"] = image
        try:
            for name, value in payload["inputs"].items():
                parts[f"input {name}"] = content_of(store, value)
        except NotCacheable:
            return None
        settings = _settings(config)
        if settings is not None:
            names = (
                sorted(os.environ)
                if settings.preserve_entire_environment
                else sorted(settings.preserve_environment)
            )
            if names:
                parts["environment"] = {n: os.environ.get(n) for n in names}
        if tool["_reads_runtime"]:
            parts["resources"] = [resources.cores, resources.memory]
        index = payload.get("index")
        steps = [s.rsplit("#", 1)[-1].rsplit("/", 1)[-1] for s in ref.steps]
        label = "/".join(steps) or ref.label
        if index is not None:
            label += f"[{index}]"
        name = json.dumps([ref.uri, list(ref.steps), index])
        return CacheKey.of(name, label, parts, final)

    def _recorded(self, recorded: bytes) -> dict[str, dict[str, Any]]:
        """The tools' parts in ``definitions``' record (read once per record)."""
        if self._recorded_bytes != recorded:
            data = json.loads(recorded)
            self._recorded_tools = dict(data.get("tools") or {})
            self._recorded_bytes = recorded
        return self._recorded_tools

    def _tool_parts(self, ref: ProcRef) -> dict[str, Any] | None:
        if ref in self._tools:
            return self._tools[ref]
        process = resolve(ref)
        parts: dict[str, Any] | None = None
        if _reusable(process):
            base = ref.uri.rsplit("/", 1)[0] + "/"
            tool = _relative(dict(process.tool), base)
            reqs = [
                _relative(dict(r), base)
                for r in [*process.requirements, *process.hints]
                if r.get("class") != "DockerRequirement"
            ]
            for key in ("requirements", "hints"):
                tool.pop(key, None)
            command = {k: tool.pop(k, None) for k in _COMMAND_FIELDS}
            text = json.dumps([tool, command, reqs], default=str)
            # digests, computed once per tool: a key is made per job
            parts = {
                "command": digest_of(command),
                "tool definition": digest_of(tool),
                "requirements": digest_of(reqs),
                "_reads_runtime": "runtime." in text,
            }
        self._tools[ref] = parts
        return parts

    def _image(self, ref: ProcRef, config: RunConfig) -> tuple[str, bool]:
        """The container image part and whether it is known for sure."""
        from languages.cwl.containers import default_container, engine_kind, usable_engine

        settings = _settings(config)
        if settings is None:
            return "none", True
        process = resolve(ref)
        req = process.get_requirement("DockerRequirement")[0]
        kind = engine_kind(settings)
        image = None
        if req is not None and kind is not None:
            image = req.get("dockerPull") or req.get("dockerImageId")
            if image is None:
                return json.dumps(
                    _relative(dict(req), ref.uri.rsplit("/", 1)[0] + "/"),
                    sort_keys=True,
                    default=str,
                ), True
        elif kind is not None:
            image = default_container(settings)
        if image is None:
            return "none", True
        memo = (kind, str(image))
        if memo not in self._images or self._images[memo] is None:
            engine = usable_engine(kind)
            self._images[memo] = None if engine is None else engine.image_id(str(image))
        found = self._images[memo]
        return (f"{image}@{found}", True) if found else (f"{image} (not here yet)", False)

    def pack(self, store: JobStore, value: Any) -> tuple[Any, list[Blob]] | None:
        blobs: dict[str, Blob] = {}
        try:
            portable = map_values(value, lambda obj: _pack_obj(store, obj, blobs))
        except NotCacheable:
            return None
        return portable, list(blobs.values())

    def unpack(self, store: JobStore, portable: Any, paths: Mapping[str, str]) -> Any:
        made: dict[str, str] = {}
        return map_values(portable, lambda obj: _unpack_obj(store, obj, paths, made))


#: one per process: it remembers tools and images
KEYER = CwlKeyer()


def _ref_key(ref: ProcRef) -> str:
    return json.dumps([ref.uri, list(ref.steps)])


def definitions(ref: ProcRef) -> bytes:
    """The record of the document under ``ref`` that ``Run.start`` keeps: every process
    reachable through steps by a digest of its definition (any change of one is an edit),
    and each reusable tool's key parts (the ``recorded`` its old jobs' keys are made of)."""
    from languages.cwl.load import tool_class

    processes: dict[str, str] = {}
    tools: dict[str, dict[str, Any]] = {}
    base = ref.uri.rsplit("/", 1)[0] + "/"
    stack = [ref]
    while stack:
        current = stack.pop()
        process = resolve(current)
        name = _ref_key(current)
        processes[name] = digest_of(_relative(dict(process.tool), base))
        kind = tool_class(process)
        if kind == "Workflow":
            stack.extend(current.step(step.id) for step in getattr(process, "steps", ()))
        elif kind == "CommandLineTool":
            parts = KEYER._tool_parts(current)
            if parts is not None:
                tools[name] = parts
    data = {"format": 1, "processes": processes, "tools": tools}
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _settings(config: RunConfig) -> Any:
    from languages.cwl.settings import CwlSettings

    return config.frontend if isinstance(config.frontend, CwlSettings) else None


def _reusable(process: Any) -> bool:
    reuse = process.get_requirement("WorkReuse")[0]
    if reuse is not None and reuse.get("enableReuse") is False:
        return False
    inplace = process.get_requirement("InplaceUpdateRequirement")[0]
    if inplace is not None and inplace.get("inplaceUpdate"):
        return False
    return not any(
        "Secrets" in str(r.get("class")) for r in [*process.requirements, *process.hints]
    )


#: the IDs schema-salad makes up for processes that have none (an inline ``run:``): new
#: ones at each load
_BLANK_ID = re.compile(r"_:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _relative(value: Any, base: str) -> Any:
    """``value`` with the document's directory ``base`` taken out of every string, and
    made-up IDs left out."""
    if isinstance(value, str):
        return _BLANK_ID.sub("_:", value.replace(base, ""))
    if isinstance(value, Mapping):
        return {str(k): _relative(v, base) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_relative(v, base) for v in value]
    return value


# -- keys: values by content ---------------------------------------------------------------
def content_of(store: JobStore, value: Any) -> Any:
    """``value`` with every File and Directory named by its content, not its location."""
    return map_values(value, lambda obj: _content_obj(store, obj))


def _content_obj(store: JobStore, obj: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k not in _LOCAL_FIELDS}
    loc = str(obj.get("location") or "")
    if loc.startswith(FILE_SCHEME):
        digest = store.file_digest(file_id_of(loc))
        if digest is None:
            raise NotCacheable(loc)
        out["content"] = digest
    elif loc.startswith(DIR_SCHEME):
        manifest, sub = parse_dir_location(loc)
        out["content"] = _tree_digests(store, subtree(read_manifest(store, manifest), sub))
    elif loc and "contents" not in obj:
        raise NotCacheable(loc)
    for key in ("secondaryFiles", "listing"):
        if obj.get(key):
            out[key] = [_content_obj(store, e) for e in obj[key]]
    return out


def _tree_digests(store: JobStore, tree: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, entry in tree.items():
        if isinstance(entry, Mapping):
            out[name] = _tree_digests(store, entry)
        else:
            digest = store.file_digest(str(entry))
            if digest is None:
                raise NotCacheable(str(entry))
            out[name] = digest
    return out


# -- results to and from the cache --------------------------------------------------------
def _blob_of(store: JobStore, file_id: str, blobs: dict[str, Blob]) -> str:
    digest = store.file_digest(file_id)
    path = store.local_path(file_id)
    if digest is None or path is None:
        raise NotCacheable(file_id)
    blobs.setdefault(digest, Blob(digest, path))
    return digest


def _pack_tree(store: JobStore, tree: Mapping[str, Any], blobs: dict[str, Blob]) -> dict[str, Any]:
    return {
        name: _pack_tree(store, e, blobs)
        if isinstance(e, Mapping)
        else _blob_of(store, str(e), blobs)
        for name, e in tree.items()
    }


def _pack_obj(store: JobStore, obj: Mapping[str, Any], blobs: dict[str, Blob]) -> dict[str, Any]:
    out = dict(obj)
    loc = str(obj.get("location") or "")
    if loc.startswith(FILE_SCHEME):
        out["location"] = _BLOB + _blob_of(store, file_id_of(loc), blobs)
    elif loc.startswith(DIR_SCHEME):
        manifest, sub = parse_dir_location(loc)
        tree = _pack_tree(store, subtree(read_manifest(store, manifest), sub), blobs)
        out["location"] = _BLOB + "tree:" + json.dumps(tree, sort_keys=True)
    elif loc:
        raise NotCacheable(loc)
    for key in ("secondaryFiles", "listing"):
        if obj.get(key):
            out[key] = [_pack_obj(store, e, blobs) for e in obj[key]]
    return out


def _unpack_tree(
    store: JobStore,
    tree: Mapping[str, Any],
    paths: Mapping[str, str],
    made: dict[str, str],
    dirname: str = "",
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, entry in tree.items():
        if isinstance(entry, Mapping):
            out[name] = _unpack_tree(store, entry, paths, made)
        else:
            out[name] = file_id_of(_import_blob(store, str(entry), name, paths, made))
    return out


def _import_blob(
    store: JobStore, digest: str, basename: str, paths: Mapping[str, str], made: dict[str, str]
) -> str:
    """The ``moilfile:`` location of the cached file ``digest`` entered into ``store``."""
    memo = made.get(f"{digest}/{basename}")
    if memo is None:
        file_id = store.import_local(
            paths[digest], basename=basename or None, digest=digest, keep_source=False
        )
        memo = made[f"{digest}/{basename}"] = file_location(file_id)
    return memo


def _unpack_obj(
    store: JobStore, obj: Mapping[str, Any], paths: Mapping[str, str], made: dict[str, str]
) -> dict[str, Any]:
    out = dict(obj)
    loc = str(obj.get("location") or "")
    if loc.startswith(_BLOB + "tree:"):
        tree = json.loads(loc[len(_BLOB + "tree:") :])
        out["location"] = dir_location(
            write_manifest(store, _unpack_tree(store, tree, paths, made))
        )
    elif loc.startswith(_BLOB):
        basename = str(obj.get("basename") or "")
        out["location"] = _import_blob(store, loc[len(_BLOB) :], basename, paths, made)
    for key in ("secondaryFiles", "listing"):
        if obj.get(key):
            out[key] = [_unpack_obj(store, e, paths, made) for e in obj[key]]
    return out
