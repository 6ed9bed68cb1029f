"""``--provenance DIR``: the run as a Workflow Run RO-Crate (the Provenance Run Crate
profile, 0.5), for CWL, WDL and Python runs alike, written when the run ends.

What it holds, read from the store: the workflow document (copied into ``workflow/``), the
engine (moil, with its version) and its ``OrganizeAction``; the run of the workflow (a
``CreateAction``: its inputs as ``PropertyValue`` entities, its output files copied into
``outputs/``, start, end, status); for each step (job name) a ``HowToStep`` of the workflow
and the tool it runs (``SoftwareApplication``); for each attempt of a tool a ``CreateAction``
(start and end of its tools, status, exit code, the output files it made) orchestrated by a
``ControlAction`` of the engine.

Which tool made which output file: an exported output's stored file ID is searched for in
the results the tools returned (their journal ``ran`` events, as stored bytes, the ID as it
is or percent-encoded: nothing is unpickled); a file reaches the workflow's outputs only
through the result of the tool that wrote it, and the leader's own jobs (expressions,
scatter gathers) that pass it on are not tools.

Secrets never appear: the inputs come from the run-info blob (placeholders for secrets).
The person (``--orcid``, ``--full-name``; the login name with ``--enable-user-provenance``)
and the host (``--enable-host-provenance``) are named only when asked for.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import shutil
import socket
import time
import uuid
from typing import Any
from urllib.parse import quote

from backends.jobstore.base import JobStore
from runner.engine.runinfo import read_run_info
from runner.model import events
from runner.views.jobstats import JobStat, read_job_stats

PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": "Process Run Crate",
    "https://w3id.org/ro/wfrun/workflow/0.5": "Workflow Run Crate",
    "https://w3id.org/ro/wfrun/provenance/0.5": "Provenance Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}
LANGUAGES = {
    "cwl": (
        "https://w3id.org/workflowhub/workflow-ro-crate#cwl",
        "Common Workflow Language",
        "CWL",
        "https://www.commonwl.org/",
    ),
    "wdl": (
        "https://w3id.org/workflowhub/workflow-ro-crate#wdl",
        "Workflow Description Language",
        "WDL",
        "https://openwdl.org/",
    ),
    "python": (
        "https://w3id.org/workflowhub/workflow-ro-crate#python",
        "Python",
        "Python",
        "https://www.python.org/",
    ),
}
METADATA = "ro-crate-metadata.json"


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def _frag(name: str) -> str:
    """A step's name as an IRI fragment (a displayName may hold spaces)."""
    return quote(name, safe="/[]()-._~")


def _ref(entity_id: str) -> dict[str, str]:
    return {"@id": entity_id}


def producers(store: JobStore, files: dict[str, str], tools: set[str]) -> dict[str, str]:
    """For each output path in ``files`` (path -> stored file ID), the ID of the tool job
    whose returned result holds that file ID (see the module docstring)."""
    wanted = {
        path: (file_id.encode(), quote(file_id, safe="").encode())
        for path, file_id in files.items()
    }  # a reference may percent-encode the ID
    out: dict[str, str] = {}
    for event in events.decode_kind(store.read_records(), events.JobRan):
        job_id, value = event.job_id, event.value
        if job_id not in tools or not isinstance(value, bytes | bytearray):
            continue
        for path, keys in wanted.items():
            if path not in out and any(key in value for key in keys):
                out[path] = job_id
    return out


class CrateBuilder:
    """The crate's entities, built up one kind at a time (``build`` writes it)."""

    def __init__(self, store: JobStore, target: str, options: dict[str, Any]) -> None:
        self.store = store
        self.target = target
        self.options = options
        self.info = read_run_info(store)
        self.stats = read_job_stats(store)
        self.graph: dict[str, dict[str, Any]] = {}
        self.run_id = f"#run-{uuid.uuid4()}"

    def add(self, entity: dict[str, Any]) -> dict[str, Any]:
        self.graph[entity["@id"]] = entity
        return entity

    def build(self, state: str) -> str:
        """Write the crate into the target directory; its metadata file's path."""
        os.makedirs(self.target, exist_ok=True)
        root = self.add(
            {
                "@id": "./",
                "@type": "Dataset",
                "hasPart": [],
                "conformsTo": [_ref(p) for p in PROFILES],
                "datePublished": _iso(time.time()),
                "name": f"moil run of {self.info.get('workflow', 'a workflow')}",
                "license": _ref("https://spdx.org/licenses/CC-BY-4.0"),
                "description": "A workflow run recorded by moil: the Provenance Run Crate profile.",
            }
        )
        self.add(
            {
                "@id": METADATA,
                "@type": "CreativeWork",
                "about": _ref("./"),
                "conformsTo": [
                    _ref("https://w3id.org/ro/crate/1.1"),
                    _ref("https://w3id.org/workflowhub/workflow-ro-crate/1.0"),
                ],
            }
        )
        for uri, name in PROFILES.items():
            self.add(
                {
                    "@id": uri,
                    "@type": "CreativeWork",
                    "name": name,
                    "version": uri.rsplit("/", 1)[1],
                }
            )
        workflow = self._workflow(root)
        root["mainEntity"] = _ref(workflow)
        agent = self._agent()
        run = self._workflow_run(root, workflow, agent, state)
        self._engine(run, agent)
        root["mentions"] = [_ref(self.run_id)]
        path = os.path.join(self.target, METADATA)
        with open(path, "w", encoding="utf-8") as stream:
            json.dump(
                {
                    "@context": "https://w3id.org/ro/crate/1.1/context",
                    "@graph": list(self.graph.values()),
                },
                stream,
                indent=1,
            )
        return path

    def _workflow(self, root: dict[str, Any]) -> str:
        language = str(self.info.get("language", "python"))
        document = self.info.get("workflow")
        os.makedirs(os.path.join(self.target, "workflow"), exist_ok=True)
        name = os.path.basename(str(document)) if document else "workflow"
        entity_id = f"workflow/{name}"
        if document and os.path.isfile(str(document)):
            shutil.copyfile(str(document), os.path.join(self.target, entity_id))
        lang_id, lang_name, alt, url = LANGUAGES.get(language, LANGUAGES["python"])
        self.add(
            {
                "@id": lang_id,
                "@type": "ComputerLanguage",
                "name": lang_name,
                "alternateName": alt,
                "url": _ref(url),
            }
        )
        steps, tools = [], []
        for position, step in enumerate(sorted({s.group for s in self._tools()})):
            tool_id, step_id = f"#tool/{_frag(step)}", f"{entity_id}#{_frag(step)}"
            self.add({"@id": tool_id, "@type": "SoftwareApplication", "name": step})
            self.add(
                {
                    "@id": step_id,
                    "@type": "HowToStep",
                    "position": str(position),
                    "name": step,
                    "workExample": _ref(tool_id),
                }
            )
            steps.append(_ref(step_id))
            tools.append(_ref(tool_id))
        self.add(
            {
                "@id": entity_id,
                "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
                "name": name,
                "programmingLanguage": _ref(lang_id),
                "step": steps,
                "hasPart": tools,
                "input": [],
                "output": [],
            }
        )
        root["hasPart"].append(_ref(entity_id))
        return entity_id

    def _tools(self) -> list[JobStat]:
        return [s for s in self.stats if not s.local]

    def _agent(self) -> dict[str, str] | None:
        orcid, full_name = self.options.get("orcid"), self.options.get("full_name")
        if self.options.get("user_provenance") and not full_name:
            full_name = getpass.getuser()
        if not (orcid or full_name):
            return None
        person_id = (
            orcid
            if orcid and orcid.startswith("https://")
            else (f"https://orcid.org/{orcid}" if orcid else "#user")
        )
        self.add({"@id": person_id, "@type": "Person", "name": full_name or person_id})
        return _ref(person_id)

    def _workflow_run(
        self, root: dict[str, Any], workflow: str, agent: dict[str, str] | None, state: str
    ) -> dict[str, Any]:
        starts = [t for s in self.stats if (t := s.queued or s.start) is not None]
        ends = [s.end for s in self.stats if s.end is not None]
        objects = []
        for name, value in (self.info.get("inputs") or {}).items():
            pv = self.add(
                {
                    "@id": f"#input/{name}",
                    "@type": "PropertyValue",
                    "name": name,
                    "value": value if isinstance(value, str) else json.dumps(value),
                }
            )
            objects.append(_ref(pv["@id"]))
        results = self._output_files(root)
        run = self.add(
            {
                "@id": self.run_id,
                "@type": "CreateAction",
                "name": f"Run of {workflow}",
                "instrument": _ref(workflow),
                "object": objects,
                "result": [_ref(r) for r in results],
                "startTime": _iso(min(starts) if starts else self.info.get("started")),
                "endTime": _iso(max(ends) if ends else None),
                "actionStatus": _ref(
                    "http://schema.org/CompletedActionStatus"
                    if state == "succeeded"
                    else "http://schema.org/FailedActionStatus"
                ),
            }
        )
        if agent is not None:
            run["agent"] = agent
        return run

    def _output_files(self, root: dict[str, Any]) -> list[str]:
        files: dict[str, str] = self.info.get("output_files") or {}
        made = producers(self.store, files, {s.job_id for s in self._tools()})
        self.made_by: dict[str, list[str]] = {}
        out = []
        for path in sorted(files):
            if not os.path.isfile(path):
                continue
            base = os.path.commonpath(list(files)) if len(files) > 1 else os.path.dirname(path)
            rel = os.path.relpath(path, base)
            entity_id = f"outputs/{rel}"
            os.makedirs(os.path.dirname(os.path.join(self.target, entity_id)), exist_ok=True)
            shutil.copyfile(path, os.path.join(self.target, entity_id))
            self.add(
                {
                    "@id": entity_id,
                    "@type": "File",
                    "name": rel,
                    "contentSize": str(os.path.getsize(path)),
                }
            )
            root["hasPart"].append(_ref(entity_id))
            out.append(entity_id)
            if path in made:
                self.made_by.setdefault(made[path], []).append(entity_id)
        return out

    def _engine(self, run: dict[str, Any], agent: dict[str, str] | None) -> None:
        versions = self.info.get("versions") or {}
        engine = self.add(
            {
                "@id": "#moil",
                "@type": "SoftwareApplication",
                "name": "moil",
                "version": str(versions.get("moil", "")),
                "url": _ref("https://toil.readthedocs.io"),
            }
        )
        controls = []
        workflow = run["instrument"]["@id"]
        for s in self._tools():
            attempt = f"{s.job_id}-{s.attempt}"
            action_id, control_id = f"#action/{attempt}", f"#control/{attempt}"
            action = self.add(
                {
                    "@id": action_id,
                    "@type": "CreateAction",
                    "name": f"Run of {s.label}",
                    "instrument": _ref(f"#tool/{_frag(s.group)}"),
                    "startTime": _iso(s.tool_start or s.start),
                    "endTime": _iso(s.tool_end or s.end),
                    "actionStatus": _ref(
                        "http://schema.org/CompletedActionStatus"
                        if s.ok
                        else "http://schema.org/FailedActionStatus"
                    ),
                    "result": [_ref(f) for f in self.made_by.get(s.job_id, [])] if s.ok else [],
                }
            )
            if not s.ok:
                action["error"] = s.error or f"exit code {s.exit_code}"
            if s.exit_code is not None:
                action["exitCode"] = s.exit_code
            if agent is not None:
                action["agent"] = agent
            self.add(
                {
                    "@id": control_id,
                    "@type": "ControlAction",
                    "name": f"orchestrate {s.label}",
                    "instrument": _ref(f"{workflow}#{_frag(s.group)}"),
                    "object": _ref(action_id),
                }
            )
            controls.append(_ref(control_id))
        organize = self.add(
            {
                "@id": f"#organize-{uuid.uuid4()}",
                "@type": "OrganizeAction",
                "name": "Run of moil",
                "instrument": _ref(engine["@id"]),
                "object": controls,
                "result": _ref(self.run_id),
                "startTime": run["startTime"],
                "endTime": run["endTime"],
            }
        )
        if agent is not None:
            organize["agent"] = agent
        if self.options.get("host_provenance"):
            organize["description"] = f"on {socket.gethostname()} ({platform.platform()})"


def write_run_crate(store: JobStore, target: str, state: str, options: dict[str, Any]) -> str:
    """Write the crate of the run in ``store`` into ``target``; its metadata file's path.
    ``options``: ``orcid``, ``full_name``, ``user_provenance``, ``host_provenance``."""
    return CrateBuilder(store, target, options).build(state)
