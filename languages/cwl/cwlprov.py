"""``--provenance DIR`` of a CWL run: besides the Workflow Run RO-Crate
(``runner/engine/runcrate.py``), a CWLProv 0.6.0 research object, the BagIt bag cwltool's
``--provenance`` writes and PyPI's ``cwlprov`` tool reads.

It is built with cwltool's own provenance classes (``cwltool.cwlprov``: ``ResearchObject``
for the bag, its manifests, ``data/`` by SHA-1 and ``metadata/manifest.json``;
``ProvenanceProfile`` for the PROV document and its six serializations), so the layout, the
identifiers and the PROV terms are the ones cwlprov was written against, not a copy of them.
moil feeds them what the store recorded when the run ends, where cwltool records as it runs:

- the workflow run (``wfprov:WorkflowRun``), its start and end (the first job's queueing,
  the last job's end), the agent who ran it (``--orcid``, ``--full-name``,
  ``--enable-user-provenance``) and the host (``--enable-host-provenance``);
- the workflow as a plan with its steps (``wfdesc:hasSubProcess``), ``workflow/packed.cwl``
  and the documents it loads in ``snapshot/``;
- the inputs it used (``workflow/primary-job.json``, their files and values in ``data/``;
  secrets as their placeholders: the job order was hidden before anything stored it);
- each tool attempt as a ``wfprov:ProcessRun`` of its step, started and ended when its job
  was, generating the workflow output files it made (found as for the crate:
  ``runcrate.producers``) under the role of the step's output port (the workflow output's
  ``outputSource``); the workflow run generating its outputs (``primary-output.json``).

- the inputs of each step run whose source is a workflow input or a workflow output (the
  file ``upper`` made and ``count`` read is then one entity).

Not recorded: the other step inputs (a ``valueFrom``, a default, a scattered step's
elements, an intermediate file that is no workflow output: the store is not unpickled to
find them).

The bag is the directory itself: the RO-Crate's files (``ro-crate-metadata.json``,
``workflow/<document>``, ``outputs/``) sit beside the bag's tag files and are listed in
its tag manifests, so ``cwlprov validate`` (which checks every checksum) covers them too.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import quote, unquote, urlparse

from backends.jobstore.base import JobStore
from runner.engine.runcrate import METADATA, producers
from runner.engine.runinfo import read_run_info
from runner.views.jobstats import JobStat, read_job_stats

log = logging.getLogger(__name__)


def _when(t: float | None) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t) if t is not None else datetime.datetime.now()


def _path_of(location: str) -> str:
    parsed = urlparse(location)
    return unquote(parsed.path) if parsed.scheme == "file" else location


def _files(value: Any) -> Iterator[dict[str, Any]]:
    """The File objects in a CWL value (not those inside Directories or secondaryFiles)."""
    if isinstance(value, dict):
        if value.get("class") == "File":
            yield value
        elif "class" not in value:
            for item in value.values():
                yield from _files(item)
    elif isinstance(value, list):
        for item in value:
            yield from _files(item)


def _source(port: dict[str, Any], key: str) -> tuple[str, str] | None:
    """(the step, "" for the workflow itself; the port) of a port's one ``key`` source."""
    source = port.get(key)
    if isinstance(source, list):
        source = source[0] if len(source) == 1 else None
    if not isinstance(source, str) or "#" not in source:
        return None
    origin, _, name = source.split("#", 1)[1].rpartition("/")
    return origin.rsplit("/", 1)[-1], name


def _sources(process: Any) -> dict[str, tuple[str, str]]:
    """Workflow output name -> (step name, output port) of its single outputSource."""
    from cwltool.process import shortname

    out: dict[str, tuple[str, str]] = {}
    for port in process.tool.get("outputs", []):
        source = _source(port, "outputSource")
        if source is not None and source[0]:
            out[str(shortname(port["id"]))] = source
    return out


def _step_name(stat: JobStat) -> str:
    """The step a tool job ran, as cwltool names it under ``main/`` (the job's name is the
    document's file name and the step path)."""
    return stat.name.split("/", 1)[1] if "/" in stat.name else stat.name


def _replace(record: Any, attribute: Any, value: Any) -> None:
    # prov's records can only gain values; these two were set by ProvenanceProfile at
    # write time (cwltool's name and the wall clock), moil knows better ones
    record._attributes[attribute] = {value}


def _made_by_moil(target: str) -> bool:
    """Whether ``target`` holds a bag moil wrote (its bag-info names moil as the agent)."""
    try:
        with open(os.path.join(target, "bag-info.txt"), encoding="utf-8") as stream:
            return any(line.startswith("Bag-Software-Agent: moil ") for line in stream)
    except (OSError, UnicodeDecodeError):
        return False


def _forget_bag(target: str) -> None:
    """Delete the payload files of an earlier moil run's bag in ``target`` (those its
    manifests list, nothing else): left there, they would make the new bag invalid. A bag
    another tool made, or any other file, is never deleted (the new bag may then not
    validate: the caller warns)."""
    if not os.path.exists(os.path.join(target, "bag-info.txt")):
        return  # no earlier bag
    if not _made_by_moil(target):
        log.warning(
            "--provenance %s holds a bag another tool made: its files are left as they are, "
            "so the new research object may not validate; name an empty directory",
            target,
        )
        return
    root = os.path.realpath(target)
    for manifest in os.listdir(target):
        if not manifest.startswith("manifest-") or not manifest.endswith(".txt"):
            continue
        with open(os.path.join(target, manifest), encoding="utf-8") as stream:
            for line in stream:
                name = line.rstrip("\n").partition(" ")[2].strip()
                path = os.path.realpath(os.path.join(root, name))
                if (
                    name.startswith("data/")
                    and path.startswith(root + os.sep)
                    and os.path.isfile(path)
                ):
                    os.remove(path)


class CwlProvWriter:
    """What the CWL front end knows for the research object (``write`` builds it)."""

    def __init__(self, ref: Any, process: Any, job: dict[str, Any] | None) -> None:
        self.ref = ref
        self.process = process
        self.job = job
        self.outputs: dict[str, Any] | None = None

    def write(self, store: JobStore, target: str, state: str, options: dict[str, Any]) -> None:
        """Add the research object of the run in ``store`` to the crate in ``target``."""
        from cwltool.cwlprov.ro import ResearchObject
        from cwltool.cwlprov.writablebagfile import close_ro, create_job, packed_workflow
        from cwltool.stdfsaccess import StdFsAccess

        work = tempfile.mkdtemp(prefix=".cwlprov-", dir=target)
        try:
            fs = StdFsAccess("")
            orcid, full_name = options.get("orcid") or "", options.get("full_name") or ""
            ro = ResearchObject(
                fs, temp_prefix_ro=os.path.join(work, "ro-"), orcid=orcid, full_name=full_name
            )
            version = str((read_run_info(store).get("versions") or {}).get("moil", ""))
            ro.cwltool_version = f"moil {version}".strip()
            profile = ro.initialize_provenance(
                full_name=full_name,
                host_provenance=bool(options.get("host_provenance")),
                user_provenance=bool(options.get("user_provenance")),
                orcid=orcid,
                fsaccess=fs,
                run_uuid=ro.ro_uuid,
            )
            self._record(store, profile, ro.cwltool_version, state)
            if self.job is not None:
                create_job(ro, self.job)
            if self.outputs is not None:
                create_job(ro, self.outputs, True)
            packed_workflow(ro, self._packed())
            ro.generate_snapshot(self._dependencies())
            with warnings.catch_warnings():  # rdflib's N-Triples writer: "always UTF-8"
                warnings.simplefilter("ignore", UserWarning)
                profile.finalize_prov_profile(None)
            self._add_crate(ro, target)
            bag = os.path.join(work, "bag")
            close_ro(ro, bag)
            _forget_bag(target)
            shutil.copytree(bag, target, dirs_exist_ok=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _record(self, store: JobStore, profile: Any, engine: str, state: str) -> None:
        from prov.constants import PROV_ATTR_TIME, PROV_LABEL
        from prov.model import ProvStart

        doc, run = profile.document, profile.workflow_run_uri
        stats = [s for s in read_job_stats(store) if not s.local]
        starts = [t for s in stats if (t := s.queued or s.start) is not None]
        ends = [s.end for s in stats if s.end is not None]
        begun, ended = _when(min(starts) if starts else None), _when(max(ends) if ends else None)
        for record in doc.get_records():
            if (
                record.identifier is not None
                and str(record.identifier.uri) == profile.engine_uuid
                and record.get_attribute(PROV_LABEL)
            ):
                _replace(record, PROV_LABEL, engine)
            if isinstance(record, ProvStart):
                _replace(record, PROV_ATTR_TIME, begun)
            if record.identifier is not None and str(record.identifier.uri) == run:
                record.set_time(begun, None)
        self._plan(doc)
        if self.job is not None:
            profile.used_artefacts(self.job, run)
        made = self._made_by(store, stats)
        step_inputs = self._step_inputs()
        # a lone tool's run is the workflow run itself (as cwltool records it): no steps
        for stat in stats if hasattr(self.process, "steps") else []:
            step = quote(_step_name(stat), safe=":/,#")
            activity = profile.start_process(step, _when(stat.tool_start or stat.start))
            if step_inputs.get(_step_name(stat)):
                profile.used_artefacts(step_inputs[_step_name(stat)], activity, step)
            if stat.ok and made.get(stat.job_id):
                profile.generate_output_prov(made[stat.job_id], activity, step)
            doc.wasEndedBy(activity, None, run, _when(stat.tool_end or stat.end))
        if self.outputs is not None:
            profile.generate_output_prov(self.outputs, run, "primary")
        doc.wasEndedBy(run, None, profile.engine_uuid, ended)

    def _plan(self, doc: Any) -> None:
        from cwltool.cwlprov.provenance_constants import WFDESC
        from prov.model import PROV, PROV_TYPE

        kind = WFDESC["Workflow"] if hasattr(self.process, "steps") else WFDESC["Process"]
        doc.entity(
            "wf:main",
            {PROV_TYPE: kind, "prov:type": PROV["Plan"], "prov:label": "Prospective provenance"},
        )
        for step in getattr(self.process, "steps", []):
            name = quote("wf:main/" + str(step.id).split("#", 1)[-1], safe=":/,#")
            entity = doc.entity(name, {PROV_TYPE: WFDESC["Process"], "prov:type": PROV["Plan"]})
            doc.entity(
                "wf:main", {"wfdesc:hasSubProcess": entity, "prov:label": "Prospective provenance"}
            )

    def _step_inputs(self) -> dict[str, dict[str, Any]]:
        """Step name -> {its input port: the value it got}, for the inputs whose one source
        is a workflow input or a step output that is a workflow output (the values moil has
        without unpickling the store), taken as they are (no ``valueFrom``) by an
        unscattered step."""
        from cwltool.process import shortname

        inputs = {str(shortname(k)): v for k, v in (self.job or {}).items()}
        outputs = self.outputs or {}
        produced = {
            sources: outputs[name]
            for name, sources in _sources(self.process).items()
            if name in outputs
        }
        out: dict[str, dict[str, Any]] = {}
        for step in getattr(self.process, "steps", []):
            if step.tool.get("scatter"):
                continue
            name, got = str(step.id).split("#", 1)[-1], {}
            for port in step.tool.get("inputs", []):
                source = _source(port, "source")
                if source is None or "valueFrom" in port:
                    continue
                value = inputs.get(source[1]) if not source[0] else produced.get(source)
                if value is not None:
                    got[str(shortname(port["id"]))] = value
            out[name] = got
        return out

    def _made_by(self, store: JobStore, stats: list[JobStat]) -> dict[str, dict[str, Any]]:
        """Tool job ID -> {its step's output port: the output File it made}."""
        if not self.outputs:
            return {}
        files: dict[str, str] = read_run_info(store).get("output_files") or {}
        made = producers(store, files, {s.job_id for s in stats})
        sources = _sources(self.process)
        out: dict[str, dict[str, Any]] = {}
        for name, value in self.outputs.items():
            if name not in sources:
                continue
            for file in _files(value):
                job_id = made.get(_path_of(str(file.get("location", ""))))
                if job_id is not None:
                    out.setdefault(job_id, {})[sources[name][1]] = file
        return out

    def _packed(self) -> str:
        from cwltool.main import print_pack

        from languages.cwl.load import loading_context

        return print_pack(loading_context(self.ref.options), self.ref.uri.split("#")[0])

    def _dependencies(self) -> Any:
        from cwltool.main import prov_deps

        from languages.cwl.load import loading_context

        uri = self.ref.uri.split("#")[0]
        loader = loading_context(self.ref.options).loader
        assert loader is not None  # loading_context always makes one
        document, _ = loader.resolve_ref(uri)
        return prov_deps(cast(Any, document), loader, uri)

    @staticmethod
    def _add_crate(ro: Any, target: str) -> None:
        """Copy the RO-Crate's own files into the bag, as tag files."""
        with open(os.path.join(target, METADATA), encoding="utf-8") as stream:
            graph = json.load(stream)["@graph"]
        names = {METADATA} | {
            str(e["@id"])
            for e in graph
            if "://" not in str(e["@id"]) and not str(e["@id"]).startswith(("#", "./"))
        }
        for name in sorted(names):
            source = os.path.join(target, name.split("#", 1)[0])
            if not os.path.isfile(source):
                continue
            copy = os.path.join(ro.folder, os.path.relpath(source, target))
            if os.path.exists(copy):
                continue
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            shutil.copyfile(source, copy)
            ro.add_tagfile(copy)
