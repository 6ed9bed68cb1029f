"""``--provenance DIR``: a Workflow Run RO-Crate (Provenance Run Crate 0.5) of a CWL, a WDL
and a Python run, checked by tools written by others: ro-crate-py (``rocrate``) reads it
back, ``rocrate-validator`` (``roc-validator``) validates it against the
provenance-run-crate-0.5 profile, and ``runcrate report`` reports its actions. They live
in a venv of the tools cache (``tests/services/toolcache.py``), not in the project's:
runcrate pins an older cwl-utils than the one cwltool runs with here.

The validator runs offline against an HTTP cache seeded with the RO-Crate JSON-LD context
(``crate_cache_seed.py``): this machine cannot fetch w3id.org, and ro-crate-py's bundled
context (RO-Crate 1.3's, whose terms include 1.1's) answers for the 1.1 context URL.

The tests read back from the crate which tool made which output file, and that the
secret input of a CWL run appears nowhere in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.services import toolcache

CRATE_TOOLS = ("rocrate==0.16.0", "runcrate==0.6.2", "roc-validator==0.13.0")
SECRET = "s3cr3t-n0t-in-the-crate"

CWL = """\
cwlVersion: v1.2
class: Workflow
$namespaces: {cwltool: "http://commonwl.org/cwltool#"}
hints:
  cwltool:Secrets:
    secrets: [token]
inputs:
  word: string
  token: string
outputs:
  shout: {type: File, outputSource: upper/out}
  size: {type: File, outputSource: count/out}
steps:
  upper:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'echo "$0" | tr a-z A-Z']
      inputs: {w: {type: string, inputBinding: {position: 1}}, t: string}
      stdout: upper.txt
      outputs: {out: stdout}
    in: {w: word, t: token}
    out: [out]
  count:
    run:
      class: CommandLineTool
      baseCommand: [wc, -c]
      inputs: {f: {type: File, inputBinding: {position: 1}}}
      stdout: count.txt
      outputs: {out: stdout}
    in: {f: upper/out}
    out: [out]
"""
WDL = """\
version 1.0
workflow pair {
  input { String word }
  call shout { input: w = word }
  call measure { input: f = shout.out }
  output { File loud = shout.out
           File size = measure.out }
}
task shout {
  input { String w }
  command <<< echo "~{w}" | tr a-z A-Z > loud.txt >>>
  output { File out = "loud.txt" }
}
task measure {
  input { File f }
  command <<< wc -c < ~{f} > size.txt >>>
  output { File out = "size.txt" }
}
"""
READ_BACK = """
import json, sys
from rocrate.rocrate import ROCrate
crate = ROCrate(sys.argv[1])
def ids(value):
    value = value if isinstance(value, list) else [value] if value else []
    return [v.id if hasattr(v, "id") else v["@id"] for v in value]
made, kinds = {}, {}
for entity in crate.get_entities():
    types = entity.type if isinstance(entity.type, list) else [entity.type]
    for t in types:
        kinds[t] = kinds.get(t, 0) + 1
    if "CreateAction" in types and entity.id != crate.root_dataset["mentions"][0].id:
        tool = crate.get(ids(entity.get("instrument"))[0])
        for result in ids(entity.get("result")):
            made[result] = tool["name"]
language = crate.mainEntity["programmingLanguage"]
print(json.dumps({"made": made, "kinds": kinds, "language": language["alternateName"],
                  "main": crate.mainEntity.id}))
"""


@pytest.fixture(scope="session")
def crate_tools(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tools' venv and a seeded HTTP cache for the validator."""
    try:
        venv = toolcache.python_venv("crate-tools", CRATE_TOOLS)
    except toolcache.ToolUnavailable as exc:
        pytest.skip(f"rocrate, runcrate and roc-validator cannot be installed here: {exc}")
    cache = tmp_path_factory.mktemp("crate-cache") / "http"
    subprocess.run([str(venv / "bin" / "python"), str(Path(__file__).with_name(
        "crate_cache_seed.py")), str(cache)], check=True, timeout=120)
    return venv, cache


def check_crate(crate: Path, crate_tools: tuple[Path, Path]) -> dict[str, Any]:
    """Validate the crate with rocrate-validator and runcrate; what ro-crate-py reads."""
    tools, cache = crate_tools
    validated = subprocess.run(
        [str(tools / "bin" / "rocrate-validator"), "-y", "--disable-color", "validate",
         "--offline", "--cache-path", str(cache), "-p", "provenance-run-crate-0.5", "-l",
         "required", "-f", "json", str(crate)],
        capture_output=True, text=True, timeout=300, check=False)
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-2000:]
    verdict = json.loads(validated.stdout[validated.stdout.index("{"):])
    assert verdict["passed"] is True, verdict.get("issues")
    report = subprocess.run([str(tools / "bin" / "runcrate"), "report", str(crate)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert report.returncode == 0, report.stderr[-2000:]
    read = subprocess.run([str(tools / "bin" / "python"), "-c", READ_BACK, str(crate)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert read.returncode == 0, read.stderr[-2000:]
    found: dict[str, Any] = json.loads(read.stdout)
    found["report"] = report.stdout
    return found


def test_a_cwl_run_gives_a_provenance_run_crate(
        tmp_path: Path, crate_tools: tuple[Path, Path]) -> None:
    (tmp_path / "wf.cwl").write_text(CWL)
    (tmp_path / "job.yml").write_text(f"word: hello\ntoken: {SECRET}\n")
    crate = tmp_path / "crate"
    runner = Path(sys.executable).parent / "toil-cwl-runner"
    run = subprocess.run(
        [str(runner), "--provenance", str(crate), "--orcid", "0000-0002-1825-0097",
         "--full-name", "Josiah Carberry", "--enable-host-provenance",
         "--outdir", str(tmp_path / "out"), "wf.cwl", "job.yml"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stderr
    found = check_crate(crate, crate_tools)
    assert found["made"] == {"outputs/upper.txt": "wf.cwl/upper",
                             "outputs/count.txt": "wf.cwl/count"}, found
    assert found["language"] == "CWL" and found["main"] == "workflow/wf.cwl"
    assert (crate / "outputs/upper.txt").read_text() == "HELLO\n"
    metadata = (crate / "ro-crate-metadata.json").read_text()
    assert "Josiah Carberry" in metadata and "https://orcid.org/0000-0002-1825-0097" in metadata
    for path in crate.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_wdl_run_gives_a_provenance_run_crate(
        tmp_path: Path, crate_tools: tuple[Path, Path]) -> None:
    (tmp_path / "pair.wdl").write_text(WDL)
    (tmp_path / "in.json").write_text('{"pair.word": "hello"}')
    crate = tmp_path / "crate"
    runner = Path(sys.executable).parent / "toil-wdl-runner"
    run = subprocess.run(
        [str(runner), "--provenance", str(crate), "-o", str(tmp_path / "out"), "pair.wdl",
         "in.json"], capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stderr
    found = check_crate(crate, crate_tools)
    made = {Path(k).name: v for k, v in found["made"].items()}
    assert made == {"loud.txt": "shout", "size.txt": "measure"}, found
    assert found["language"] == "WDL"


def test_a_python_run_gives_a_provenance_run_crate(
        tmp_path: Path, crate_tools: tuple[Path, Path], cli: Any) -> None:
    store, work, crate = tmp_path / "store", tmp_path / "work", tmp_path / "crate"
    work.mkdir()
    result = cli.run(store, work, "stats", "--provenance", str(crate))
    assert result.returncode == 0, result.stderr
    found = check_crate(crate, crate_tools)
    assert found["language"] == "Python" and found["main"] == "workflow/visible.py"
    assert found["kinds"]["CreateAction"] == 1 + 9, "the run and each of its 9 jobs"
    assert found["kinds"]["ControlAction"] == 9
