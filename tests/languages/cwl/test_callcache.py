"""The call cache (``--cachedir``/``--callCache``) as a user meets it: which jobs a second
run reuses, which it runs again and why. Every tool leaves one marker file per execution,
so the tests count executions, not log lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.languages.conftest import REPO
from tests.services.docker import DockerDaemon

RunCwl = Callable[..., Any]

TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c]
arguments: ["mktemp $(inputs.markers)/{name}.XXXXXX >/dev/null && {command}"]
inputs:
  markers: string
  {input}
outputs:
  {output}: {{type: File, outputBinding: {{glob: {output}.txt}}}}
"""

WORKFLOW = """\
cwlVersion: v1.2
class: Workflow
requirements: {ScatterFeatureRequirement: {}}
inputs: {src: File, markers: string, words: 'string[]'}
steps:
  first:
    run: first.cwl
    in: {src: src, markers: markers}
    out: [up]
  second:
    run: second.cwl
    in: {up: first/up, markers: markers}
    out: [count]
  each:
    run: each.cwl
    scatter: word
    in: {word: words, markers: markers}
    out: [said]
outputs:
  count: {type: File, outputSource: second/count}
  said: {type: 'File[]', outputSource: each/said}
"""


def make_workflow(tmp_path: Path, upper: str = "tr a-z A-Z") -> None:
    (tmp_path / "markers").mkdir(exist_ok=True)
    tools = {
        "first": (f"{upper} < $(inputs.src.path) > up.txt", "src: File", "up"),
        "second": ("wc -c < $(inputs.up.path) > count.txt", "up: File", "count"),
        "each": ("echo $(inputs.word) > said.txt", "word: string", "said"),
    }
    for name, (command, inp, out) in tools.items():
        text = TOOL.format(name=name, command=command, input=inp, output=out)
        (tmp_path / f"{name}.cwl").write_text(text)
    (tmp_path / "wf.cwl").write_text(WORKFLOW)
    if not (tmp_path / "src.txt").exists():
        (tmp_path / "src.txt").write_text("hello\n")
    job = {
        "src": {"class": "File", "path": "src.txt"},
        "markers": str(tmp_path / "markers"),
        "words": ["a", "b", "c"],
    }
    (tmp_path / "job.json").write_text(json.dumps(job))


def executions(tmp_path: Path) -> dict[str, int]:
    out = {"first": 0, "second": 0, "each": 0}
    for marker in (tmp_path / "markers").iterdir():
        out[marker.name.split(".")[0]] += 1
    return out


def run(run_cwl: RunCwl, tmp_path: Path, outdir: str, *extra: str) -> Any:
    result = run_cwl(
        "--cachedir",
        str(tmp_path / "cache"),
        "--no-container",
        "--outdir",
        outdir,
        *extra,
        "wf.cwl",
        "job.json",
    )
    assert result.code == 0, result.stderr
    return result


def test_second_run_reuses_every_job(run_cwl: RunCwl, tmp_path: Path) -> None:
    make_workflow(tmp_path)
    first = run(run_cwl, tmp_path, "o1")
    assert executions(tmp_path) == {"first": 1, "second": 1, "each": 3}
    assert "run first: not in the cache" in first.stderr
    again = run(run_cwl, tmp_path, "o2")
    assert executions(tmp_path) == {"first": 1, "second": 1, "each": 3}
    for label in ("first", "second", "each[0]", "each[1]", "each[2]"):
        assert f"reused {label}: key unchanged" in again.stderr
    assert (tmp_path / "o2" / "count.txt").read_text().strip() == "6"
    assert [Path(f["path"]).read_text() for f in again.outputs["said"]] == ["a\n", "b\n", "c\n"]
    assert again.outputs["count"]["checksum"] == first.outputs["count"]["checksum"]


def test_edited_command_reruns_the_step_and_what_follows(run_cwl: RunCwl, tmp_path: Path) -> None:
    make_workflow(tmp_path)
    run(run_cwl, tmp_path, "o1")
    make_workflow(tmp_path, upper="sed s/l/LL/")
    again = run(run_cwl, tmp_path, "o2")
    assert executions(tmp_path) == {"first": 2, "second": 2, "each": 3}
    assert "rerun first: command changed" in again.stderr
    assert "rerun second: input up changed" in again.stderr
    assert "reused each[1]: key unchanged" in again.stderr
    assert (tmp_path / "o2" / "count.txt").read_text().strip() == "7"


def test_edit_of_a_last_step_reruns_only_it(run_cwl: RunCwl, tmp_path: Path) -> None:
    make_workflow(tmp_path)
    run(run_cwl, tmp_path, "o1")
    (tmp_path / "second.cwl").write_text(
        (tmp_path / "second.cwl").read_text().replace("wc -c", "wc -l")
    )
    again = run(run_cwl, tmp_path, "o2")
    assert executions(tmp_path) == {"first": 1, "second": 2, "each": 3}
    assert "rerun second: command changed" in again.stderr
    assert (tmp_path / "o2" / "count.txt").read_text().strip() == "1"


def test_input_content_counts_not_its_time(run_cwl: RunCwl, tmp_path: Path) -> None:
    make_workflow(tmp_path)
    run(run_cwl, tmp_path, "o1")
    src = tmp_path / "src.txt"
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    touched = run(run_cwl, tmp_path, "o2")
    assert executions(tmp_path) == {"first": 1, "second": 1, "each": 3}
    assert "reused first: key unchanged" in touched.stderr
    src.write_text("other\n")  # same path, same size, other bytes
    changed = run(run_cwl, tmp_path, "o3")
    assert executions(tmp_path) == {"first": 2, "second": 2, "each": 3}
    assert "rerun first: input src changed" in changed.stderr
    assert "rerun second: input up changed" in changed.stderr
    assert (tmp_path / "o3" / "up.txt").exists() is False  # only the workflow's outputs
    assert (tmp_path / "o3" / "count.txt").read_text().strip() == "6"


def test_one_changed_scatter_element_reruns_alone(run_cwl: RunCwl, tmp_path: Path) -> None:
    make_workflow(tmp_path)
    run(run_cwl, tmp_path, "o1")
    job = json.loads((tmp_path / "job.json").read_text())
    job["words"] = ["a", "B", "c"]
    (tmp_path / "job.json").write_text(json.dumps(job))
    again = run(run_cwl, tmp_path, "o2")
    assert executions(tmp_path) == {"first": 1, "second": 1, "each": 4}
    assert "rerun each[1]: input word changed" in again.stderr
    assert [Path(f["path"]).read_text() for f in again.outputs["said"]] == ["a\n", "B\n", "c\n"]


def test_truncated_entries_are_misses(run_cwl: RunCwl, tmp_path: Path) -> None:
    make_workflow(tmp_path)
    run(run_cwl, tmp_path, "o1")
    entries = list((tmp_path / "cache" / "entries").rglob("*.json"))
    assert len(entries) == 5
    for entry in entries:
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) // 2])
    again = run(run_cwl, tmp_path, "o2")
    assert executions(tmp_path) == {"first": 2, "second": 2, "each": 6}
    assert "rerun first: cache entry missing or damaged" in again.stderr
    assert (tmp_path / "o2" / "count.txt").read_text().strip() == "6"


def test_truncated_cached_file_is_a_miss(run_cwl: RunCwl, tmp_path: Path) -> None:
    make_workflow(tmp_path)
    first = run(run_cwl, tmp_path, "o1")
    digest = first.outputs["count"]["checksum"].removeprefix("sha1$")
    blob = next((tmp_path / "cache" / "blobs").rglob(digest))
    os.truncate(blob, 0)
    again = run(run_cwl, tmp_path, "o2")
    assert executions(tmp_path) == {"first": 1, "second": 2, "each": 3}
    assert "rerun second: cache entry missing or damaged" in again.stderr
    assert (tmp_path / "o2" / "count.txt").read_text().strip() == "6"


def test_two_runs_fill_one_cache_at_once(tmp_path: Path) -> None:
    make_workflow(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "languages.cwl.cli",
                "--cachedir",
                str(tmp_path / "cache"),
                "--no-container",
                "--outdir",
                f"c{i}",
                "wf.cwl",
                "job.json",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert (tmp_path / f"c{i}" / "count.txt").read_text().strip() == "6"
        assert [Path(f["path"]).read_text() for f in json.loads(out)["said"]] == [
            "a\n",
            "b\n",
            "c\n",
        ]
    counts = executions(tmp_path)
    third = subprocess.run(
        [
            sys.executable,
            "-m",
            "languages.cwl.cli",
            "--cachedir",
            str(tmp_path / "cache"),
            "--no-container",
            "--outdir",
            "c3",
            "wf.cwl",
            "job.json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert third.returncode == 0, third.stderr
    assert executions(tmp_path) == counts  # what either run stored is whole
    assert (tmp_path / "c3" / "count.txt").read_text().strip() == "6"


# -- --restart after an edit: the run's own store is the cache --------------------------------
def run_in_store(run_cwl: RunCwl, tmp_path: Path, outdir: str, *extra: str) -> Any:
    return run_cwl(
        "--jobStore",
        str(tmp_path / "js"),
        "--no-container",
        "--retryCount",
        "0",
        "--outdir",
        outdir,
        *extra,
        "wf.cwl",
        "job.json",
    )


def test_restart_after_an_edit_reruns_the_edited_step_and_what_follows(
    run_cwl: RunCwl, tmp_path: Path
) -> None:
    make_workflow(tmp_path)
    second = tmp_path / "second.cwl"
    good = second.read_text()
    second.write_text(good.replace("wc -c <", "exit 3; wc -c <"))
    failed = run_in_store(run_cwl, tmp_path, "o1")
    assert failed.code == 1, failed.stderr
    assert executions(tmp_path) == {"first": 1, "second": 1, "each": 3}
    make_workflow(tmp_path, upper="sed s/l/LL/")  # first edited, second mended
    again = run_in_store(run_cwl, tmp_path, "o2", "--restart")
    assert again.code == 0, again.stderr
    assert executions(tmp_path) == {"first": 2, "second": 2, "each": 3}
    assert "rerun first: command changed" in again.stderr
    assert "rerun second: command changed, input up changed" in again.stderr
    assert "reused each[2]: key unchanged" in again.stderr
    assert (tmp_path / "o2" / "count.txt").read_text().strip() == "7"


def test_restart_after_a_run_that_succeeded_and_an_edit(run_cwl: RunCwl, tmp_path: Path) -> None:
    make_workflow(tmp_path)
    done = run_in_store(run_cwl, tmp_path, "o1", "--clean", "never")
    assert done.code == 0, done.stderr
    (tmp_path / "each.cwl").write_text(
        (tmp_path / "each.cwl").read_text().replace("echo $(inputs.word)", "echo -n $(inputs.word)")
    )
    again = run_in_store(run_cwl, tmp_path, "o2", "--restart", "--clean", "never")
    assert again.code == 0, again.stderr
    assert executions(tmp_path) == {"first": 1, "second": 1, "each": 6}
    assert "reused first: key unchanged" in again.stderr
    assert [Path(f["path"]).read_text() for f in again.outputs["said"]] == ["a", "b", "c"]
    same = run_in_store(run_cwl, tmp_path, "o3", "--restart", "--clean", "never")
    assert same.code == 0, same.stderr
    assert executions(tmp_path) == {"first": 1, "second": 1, "each": 6}
    assert "reused" not in same.stderr  # unchanged: resumed as it always was, no keys made


def test_restart_without_an_edit_reruns_only_what_failed(run_cwl: RunCwl, tmp_path: Path) -> None:
    make_workflow(tmp_path)
    second = tmp_path / "second.cwl"
    gate = f"test -e {tmp_path / 'go'} || exit 3; wc -c <"
    second.write_text(second.read_text().replace("wc -c <", gate))
    failed = run_in_store(run_cwl, tmp_path, "o1")
    assert failed.code == 1, failed.stderr
    (tmp_path / "go").write_text("")
    again = run_in_store(run_cwl, tmp_path, "o2", "--restart")
    assert again.code == 0, again.stderr
    assert executions(tmp_path) == {"first": 1, "second": 2, "each": 3}
    assert "workflow changed" not in again.stderr
    assert "reused" not in again.stderr


# -- containers: the image's digest, not its tag ------------------------------------------------
IMAGE_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {DockerRequirement: {dockerPull: "moil-cache-test:v1"}}
baseCommand: [sh, -c]
arguments: ["cat /etc/moil-cache-test /proc/sys/kernel/random/uuid > said.txt"]
inputs: []
outputs: {said: {type: File, outputBinding: {glob: said.txt}}}
"""


@pytest.mark.docker
def test_a_tag_moved_to_another_image_reruns(
    run_cwl: RunCwl,
    tmp_path: Path,
    docker_engine: DockerDaemon,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each execution writes a fresh UUID (the container cannot reach a marker
    directory): the same UUID again means the result was reused."""
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)

    def build(text: str) -> None:
        dockerfile = f"FROM docker.io/debian:stable-slim\nRUN echo {text} > /etc/moil-cache-test\n"
        proc = subprocess.run(
            ["docker", "build", "-q", "-t", "moil-cache-test:v1", "-"],
            input=dockerfile,
            capture_output=True,
            text=True,
            check=False,
            env=docker_engine.env,
        )
        assert proc.returncode == 0, proc.stderr

    def said(outdir: str) -> list[str]:
        return (tmp_path / outdir / "said.txt").read_text().split()

    (tmp_path / "tool.cwl").write_text(IMAGE_TOOL)
    build("one")
    try:
        cache = ("--cachedir", str(tmp_path / "cache"))
        for outdir in ("o1", "o2"):
            result = run_cwl(*cache, "--outdir", outdir, "tool.cwl")
            assert result.code == 0, result.stderr
        assert "reused tool.cwl: key unchanged" in result.stderr
        assert said("o1") == said("o2")
        assert said("o1")[0] == "one"
        build("two")  # the same tag, another image
        moved = run_cwl(*cache, "--outdir", "o3", "tool.cwl")
        assert moved.code == 0, moved.stderr
        assert "rerun tool.cwl: container image changed" in moved.stderr
        assert said("o3")[0] == "two"
        assert said("o3")[1] != said("o1")[1]
    finally:
        docker_engine.docker("rmi", "-f", "moil-cache-test:v1", check=False)


INLINE = """\
cwlVersion: v1.2
class: Workflow
inputs: {markers: string}
outputs: {out: {type: File, outputSource: only/out}}
steps:
  only:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ["mktemp $(inputs.markers)/first.XXXXXX > /dev/null; echo one > one.txt"]
      inputs: {markers: string}
      outputs: {out: {type: File, outputBinding: {glob: one.txt}}}
    in: {markers: markers}
    out: [out]
"""


def test_an_inline_tool_is_reused(run_cwl: RunCwl, tmp_path: Path) -> None:
    """schema-salad gives an inline tool a new made-up ID at each load: not a change."""
    (tmp_path / "markers").mkdir()
    (tmp_path / "inline.cwl").write_text(INLINE)
    for outdir in ("o1", "o2"):
        result = run_cwl(
            "--cachedir",
            "cache",
            "--no-container",
            "--outdir",
            outdir,
            "inline.cwl",
            "--markers",
            str(tmp_path / "markers"),
        )
        assert result.code == 0, result.stderr
    assert executions(tmp_path)["first"] == 1
    assert "reused only: key unchanged" in result.stderr
