"""Bad input, as users (and careless scripts) give it, to the real commands: each case
must end with no Python traceback, exactly one error line that names the thing, the
documented exit code, and no job store or temporary directory left behind by a run that
never started (issue 12 item 8). How a case runs: ``tests/runner/badinput.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.jobstore.file import FileJobStore
from tests.runner.badinput import (
    Case,
    api,
    assert_nothing_left,
    assert_one_clear_error,
    cwl,
    run_command,
    wdl,
    workspace,
)

STORE = ("--jobStore", "store")
CASES = [
    # -- CWL documents
    cwl("cwl-empty-document", 2, "empty.cwl", "empty.cwl", "job.yml"),
    cwl("cwl-binary-document", 2, "not UTF-8", "binary.bin", "job.yml"),
    cwl("cwl-directory-as-document", 2, "a-dir", "a-dir", "job.yml"),
    cwl("cwl-missing-document", 2, "nosuch.cwl", "nosuch.cwl", "job.yml"),
    cwl("cwl-document-not-a-mapping", 2, "scalar.cwl", "scalar.cwl"),
    cwl("cwl-no-document", 2, "document"),
    # -- CWL input objects
    cwl("cwl-input-nested-500-deep", 1, "nested", "echo.cwl", "deep.json"),
    cwl("cwl-yaml-nested-500-deep", 1, "nested", "echo.cwl", "deep.yml"),
    cwl("cwl-yaml-alias-bomb", 1, "values", "echo.cwl", "bomb.yml"),
    cwl("cwl-yaml-recursive-alias", 1, "itself", "echo.cwl", "self.yml"),
    cwl("cwl-job-file-is-a-list", 1, "list", "echo.cwl", "list.yml"),
    cwl("cwl-job-file-binary", 1, "not UTF-8", "echo.cwl", "binary.json"),
    cwl("cwl-job-file-invalid-utf8", 1, "not UTF-8", "echo.cwl", "bad-utf8.yml"),
    cwl("cwl-job-file-is-a-directory", 1, "a-dir", "echo.cwl", "a-dir"),
    cwl("cwl-job-file-missing", 1, "nosuch.yml", "echo.cwl", "nosuch.yml"),
    cwl("cwl-wrong-input-type", 1, "'message'", "echo.cwl", "wrong-type.yml"),
    # cwltool's file:line:col of the field, though moil reads the job file without positions
    cwl(
        "cwl-wrong-input-type-points",
        1,
        "wrong-type.yml:1:1: the 'message' field is not valid",
        "echo.cwl",
        "wrong-type.yml",
    ),
    cwl(
        "cwl-job-file-not-yaml", 1, "bad.yml:2:1: not valid JSON (nor YAML)", "echo.cwl", "bad.yml"
    ),
    cwl(
        "cwl-misspelt-input-argument",
        2,
        "--mesage; did you mean '--message'?",
        "echo.cwl",
        "--mesage",
        "x",
    ),
    cwl("cwl-missing-required-input", 1, "'message'", "echo.cwl"),
    cwl("cwl-unknown-input-argument", 2, "--nosuch", "echo.cwl", "--message", "x", "--nosuch", "1"),
    cwl(
        "cwl-missing-input-file",
        1,
        "nowhere.txt",
        *STORE,
        "cat.cwl",
        "missing-file.yml",
        absent=("store",),
    ),
    cwl("cwl-missing-input-file-temp-store", 1, "nowhere.txt", "cat.cwl", "missing-file.yml"),
    cwl(
        "cwl-missing-input-file-names-input",
        1,
        "input 'f': file not found: ",
        "cat.cwl",
        "missing-file.yml",
    ),
    # -- option values, checked before anything is made
    cwl("cwl-outdir-is-a-file", 2, "--outdir", "--outdir", "a-file", "echo.cwl", "job.yml"),
    cwl("cwl-outdir-under-a-file", 2, "--outdir", "--outdir", "a-file/out", "echo.cwl", "job.yml"),
    cwl(
        "cwl-jobstore-under-a-file",
        2,
        "--jobStore",
        "--jobStore",
        "a-file/store",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-workdir-missing",
        2,
        "--workDir",
        "--workDir",
        "no-such-dir",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store", "no-such-dir"),
    ),
    cwl(
        "cwl-workdir-is-a-file",
        2,
        "--workDir",
        "--workDir",
        "a-file",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store",),
    ),
    cwl(
        "cwl-retry-count-negative",
        2,
        "--retryCount",
        "--retryCount",
        "-1",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store",),
    ),
    cwl(
        "cwl-max-cores-zero",
        2,
        "--maxCores",
        "--maxCores",
        "0",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store",),
    ),
    cwl("cwl-max-cores-negative", 2, "--maxCores", "--maxCores", "-2", "echo.cwl", "job.yml"),
    cwl("cwl-max-memory-zero", 2, "--maxMemory", "--maxMemory", "0", "echo.cwl", "job.yml"),
    cwl(
        "cwl-max-job-duration-negative",
        2,
        "--maxJobDuration",
        "--maxJobDuration",
        "-5",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-unknown-batch-system",
        2,
        "nope",
        "--batchSystem",
        "nope",
        *STORE,
        "echo.cwl",
        "job.yml",
        absent=("store",),
    ),
    # the same two without --jobStore: no temporary store or work directory is made either
    cwl(
        "cwl-unknown-batch-system-temp-store",
        2,
        "nope",
        "--batchSystem",
        "nope",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-workdir-missing-temp-store",
        2,
        "--workDir",
        "--workDir",
        "/missing",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-log-file-in-missing-directory",
        2,
        "--logFile",
        "--logFile",
        "no/such/x.log",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-write-logs-is-a-file", 2, "--writeLogs", "--writeLogs", "a-file", "echo.cwl", "job.yml"
    ),
    cwl(
        "cwl-tmpdir-prefix-under-a-file",
        2,
        "--tmpdir-prefix",
        "--tmpdir-prefix",
        "a-file/x/tmp",
        "echo.cwl",
        "job.yml",
    ),
    cwl(
        "cwl-restart-without-store",
        2,
        "--restart",
        "--restart",
        *STORE,
        "echo.cwl",
        absent=("store",),
    ),
    cwl("cwl-malformed-locator", 2, "aws:x", "--jobStore", "aws:x", "echo.cwl", "job.yml"),
    cwl("cwl-not-a-size", 2, "--defaultMemory", "--defaultMemory", "lots", "echo.cwl"),
    cwl("cwl-unknown-option", 2, "--nosuchoption", "--nosuchoption", "echo.cwl"),
    # -- WDL
    wdl("wdl-binary-document", 2, "not UTF-8", "binary.bin"),
    wdl("wdl-empty-document", 2, "empty.wdl", "empty.wdl"),
    wdl("wdl-directory-as-document", 2, "a-dir", "a-dir"),
    wdl("wdl-missing-document", 2, "nosuch.wdl", "nosuch.wdl"),
    wdl("wdl-binary-inputs", 2, "not UTF-8", "hello.wdl", "binary.json"),
    wdl("wdl-invalid-utf8-inputs", 2, "not UTF-8", "hello.wdl", "bad-utf8.json"),
    wdl("wdl-inputs-is-a-directory", 2, "a-dir", "hello.wdl", "a-dir"),
    wdl("wdl-inputs-is-a-list", 2, "JSON object", "hello.wdl", "list.json"),
    wdl("wdl-inputs-nested-500-deep", 2, "nested", "hello.wdl", "deep-wdl.json"),
    wdl("wdl-inputs-yaml-alias-bomb", 2, "values", "hello.wdl", "bomb.json"),
    wdl("wdl-inputs-not-json", 2, "JSON", "hello.wdl", "-i", "{not json"),
    wdl("wdl-unknown-input", 2, "hello.nosuch", "hello.wdl", "unknown.json"),
    wdl(
        "wdl-misspelt-input", 2, "hello.nmae; did you mean 'hello.name'?", "hello.wdl", "typo.json"
    ),
    wdl(
        "wdl-inputs-file-not-json",
        2,
        "bad.json:2:1: not valid JSON (nor YAML)",
        "hello.wdl",
        "bad.json",
    ),
    wdl("wdl-wrong-input-type", 2, "hello.name", "hello.wdl", "wrong-type.json"),
    wdl("wdl-missing-required-input", 2, "hello.name", "hello.wdl"),
    wdl(
        "wdl-missing-input-file",
        2,
        "nowhere.txt",
        *STORE,
        "cat.wdl",
        "missing-file.json",
        absent=("store",),
    ),
    wdl("wdl-unknown-task", 2, "nosuch", "--task", "nosuch", "hello.wdl", "inputs.json"),
    wdl(
        "wdl-output-directory-is-a-file",
        2,
        "--outputDirectory",
        "hello.wdl",
        "inputs.json",
        "-o",
        "a-file",
        *STORE,
        absent=("store",),
    ),
    wdl(
        "wdl-output-file-is-a-directory",
        2,
        "--outputFile",
        "hello.wdl",
        "inputs.json",
        "-m",
        "a-dir",
    ),
    wdl(
        "wdl-output-file-in-missing-directory",
        2,
        "--outputFile",
        "hello.wdl",
        "inputs.json",
        "-m",
        "no/such/out.json",
    ),
    wdl(
        "wdl-log-file-in-missing-directory",
        2,
        "--logFile",
        "hello.wdl",
        "inputs.json",
        "--logFile",
        "no/such/x.log",
    ),
    wdl(
        "wdl-workdir-is-a-file",
        2,
        "--workDir",
        "hello.wdl",
        "inputs.json",
        "--workDir",
        "a-file",
        *STORE,
        absent=("store",),
    ),
    wdl(
        "wdl-retry-count-negative",
        2,
        "--retryCount",
        "hello.wdl",
        "inputs.json",
        "--retryCount",
        "-1",
    ),
    wdl(
        "wdl-unknown-batch-system",
        2,
        "nope",
        "hello.wdl",
        "inputs.json",
        "--batchSystem",
        "nope",
        *STORE,
        absent=("store",),
    ),
    # -- the Python API (a Toil script)
    api("api-retry-count-negative", 2, "--retryCount", "store", "retryCount=-1", absent=("store",)),
    api("api-max-cores-zero", 2, "--maxCores", "store", "maxCores=0.0", absent=("store",)),
    api("api-unknown-batch-system", 2, "nope", "store", "batchSystem=nope", absent=("store",)),
    api(
        "api-workdir-missing",
        2,
        "--workDir",
        "store",
        "workDir=no-such-dir",
        absent=("store", "no-such-dir"),
    ),
    api("api-restart-without-store", 2, "--restart", "store", "restart", absent=("store",)),
    api("api-jobstore-under-a-file", 2, "--jobStore", "a-file/store"),
    Case(
        "api-restart-store-without-journal",
        "api",
        ("store", "restart"),
        2,
        "no workflow",
        empty_store=True,
    ),
    Case(
        "cwl-restart-store-without-journal",
        "cwl",
        ("--restart", *STORE, "echo.cwl"),
        2,
        "no workflow",
        empty_store=True,
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_clear_error(case: Case, tmp_path: Path) -> None:
    workspace(tmp_path)
    if case.empty_store:
        FileJobStore(f"file:{tmp_path / 'store'}", str(tmp_path / "store")).create()
    result = run_command(case, tmp_path)
    assert_one_clear_error(result, case)
    assert_nothing_left(tmp_path, case)


def test_the_table_covers_each_command() -> None:
    """The table names each case once, and holds cases for every command."""
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.command for c in CASES} == {"cwl", "wdl", "api"}


def test_a_misspelt_input_name_is_named(tmp_path: Path) -> None:
    """cwltool ignores keys of the input object that name no input: a misspelt name then
    reads as a missing input. The error says what is missing, a warning what was not used."""
    workspace(tmp_path)
    (tmp_path / "typo.yml").write_text("mesage: hi\n")
    case = cwl("cwl-misspelt-input", 1, "'message'", "echo.cwl", "typo.yml")
    result = run_command(case, tmp_path)
    assert_one_clear_error(result, case)
    warnings = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert any("'mesage'" in line and "did you mean 'message'?" in line for line in warnings), (
        result.stderr
    )
