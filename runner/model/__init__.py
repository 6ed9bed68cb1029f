"""The job graph and the run's state: nodes, promises, job records and the pure state machine (no I/O)."""
