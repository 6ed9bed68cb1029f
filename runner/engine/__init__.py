"""The engine of a run: the run's life cycle, the leader loop, the worker, the hand-off of a job between them."""
