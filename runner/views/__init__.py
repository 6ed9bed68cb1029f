"""Read-only views of a run's job store for the ``toil`` utilities: status, stats, debug-job."""
