"""cwltool options and behaviours users meet outside the conformance suites: checksums,
kept temporary directories, non-regular input files, ``file:`` URIs, literal-only hints."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.languages.cwl.reference import comparable, run_cwltool, write
from tests.services.docker import DockerDaemon

RunCwl = Callable[..., Any]


def walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in an output object (Files, Directories and their listings)."""
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


FILES_AND_DIR = """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {ShellCommandRequirement: {}}
arguments:
  - shellQuote: false
    valueFrom: "echo one > one.txt && mkdir d && echo two > d/two.txt"
inputs: []
outputs:
  one: {type: File, outputBinding: {glob: one.txt}}
  d: {type: Directory, outputBinding: {glob: d}}
"""


def test_no_compute_checksum_gives_outputs_without_checksums(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    write(tmp_path / "tool.cwl", FILES_AND_DIR)
    result = run_cwl("--no-compute-checksum", "--outdir", "out", "tool.cwl")
    assert result.code == 0, result.stderr
    assert [o for o in walk(result.outputs) if "checksum" in o] == []
    assert (tmp_path / "out" / "d" / "two.txt").read_text() == "two\n"
    # cwltool then gives a directory's entries no size either; moil keeps it (one stat)
    reference = run_cwltool(tmp_path, "--no-compute-checksum", "tool.cwl")
    assert comparable(result.outputs, "size") == comparable(reference, "size")
    hashed = run_cwl("--outdir", "out2", "tool.cwl")
    assert hashed.code == 0, hashed.stderr
    assert hashed.outputs["one"]["checksum"] == "sha1$" + hashlib.sha1(b"one\n").hexdigest()


CHECKSUM_IN_OUTPUT_EVAL = """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {InlineJavascriptRequirement: {}}
baseCommand: [echo, hello]
stdout: hello.txt
inputs: []
outputs:
  described:
    type: string
    outputBinding:
      glob: hello.txt
      outputEval: $(self[0].basename + ' ' + self[0].checksum)
"""


def test_output_eval_sees_the_checksum_of_a_glob(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "tool.cwl", CHECKSUM_IN_OUTPUT_EVAL)
    result = run_cwl("--outdir", "out", "tool.cwl")
    assert result.code == 0, result.stderr
    expected = {"described": "hello.txt sha1$" + hashlib.sha1(b"hello\n").hexdigest()}
    assert result.outputs == expected
    assert run_cwltool(tmp_path, "tool.cwl") == expected


SCRATCH = """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {ShellCommandRequirement: {}}
arguments:
  - shellQuote: false
    valueFrom: 'echo scratch > "$TMPDIR/scratch.txt" && echo done > done.txt'
inputs: []
outputs:
  done: {type: File, outputBinding: {glob: done.txt}}
"""


def test_leave_tmpdir_keeps_each_job_directory_and_says_where(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    write(tmp_path / "tool.cwl", SCRATCH)
    work = tmp_path / "work"
    work.mkdir()
    result = run_cwl("--leave-tmpdir", "--workDir", str(work), "--outdir", "out", "tool.cwl")
    assert result.code == 0, result.stderr
    assert (tmp_path / "out" / "done.txt").read_text() == "done\n"
    kept = list(work.glob("**/scratch.txt"))
    assert [p.read_text() for p in kept] == ["scratch\n"]
    job_dir = kept[0].parent
    assert f"--leave-tmpdir kept {job_dir}" in result.stderr

    plain = tmp_path / "plain"
    plain.mkdir()
    again = run_cwl("--workDir", str(plain), "--outdir", "out2", "tool.cwl")
    assert again.code == 0, again.stderr
    assert list(plain.iterdir()) == []


READ_IT = """\
cwlVersion: v1.2
class: Workflow
inputs: {stream: File}
outputs:
  copy: {type: File, outputSource: read/copy}
steps:
  read:
    in: {f: stream}
    out: [copy]
    run:
      class: CommandLineTool
      baseCommand: cat
      stdout: copy.txt
      inputs: {f: {type: File, inputBinding: {position: 1}}}
      outputs: {copy: stdout}
"""


def test_dev_null_is_read_where_it_is(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "wf.cwl", READ_IT)
    write(tmp_path / "job.json", '{"stream": {"class": "File", "path": "/dev/null"}}')
    result = run_cwl("--outdir", "out", "wf.cwl", "job.json")
    assert result.code == 0, result.stderr
    assert result.outputs["copy"]["size"] == 0
    assert (tmp_path / "out" / "copy.txt").read_bytes() == b""


def test_a_fifo_is_streamed_to_the_tool_not_read_before(run_cwl: RunCwl, tmp_path: Path) -> None:
    # the test writes into the FIFO once a reader opens it: if anything but the tool read
    # it (to hash, size or copy it), the tool would see nothing, or the run would hang
    write(tmp_path / "wf.cwl", READ_IT)
    fifo = tmp_path / "stream.fifo"
    os.mkfifo(fifo)
    write(tmp_path / "job.json", '{"stream": {"class": "File", "path": "stream.fifo"}}')
    payload = b"streamed through a FIFO\n" * 1000

    def feed() -> None:
        with open(fifo, "wb") as stream:  # blocks until the tool opens it
            stream.write(payload)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result = run_cwl("--outdir", "out", "wf.cwl", "job.json")
    assert result.code == 0, result.stderr
    writer.join(timeout=10)
    assert (tmp_path / "out" / "copy.txt").read_bytes() == payload
    assert result.outputs["copy"]["size"] == len(payload)
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.docker
def test_a_fifo_and_dev_null_are_bound_into_a_container_as_they_are(
    docker_engine: DockerDaemon,
    run_cwl: RunCwl,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    in_container = READ_IT.replace(
        "      baseCommand: cat\n",
        "      baseCommand: cat\n"
        "      requirements: {DockerRequirement: {dockerPull: docker.io/debian:stable-slim}}\n",
    )
    write(tmp_path / "wf.cwl", in_container)
    write(tmp_path / "null.json", '{"stream": {"class": "File", "path": "/dev/null"}}')
    null = run_cwl("--outdir", "null", "wf.cwl", "null.json")
    assert null.code == 0, null.stderr
    assert (tmp_path / "null" / "copy.txt").read_bytes() == b""

    fifo = tmp_path / "stream.fifo"
    os.mkfifo(fifo)
    write(tmp_path / "fifo.json", '{"stream": {"class": "File", "path": "stream.fifo"}}')

    def feed() -> None:
        with open(fifo, "wb") as stream:
            stream.write(b"into the container\n")

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result = run_cwl("--outdir", "out", "wf.cwl", "fifo.json")
    assert result.code == 0, result.stderr
    writer.join(timeout=10)
    assert (tmp_path / "out" / "copy.txt").read_bytes() == b"into the container\n"


CAT_ALL = """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {ShellCommandRequirement: {}, InlineJavascriptRequirement: {}}
inputs:
  files: {type: "File[]"}
  dir: Directory
arguments:
  - shellQuote: false
    valueFrom: >-
      cat $(inputs.files.map(function(f) { return '"' + f.path + '"'; }).join(' ')) > all.txt
      && ls "$(inputs.dir.path)" >> all.txt
outputs:
  all: {type: File, outputBinding: {glob: all.txt}}
"""


def test_every_local_file_uri_form_names_the_input(run_cwl: RunCwl, tmp_path: Path) -> None:
    # RFC 8089: file:/abs, file:///abs, file://localhost/abs, file://<this host>/abs, with
    # percent-encoded characters; as location, and as a path given as a URI
    write(tmp_path / "tool.cwl", CAT_ALL)
    spaced = tmp_path / "with space"
    for i in range(5):
        write(spaced / f"in {i}.txt", f"line {i}\n")
    write(tmp_path / "d" / "entry.txt", "x")
    quoted = urllib.parse.quote(str(spaced))
    host = socket.gethostname()
    locations = [
        f"file:{quoted}/in%200.txt",
        f"file://{quoted}/in%201.txt",
        f"file://localhost{quoted}/in%202.txt",
        f"file://{host}{quoted}/in%203.txt",
    ]
    job = {
        "files": [{"class": "File", "location": loc} for loc in locations]
        + [{"class": "File", "path": f"file:{quoted}/in%204.txt"}],
        "dir": {"class": "Directory", "location": f"file://localhost{tmp_path}/d"},
    }
    write(tmp_path / "job.json", json.dumps(job))
    result = run_cwl("--outdir", "out", "tool.cwl", f"file:{tmp_path}/job.json")
    assert result.code == 0, result.stderr
    expected = "".join(f"line {i}\n" for i in range(5)) + "entry.txt\n"
    assert (tmp_path / "out" / "all.txt").read_text() == expected


REFERENCES = """\
cwlVersion: v1.2
class: Workflow
requirements: {SubworkflowFeatureRequirement: {}}
inputs:
  f: {type: File, default: {class: File, location: "file:BASE/plain.txt"}}
outputs:
  one: {type: File, outputSource: by_run/out}
  two: {type: File, outputSource: by_import/out}
steps:
  by_run: {run: "file:BASE/cat.cwl", in: {f: f}, out: [out]}
  by_import:
    run: {$import: "file://localhostBASE/cat.cwl"}
    in: {f: {default: {class: File, location: "file://localhostBASE/sp%20ace.txt"}}}
    out: [out]
"""

CAT = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: cat
stdout: $(inputs.f.basename).out
inputs: {f: {type: File, inputBinding: {position: 1}}}
outputs: {out: stdout}
"""


def test_file_uris_in_run_import_and_defaults(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "cat.cwl", CAT)
    write(tmp_path / "plain.txt", "plain\n")
    write(tmp_path / "sp ace.txt", "spaced\n")
    write(tmp_path / "wf.cwl", REFERENCES.replace("BASE", str(tmp_path)))
    result = run_cwl("--outdir", "out", f"file:{tmp_path}/wf.cwl")
    assert result.code == 0, result.stderr
    assert (tmp_path / "out" / "plain.txt.out").read_text() == "plain\n"
    assert (tmp_path / "out" / "sp ace.txt.out").read_text() == "spaced\n"


def test_a_file_uri_of_another_host_is_refused(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "cat.cwl", CAT)
    write(tmp_path / "plain.txt", "plain\n")
    job = {"f": {"class": "File", "location": f"file://elsewhere.example{tmp_path}/plain.txt"}}
    write(tmp_path / "job.json", json.dumps(job))
    as_input = run_cwl("--outdir", "out", "cat.cwl", "job.json")
    assert as_input.code == 1
    assert "names the host 'elsewhere.example': only files of this machine" in as_input.stderr
    assert "Traceback" not in as_input.stderr

    text = REFERENCES.replace("BASE", str(tmp_path)).replace(
        f'"file:{tmp_path}/cat.cwl"', f'"file://elsewhere.example{tmp_path}/cat.cwl"'
    )
    write(tmp_path / "wf.cwl", text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "elsewhere" in t)
    as_run = run_cwl("--outdir", "out", "wf.cwl")
    assert as_run.code == 2
    assert f"wf.cwl:{line}:" in as_run.stderr
    assert "names the host 'elsewhere.example'" in as_run.stderr


def test_canonical_file_uri_forms() -> None:
    from languages.cwl.uris import InvalidFileUri, canonical_file_uri

    host = socket.gethostname()
    for uri in (
        "file:/a/b%20c",
        "file:///a/b%20c",
        "file://localhost/a/b%20c",
        f"FILE://{host.upper()}/a/b%20c",
    ):
        assert canonical_file_uri(uri) == "file:///a/b%20c", uri
        assert canonical_file_uri(uri + "#main") == "file:///a/b%20c#main", uri
    assert canonical_file_uri("https://example.org/x") == "https://example.org/x"
    assert canonical_file_uri("file:relative") == "file:relative"  # no RFC 8089 form
    with pytest.raises(InvalidFileUri):
        canonical_file_uri("file://other.example/a")


PREEMPTIBLE = """\
cwlVersion: v1.2
class: CommandLineTool
$namespaces: {arv: "http://arvados.org/cwl#", cwltool: "http://commonwl.org/cwltool#"}
requirements: {InlineJavascriptRequirement: {}}
hints:
  arv:UsePreemptible:
    usePreemptible: VALUE
inputs: {cheap: boolean}
baseCommand: [echo, hello]
stdout: hello.txt
outputs: {out: stdout}
"""


def test_literal_only_hints_refuse_expressions(run_cwl: RunCwl, tmp_path: Path) -> None:
    write(tmp_path / "ok.cwl", PREEMPTIBLE.replace("VALUE", "true"))
    ok = run_cwl("--outdir", "out", "ok.cwl", "--cheap")
    assert ok.code == 0, ok.stderr
    assert (tmp_path / "out" / "hello.txt").read_text() == "hello\n"
    line = PREEMPTIBLE.splitlines().index("    usePreemptible: VALUE") + 1
    for value, what in (
        ("$(inputs.cheap)", "expressions are not allowed"),
        ('"yes"', "the value has another type"),
    ):
        write(tmp_path / "bad.cwl", PREEMPTIBLE.replace("VALUE", value))
        bad = run_cwl("--outdir", "out", "bad.cwl", "--cheap")
        assert bad.code == 2, bad.stderr
        assert f"bad.cwl:{line}:5: UsePreemptible.usePreemptible takes a literal boolean" in (
            bad.stderr
        )
        assert what in bad.stderr
        assert bad.stdout == ""
    # a string field of cwltool's own extensions is literal too (cwltool would take
    # "$(inputs.cheap)" as the size itself)
    shm = PREEMPTIBLE.replace(
        "  arv:UsePreemptible:\n    usePreemptible: VALUE",
        "  cwltool:ShmSize:\n    shmSize: $(inputs.cheap)",
    )
    write(tmp_path / "shm.cwl", shm)
    refused = run_cwl("--enable-ext", "--outdir", "out", "shm.cwl", "--cheap")
    assert refused.code == 2, refused.stderr
    assert "ShmSize.shmSize takes a literal string: expressions are not allowed" in (refused.stderr)


def test_use_preemptible_marks_the_job_preemptible(tmp_path: Path, ctx: Any) -> None:
    from languages.cwl.load import LoadOptions, load_document
    from languages.cwl.resources import resource_spec

    for value in ("true", "false"):
        path = write(tmp_path / f"{value}.cwl", PREEMPTIBLE.replace("VALUE", value))
        _, process = load_document(str(path), LoadOptions())
        assert resource_spec(process, {"cheap": True}, ctx).preemptible is (value == "true")
