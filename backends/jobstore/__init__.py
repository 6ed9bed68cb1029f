"""Job stores: where a run keeps its config, job records, files, logs and stats."""

from backends.jobstore.base import FileID, JobStore, open_job_store, parse_locator

__all__ = ["FileID", "JobStore", "open_job_store", "parse_locator"]
