"""The shared contract suites, for moil's backends and for a plug-in's own tests.

- ``backends.testing.batch.BatchSystemContract``: what every batch system keeps (each job
  handed out exactly once, resource limits, kills, time limits, clean shutdown);
- ``backends.testing.jobstore.JobStoreContract``: what every job store keeps (life cycle,
  the lease, shared blobs, the journal, the job hand-off, logs, files and their checksums);
- ``backends.testing.jobs``: the jobs the batch suite runs (``fn(locator, job_id)``, and the
  same as ``python -m backends.testing.jobs FUNCTION LOCATOR JOB_ID``).

A suite is a pytest class that is not collected itself (its name does not start with
``Test``); a plug-in runs it by subclassing it in its own test module and defining the one
fixture it asks for::

    from backends.testing.batch import BatchSystemContract, target_for

    class TestMyBatchSystem(BatchSystemContract):
        @pytest.fixture
        def batch_target(self, tmp_path):
            with target_for(MyBatchSystem, tmp_path) as target:
                yield target

    class TestMyJobStore(JobStoreContract):
        @pytest.fixture
        def job_store_target(self, tmp_path):
            return JobStoreTarget(locator=f"mine:{tmp_path}/store")

The class must be registered (``backends.registry.register`` or an entry point) where the
suite opens a store by its locator. moil runs the same suites over every registered backend
in ``tests/backends/test_batch_contract.py`` and ``test_jobstore_contract.py``.

Needs pytest and psutil (moil's ``dev`` extra); nothing in moil's run path imports this.
"""
