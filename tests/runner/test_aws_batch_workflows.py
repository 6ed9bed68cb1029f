"""Workflows a user runs with ``--batchSystem aws_batch --jobStore aws:...`` against moto's
AWS Batch (each job a real container of the moil worker image on a private dockerd, its
store in moto's S3), giving the single-machine results; and SIGINT of the leader leaving no
Batch job or container behind.

The worker sees nothing of the leader's files but the workflow's documents, mounted read-only
(``--awsBatchMount``): the CWL and WDL front ends load the document again in the worker by its
path. Inputs, intermediate files and outputs travel through the ``aws:`` store only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.runner.cluster_workflows import SCATTER_WDL, run, scheduler_commands
from tests.services import aws_batch
from tests.services.aws_batch import BatchService

pytestmark = [pytest.mark.aws_batch, pytest.mark.docker]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "workflow"
WAIT = 120.0

SLEEPY_WDL = """\
version 1.0
workflow sleepy {
  call nap
}
task nap {
  command <<< sleep 600 >>>
}
"""


def batch_args(
    service: BatchService, tmp_path: Path, documents: Path
) -> tuple[list[str], dict[str, str]]:
    """The options and environment of a run on ``service`` with its store in a new bucket."""
    bucket = service.server.new_bucket()
    args = [
        "--batchSystem",
        "aws_batch",
        "--jobStore",
        f"aws:{service.server.region}:{bucket}",
        "--statePollingWait",
        "0.3",
        "--awsBatchMount",
        f"{documents}:{documents}:ro",
    ]
    return args, service.env()


def test_cwl_workflow_gives_the_single_machine_outputs(
    aws_batch_service: BatchService, tmp_path: Path
) -> None:
    cwl = [sys.executable, "-m", "languages.cwl.cli"]
    docs = [str(EXAMPLE / "greet.cwl"), str(EXAMPLE / "greet-job.yaml")]
    local = run([*cwl, "--outdir", str(tmp_path / "local"), *docs], tmp_path)
    args, env = batch_args(aws_batch_service, tmp_path, EXAMPLE.parent)  # greet.cwl: ../hello
    done = run([*cwl, "--outdir", str(tmp_path / "batch"), *args, *docs], tmp_path, **env)
    ours = json.loads(done.stdout)["greetings"]
    theirs = json.loads(local.stdout)["greetings"]
    assert ours["checksum"] == theirs["checksum"]
    assert Path(ours["path"]).read_text() == Path(theirs["path"]).read_text()
    assert Path(ours["path"]).is_relative_to(tmp_path / "batch")
    counts = scheduler_commands(done.stderr, "aws_batch")
    assert counts["SubmitJob"] >= 4, "each step ran as a Batch job"
    assert aws_batch.live_jobs(aws_batch_service.server) == []


def test_wdl_scatter_gives_the_single_machine_outputs(
    aws_batch_service: BatchService, tmp_path: Path
) -> None:
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "fan.wdl").write_text(SCATTER_WDL)
    inputs = json.dumps({"fan.xs": [3, 1, 4], "fan.tag": "b"})
    wdl = [sys.executable, "-m", "languages.wdl.cli", str(documents / "fan.wdl"), inputs]
    local = run([*wdl, "-o", str(tmp_path / "local")], tmp_path)
    args, env = batch_args(aws_batch_service, tmp_path, documents)
    done = run([*wdl, "-o", str(tmp_path / "batch"), *args], tmp_path, **env)
    ours, theirs = json.loads(done.stdout), json.loads(local.stdout)
    assert ours["fan.cubes"] == theirs["fan.cubes"] == [27, 1, 64]
    assert [Path(f).read_text() for f in ours["fan.files"]] == [
        Path(f).read_text() for f in theirs["fan.files"]
    ]
    assert all(Path(f).is_relative_to(tmp_path / "batch") for f in ours["fan.files"])
    assert scheduler_commands(done.stderr, "aws_batch")["SubmitJob"] >= 3


def test_sigint_of_the_leader_leaves_no_batch_job_or_container(
    aws_batch_service: BatchService, tmp_path: Path
) -> None:
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "sleepy.wdl").write_text(SLEEPY_WDL)
    args, env = batch_args(aws_batch_service, tmp_path, documents)
    argv = [
        sys.executable,
        "-m",
        "languages.wdl.cli",
        str(documents / "sleepy.wdl"),
        "{}",
        "-o",
        str(tmp_path / "out"),
        *args,
    ]
    environment = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO), **env}
    leader = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + WAIT
        while not aws_batch_service.containers() and time.monotonic() < end:
            assert leader.poll() is None, leader.communicate()[1][-3000:]
            time.sleep(0.3)
        assert aws_batch_service.containers(), "the task's container started"
        assert aws_batch.live_jobs(aws_batch_service.server)
        leader.send_signal(signal.SIGINT)
        _, stderr = leader.communicate(timeout=WAIT)
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()
    assert leader.returncode != 0, stderr[-3000:]
    assert aws_batch.live_jobs(aws_batch_service.server) == [], "every Batch job ended"
    end = time.monotonic() + WAIT
    while aws_batch_service.containers() and time.monotonic() < end:
        time.sleep(0.3)
    assert aws_batch_service.containers() == [], "no container of the run is left"
    assert "Traceback" not in stderr


def test_promises_example_logs_the_same_on_aws_batch(
    aws_batch_service: BatchService, tmp_path: Path
) -> None:
    # Toil's example keeps its store in ./toilWorkflowRun, which no container can reach: a
    # user of AWS Batch names an aws: store instead (the one line changed here), and the
    # worker imports the script by its path (mounted read-only).
    example = (REPO / "examples" / "python" / "tutorial_promises.py").read_text()
    args, env = batch_args(aws_batch_service, tmp_path, tmp_path / "script")
    locator = args[args.index("--jobStore") + 1]
    assert '"./toilWorkflowRun"' in example
    script = tmp_path / "script" / "tutorial_promises.py"
    script.parent.mkdir()
    script.write_text(example.replace('"./toilWorkflowRun"', repr(locator)))
    local = run(
        [sys.executable, str(REPO / "examples" / "python" / "tutorial_promises.py")], tmp_path
    )
    mount = f"{script.parent}:{script.parent}:ro"
    done = run(
        [sys.executable, str(script)],
        tmp_path,
        TOIL_BATCH_SYSTEM="aws_batch",
        TOIL_AWS_BATCH_MOUNT=mount,
        **env,
    )
    pattern = r"i is: (\d+)"
    assert re.findall(pattern, done.stderr) == re.findall(pattern, local.stderr) == ["1", "2", "3"]
    assert scheduler_commands(done.stderr, "aws_batch")["SubmitJob"] == 3
