"""Job log truncation and naming (runner.engine.joblogs)."""

from __future__ import annotations

from runner.config.options import build_config, default_options
from runner.config.runconfig import RunConfig
from runner.engine.joblogs import log_file_name, truncate_log, wants_log
from runner.model.records import JobRecord


def test_truncate_keeps_the_end_from_a_line_start_with_a_note() -> None:
    data = b"".join(f"line {i}\n".encode() for i in range(1000))
    cut = truncate_log(data, 100)
    assert cut.startswith(b"[moil: ") and b"cut by --maxLogFileSize" in cut
    body = cut.split(b"\n", 1)[1]
    assert body.endswith(b"line 999\n") and body.startswith(b"line ")
    assert len(body) <= 100
    assert truncate_log(data, 0) == data
    assert truncate_log(b"short\n", 100) == b"short\n"


def test_only_failed_jobs_unless_all_jobs_or_debug() -> None:
    def config(**options: object) -> RunConfig:
        return build_config(default_options(**options))

    logs = config(writeLogs="/tmp/x")
    assert wants_log(logs, ok=False) and not wants_log(logs, ok=True)
    assert wants_log(config(writeLogs="/x", writeLogsFromAllJobs=True), ok=True)
    assert wants_log(config(writeLogsGzip="/x", logLevel="DEBUG"), ok=True)
    assert not wants_log(config(), ok=False)


def test_log_file_names_are_safe_and_per_attempt() -> None:
    record = JobRecord(
        id="abc123",
        executor="m:f",
        name="wf.cwl/step",
        display_name="a b/c*",
        body=b"",
        resources=b"",
        needs=frozenset(),
        attempts=2,
    )
    assert log_file_name(record) == "a_b_c_abc123_2"
