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

The CWL run's directory is also a CWLProv research object (``languages/cwl/cwlprov.py``):
PyPI's ``cwlprov`` (in a venv of its own in the tools cache, pinned) validates it, names
who ran it, and reads back which step's run generated which output file.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.services import toolcache

CRATE_TOOLS = ("rocrate==0.16.0", "runcrate==0.6.2", "roc-validator==0.13.0")
CWLPROV_TOOLS = ("cwlprov==0.2.1",)
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
PYTHON = """\
import os
from runner import Job, Toil


def write(job, text):
    path = os.path.join(job.tempDir, "made.txt")
    with open(path, "w") as stream:
        stream.write(text)
    return job.fileStore.writeGlobalFile(path)


def root(job):
    return job.addChildJobFn(write, "made by a job").rv()


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("out")
    options = parser.parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        toil.exportFile(toil.start(Job.wrapJobFn(root)), "file://" + os.path.abspath(options.out))
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
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            str(Path(__file__).with_name("crate_cache_seed.py")),
            str(cache),
        ],
        check=True,
        timeout=120,
    )
    return venv, cache


def check_crate(crate: Path, crate_tools: tuple[Path, Path]) -> dict[str, Any]:
    """Validate the crate with rocrate-validator and runcrate; what ro-crate-py reads."""
    tools, cache = crate_tools
    validated = subprocess.run(
        [
            str(tools / "bin" / "rocrate-validator"),
            "-y",
            "--disable-color",
            "validate",
            "--offline",
            "--cache-path",
            str(cache),
            "-p",
            "provenance-run-crate-0.5",
            "-l",
            "required",
            "-f",
            "json",
            str(crate),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-2000:]
    verdict = json.loads(validated.stdout[validated.stdout.index("{") :])
    assert verdict["passed"] is True, verdict.get("issues")
    report = subprocess.run(
        [str(tools / "bin" / "runcrate"), "report", str(crate)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    read = subprocess.run(
        [str(tools / "bin" / "python"), "-c", READ_BACK, str(crate)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert read.returncode == 0, read.stderr[-2000:]
    found: dict[str, Any] = json.loads(read.stdout)
    found["report"] = report.stdout
    return found


def run_cwl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``toil-cwl-runner ARGS`` in ``cwd`` (this test environment's), its output captured."""
    runner = Path(sys.executable).parent / "toil-cwl-runner"
    return subprocess.run(
        [str(runner), *args], capture_output=True, text=True, timeout=300, cwd=cwd, check=False
    )


@pytest.fixture(scope="module")
def cwl_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of a CWL run with --provenance (its --outdir is ``out`` beside it)."""
    tmp_path = tmp_path_factory.mktemp("cwl-run")
    (tmp_path / "wf.cwl").write_text(CWL)
    (tmp_path / "job.yml").write_text(f"word: hello\ntoken: {SECRET}\n")
    crate = tmp_path / "crate"
    run = run_cwl(
        tmp_path,
        "--provenance",
        str(crate),
        "--orcid",
        "0000-0002-1825-0097",
        "--full-name",
        "Josiah Carberry",
        "--enable-host-provenance",
        "--outdir",
        str(tmp_path / "out"),
        "wf.cwl",
        "job.yml",
    )
    assert run.returncode == 0, run.stderr
    assert "could not write" not in run.stderr, run.stderr
    return crate


def test_a_cwl_run_gives_a_provenance_run_crate(
    cwl_run: Path, crate_tools: tuple[Path, Path]
) -> None:
    crate = cwl_run
    found = check_crate(crate, crate_tools)
    assert found["made"] == {
        "outputs/upper.txt": "wf.cwl/upper",
        "outputs/count.txt": "wf.cwl/count",
    }, found
    assert found["language"] == "CWL" and found["main"] == "workflow/wf.cwl"
    assert (crate / "outputs/upper.txt").read_text() == "HELLO\n"
    metadata = (crate / "ro-crate-metadata.json").read_text()
    assert "Josiah Carberry" in metadata and "https://orcid.org/0000-0002-1825-0097" in metadata
    for path in crate.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def cwlprov(tool: Path, crate: Path, *args: str) -> str:
    """What ``cwlprov -d CRATE ARGS`` prints (asserting it exits 0)."""
    done = subprocess.run(
        [str(tool), "--no-hints", "-d", str(crate), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_a_cwl_run_gives_a_cwlprov_research_object(cwl_run: Path) -> None:
    try:
        venv = toolcache.python_venv("cwlprov-tools", CWLPROV_TOOLS)
    except toolcache.ToolUnavailable as exc:
        pytest.skip(f"cwlprov cannot be installed here: {exc}")
    tool, crate = venv / "bin" / "cwlprov", cwl_run
    assert "Valid CWLProv RO" in cwlprov(tool, crate, "validate")
    who = cwlprov(tool, crate, "who")
    assert "Josiah Carberry <https://orcid.org/0000-0002-1825-0097>" in who, who
    assert re.search(r"Packaged By: moil \d", who), who
    # which step's run generated which output file: the steps `cwlprov run` lists, the
    # outputs `cwlprov outputs STEP` names (by checksum) and the files in --outdir
    steps = re.findall(
        r"Step (\S+) +Run of workflow/packed\.cwl#(\S+)", cwlprov(tool, crate, "run")
    )
    made, used = {}, {}
    for step_id, step in steps:
        for checksum in re.findall(
            r"urn:hash::sha1:(\w+)", cwlprov(tool, crate, "outputs", step_id)
        ):
            made[checksum] = step
        used[step] = dict(
            re.findall(
                r"Input (\w+):\nurn:hash::sha1:(\w+)", cwlprov(tool, crate, "inputs", step_id)
            )
        )
    out = crate.parent / "out"
    sha1 = {f.name: hashlib.sha1(f.read_bytes()).hexdigest() for f in out.iterdir()}
    assert {name: made.get(digest) for name, digest in sha1.items()} == {
        "upper.txt": "main/upper",
        "count.txt": "main/count",
    }, (made, sha1)
    # and what each step's run used: count read the file upper made, upper the word
    assert used["main/count"] == {"f": sha1["upper.txt"]}, used
    assert used["main/upper"]["w"] == hashlib.sha1(b"hello").hexdigest(), used
    for name, digest in sha1.items():  # the bag holds the file itself, by checksum
        assert (crate / "data" / digest[:2] / digest).read_bytes() == (out / name).read_bytes()
    inputs = cwlprov(tool, crate, "inputs")
    assert "Input word:" in inputs and "Input token:" in inputs, inputs
    provn = (crate / "metadata/provenance/primary.cwlprov.provn").read_text()
    assert "cwlprov:hostname" in provn, "--enable-host-provenance names the host"
    for name in ("packed.cwl", "primary-job.json", "primary-output.json"):
        assert (crate / "workflow" / name).is_file(), name
    assert (crate / "snapshot/wf.cwl").read_text() == CWL
    for path in crate.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_second_cwl_run_into_the_directory_leaves_a_valid_research_object(tmp_path: Path) -> None:
    try:
        venv = toolcache.python_venv("cwlprov-tools", CWLPROV_TOOLS)
    except toolcache.ToolUnavailable as exc:
        pytest.skip(f"cwlprov cannot be installed here: {exc}")
    (tmp_path / "wf.cwl").write_text(CWL)
    crate = tmp_path / "crate"
    for word in ("hello", "again"):
        (tmp_path / "job.yml").write_text(f"word: {word}\ntoken: t\n")
        run = run_cwl(
            tmp_path,
            "--provenance",
            str(crate),
            "--outdir",
            str(tmp_path / word),
            "wf.cwl",
            "job.yml",
        )
        assert run.returncode == 0 and "could not write" not in run.stderr, run.stderr
    # the first run's payload is gone: a bag whose data/ holds files its manifest does not
    # list is invalid
    assert "Valid CWLProv RO" in cwlprov(venv / "bin" / "cwlprov", crate, "validate")
    upper = (tmp_path / "again" / "upper.txt").read_bytes()
    assert upper == b"AGAIN\n"
    digest = hashlib.sha1(upper).hexdigest()
    assert (crate / "data" / digest[:2] / digest).read_bytes() == upper
    old = hashlib.sha1(b"HELLO\n").hexdigest()
    assert not (crate / "data" / old[:2] / old).exists()


def test_a_lone_tools_research_object_is_its_run(tmp_path: Path) -> None:
    """A CommandLineTool document's run is the workflow run (as cwltool records it); with
    --enable-user-provenance and no --full-name the login account ran it."""
    try:
        venv = toolcache.python_venv("cwlprov-tools", CWLPROV_TOOLS)
    except toolcache.ToolUnavailable as exc:
        pytest.skip(f"cwlprov cannot be installed here: {exc}")
    (tmp_path / "tool.cwl").write_text(
        "cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: [echo, made]\n"
        "inputs: {}\nstdout: made.txt\noutputs: {out: stdout}\n"
    )
    crate = tmp_path / "crate"
    run = run_cwl(
        tmp_path,
        "--provenance",
        str(crate),
        "--enable-user-provenance",
        "--outdir",
        str(tmp_path / "out"),
        "tool.cwl",
    )
    assert run.returncode == 0 and "could not write" not in run.stderr, run.stderr
    tool = venv / "bin" / "cwlprov"
    assert "Valid CWLProv RO" in cwlprov(tool, crate, "validate")
    who = cwlprov(tool, crate, "who")  # the account's full name, as the system has it
    assert re.search(r"Executed By: \S.* <urn:uuid:", who), who
    log = cwlprov(tool, crate, "run")
    assert "Flow" in log and "Step" not in log, log
    digest = hashlib.sha1((tmp_path / "out/made.txt").read_bytes()).hexdigest()
    assert f"Output out:\nurn:hash::sha1:{digest}" in cwlprov(tool, crate, "outputs")


def test_a_wdl_run_gives_a_provenance_run_crate(
    tmp_path: Path, crate_tools: tuple[Path, Path]
) -> None:
    (tmp_path / "pair.wdl").write_text(WDL)
    (tmp_path / "in.json").write_text('{"pair.word": "hello"}')
    crate = tmp_path / "crate"
    runner = Path(sys.executable).parent / "toil-wdl-runner"
    run = subprocess.run(
        [
            str(runner),
            "--provenance",
            str(crate),
            "-o",
            str(tmp_path / "out"),
            "pair.wdl",
            "in.json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    found = check_crate(crate, crate_tools)
    made = {Path(k).name: v for k, v in found["made"].items()}
    assert made == {"loud.txt": "shout", "size.txt": "measure"}, found
    assert found["language"] == "WDL"


def test_a_python_run_gives_a_provenance_run_crate(
    tmp_path: Path, crate_tools: tuple[Path, Path], cli: Any
) -> None:
    store, work, crate = tmp_path / "store", tmp_path / "work", tmp_path / "crate"
    work.mkdir()
    result = cli.run(store, work, "stats", "--provenance", str(crate))
    assert result.returncode == 0, result.stderr
    found = check_crate(crate, crate_tools)
    assert found["language"] == "Python" and found["main"] == "workflow/visible.py"
    assert found["kinds"]["CreateAction"] == 1 + 9, "the run and each of its 9 jobs"
    assert found["kinds"]["ControlAction"] == 9


def test_a_python_runs_exported_file_is_in_its_crate(
    tmp_path: Path, crate_tools: tuple[Path, Path]
) -> None:
    (tmp_path / "export.py").write_text(PYTHON)
    crate = tmp_path / "crate"
    run = subprocess.run(
        [
            sys.executable,
            "export.py",
            str(tmp_path / "store"),
            "made.txt",
            "--provenance",
            str(crate),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "made.txt").read_text() == "made by a job"
    found = check_crate(crate, crate_tools)
    assert found["made"] == {"outputs/made.txt": "write"}, found
    assert (crate / "outputs/made.txt").read_text() == "made by a job"


def test_a_bag_another_tool_made_is_not_deleted_from(tmp_path: Path) -> None:
    """--provenance into a directory holding another tool's bag: the files its manifest
    lists are the user's, not this run's, and stay (with a warning naming the directory)."""
    (tmp_path / "wf.cwl").write_text(CWL)
    (tmp_path / "job.yml").write_text("word: hello\ntoken: t\n")
    crate = tmp_path / "crate"
    theirs = crate / "data" / "ab" / "abcdef"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"someone else's payload\n")
    (crate / "bag-info.txt").write_text("Bag-Software-Agent: cwltool 3.1\n")
    (crate / "manifest-sha1.txt").write_text("0" * 40 + " data/ab/abcdef\n")
    run = run_cwl(
        tmp_path,
        "--provenance",
        str(crate),
        "--outdir",
        str(tmp_path / "out"),
        "wf.cwl",
        "job.yml",
    )
    assert run.returncode == 0, run.stderr
    assert theirs.read_bytes() == b"someone else's payload\n"
    assert "holds a bag another tool made" in run.stderr, run.stderr
