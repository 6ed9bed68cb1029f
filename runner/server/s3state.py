"""What ``toil server`` keeps in S3: the runs' records (``--state_store s3://BUCKET/PREFIX``)
and the finished runs' outputs (``--dest_bucket_base s3://BUCKET/PREFIX``).

Records: one object per run, ``PREFIX/runs/ID.json``, the same JSON as a directory state
store's file; a PUT replaces an object whole, so a reader sees the old record or the new
one, never part of one. The runs' files (attachments, job store, outputs, logs) stay in
``--work_dir``: the S3 store keeps what the server must not lose, not the runs.

Outputs: when a run's engine exits 0, every file under its ``out/`` is uploaded to
``BASE/ID/PATH`` (``PATH`` relative to ``out/``) by the run's supervisor, which then lists
them in ``RUN_DIR/exported.json``; the server reports those URLs as the outputs'
locations. moil never creates or deletes a bucket: a missing one is refused at start.

The client, endpoint, credentials and retries are the ``aws:`` job store's
(``backends.jobstore.s3client``: ``TOIL_S3_HOST``, else boto3's ``AWS_ENDPOINT_URL`` and
profiles).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

from backends import urls
from backends.errors import JobStoreError
from runner.errors import UsageError
from runner.server.state import RunRecord

EXPORTED = "exported.json"


def split_base(option: str, url: str) -> tuple[str, str]:
    """``s3://BUCKET[/PREFIX]`` as (bucket, prefix). Raises UsageError naming ``option``."""
    try:
        return urls.split_base(url)
    except JobStoreError as exc:
        raise UsageError(f"{option} {url}: {exc}") from None


def check_bucket(option: str, url: str) -> None:
    """The bucket of ``url`` must exist and answer us. Raises UsageError saying why not."""
    split_base(option, url)
    try:
        urls.check_bucket(url)
    except JobStoreError as exc:
        raise UsageError(f"{option} {url}: {exc}") from None


def _key(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


class S3StateStore:
    """The runs' records in S3 (the interface of ``runner.server.state.StateStore``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.bucket, prefix = split_base("--state_store", url)
        self.prefix = _key(prefix, "runs")

    def create(self) -> None:
        check_bucket("--state_store", self.url)

    def save(self, record: RunRecord) -> None:
        body = json.dumps(record.to_json()).encode()
        self._call("put_object", Key=f"{self.prefix}/{record.run_id}.json", Body=body)

    def load_all(self) -> list[RunRecord]:
        """Every run's record, oldest submission first; an object that is no record is
        skipped."""
        out = []
        token: dict[str, str] = {}
        while True:
            page = self._call("list_objects_v2", Prefix=f"{self.prefix}/", **token)
            for item in page.get("Contents", []):
                key = str(item["Key"])
                if not key.endswith(".json"):
                    continue
                body = self._call("get_object", Key=key)["Body"].read()
                try:
                    out.append(RunRecord.from_json(json.loads(body)))
                except (ValueError, TypeError, KeyError):
                    continue
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": str(page["NextContinuationToken"])}
        out.sort(key=lambda r: (r.submitted, r.run_id))
        return out

    def _call(self, operation: str, **arguments: Any) -> Any:
        return urls.call(self.bucket, operation, **arguments)


def export_outputs(run_dir: Path, base: str) -> dict[str, str]:
    """Upload every file under ``run_dir/out`` to ``base/RUN_ID/PATH`` and write the list
    (``{path: url}``) to ``run_dir/exported.json``. Raises JobStoreError."""
    bucket, prefix = split_base("--dest_bucket_base", base)
    root = run_dir / "out"
    done: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        key = _key(prefix, f"{run_dir.name}/{relative}")
        url = f"s3://{bucket}/{urllib.parse.quote(key)}"
        with open(path, "rb") as stream:
            urls.upload(stream, url)
        done[relative] = url
    temp = run_dir / f".{EXPORTED}.tmp"
    temp.write_text(json.dumps(done))
    os.replace(temp, run_dir / EXPORTED)
    return done


def read_exported(run_dir: Path) -> dict[str, str] | None:
    """What ``export_outputs`` uploaded for the run, or None if it did not (yet)."""
    try:
        data = json.loads((run_dir / EXPORTED).read_text())
    except (OSError, ValueError):
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None
