"""The Python job API, with Toil's names: ``Job``, ``Job.wrapFn``, ``Job.wrapJobFn``,
``addChild``/``addFollowOn``, ``addService``, ``rv()``, ``encapsulate()``.

A ``Job`` becomes a ``runner.model.graph.JobNode`` whose payload is the job object itself
(pickled without its children); the executor ``run_python_job`` calls ``job.run(fileStore)``
in a worker and turns the children it added into new nodes.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from runner.config.units import parse_size
from runner.engine import names
from runner.model.graph import JobNode, ResourceSpec, new_job_id
from runner.model.promise import Promise, PromisedRequirement

log = logging.getLogger(__name__)

_RESOURCE_KEYS = frozenset(
    ("memory", "cores", "disk", "accelerators", "preemptible", "preemptable", "checkpoint")
)
_REQUIREMENT_KEYS = (
    "memory",
    "cores",
    "disk",
    "accelerators",
    "preemptible",
    "preemptable",
    "checkpoint",
    "unitName",
    "displayName",
    "local",
)


def _size_or_promise(value: Any) -> Any:
    if value is None or isinstance(value, PromisedRequirement):
        return value
    if isinstance(value, Promise):
        return PromisedRequirement(value)
    return parse_size(value)


class Job:
    """A unit of work. Subclass and implement ``run(self, fileStore)``."""

    def __init__(
        self,
        memory: int | str | None = None,
        cores: float | str | None = None,
        disk: int | str | None = None,
        accelerators: Any = None,
        preemptible: bool | None = None,
        preemptable: bool | None = None,
        unitName: str | None = "",  # noqa: N803 (Toil's name)
        checkpoint: bool = False,
        displayName: str | None = "",  # noqa: N803
        descriptionClass: Any = None,  # noqa: N803
        local: bool | None = None,
        files: Any = None,
    ) -> None:
        self._id = new_job_id()
        self.memory = _size_or_promise(memory)
        cores_value = cores
        if isinstance(cores, Promise):
            cores_value = PromisedRequirement(cores)
        elif isinstance(cores, str):
            cores_value = float(cores)
        self.cores = cores_value
        self.disk = _size_or_promise(disk)
        if isinstance(accelerators, (str, dict)):
            accelerators = [accelerators]
        self.accelerators = tuple(accelerators or ())
        self.preemptible = bool(preemptible if preemptible is not None else preemptable)
        self.unitName = unitName or ""
        self.checkpoint = checkpoint
        self._display_name = displayName or ""
        self.local = bool(local)
        self._children: list[Job] = []
        self._followons: list[Job] = []
        self._services: list[tuple[Job.Service, str]] = []
        self._fileStore: Any = None
        self._ctx: Any = None

    # -- identity --------------------------------------------------------------------------
    @property
    def jobName(self) -> str:  # noqa: N802
        return type(self).__name__

    @property
    def displayName(self) -> str:  # noqa: N802
        return self._display_name or self.jobName

    @property
    def jobStoreID(self) -> str:  # noqa: N802
        return self._id

    def __repr__(self) -> str:
        return f"{self.displayName} {self._id[:8]}"

    # -- structure ---------------------------------------------------------------------------
    def addChild(self, childJob: Job) -> Job:  # noqa: N802, N803
        """``childJob`` runs after this job has run."""
        self._children.append(childJob)
        return childJob

    def addFollowOn(self, followOnJob: Job) -> Job:  # noqa: N802, N803
        """``followOnJob`` runs after this job and all its children are done."""
        self._followons.append(followOnJob)
        return followOnJob

    def hasChild(self, childJob: Job) -> bool:  # noqa: N802, N803
        return childJob in self._children

    def hasFollowOn(self, followOnJob: Job) -> bool:  # noqa: N802, N803
        return followOnJob in self._followons

    def addChildFn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:  # noqa: N802
        return self.addChild(FunctionWrappingJob(fn, *args, **kwargs))

    def addFollowOnFn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:  # noqa: N802
        return self.addFollowOn(FunctionWrappingJob(fn, *args, **kwargs))

    def addChildJobFn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:  # noqa: N802
        return self.addChild(JobFunctionWrappingJob(fn, *args, **kwargs))

    def addFollowOnJobFn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:  # noqa: N802
        return self.addFollowOn(JobFunctionWrappingJob(fn, *args, **kwargs))

    def addService(self, service: Job.Service, parentService: Any = None) -> Promise:  # noqa: N802, N803
        """Start ``service`` after this job runs and before its successors; stop it when they
        are done. Returns a promise of ``service.start()``'s return value."""
        service_id = new_job_id()
        self._services.append((service, service_id))
        return Promise(service_id)

    def rv(self, *path: Any) -> Promise:
        """A promise of this job's return value, indexed by ``path``."""
        return Promise(self._id, tuple(path))

    def encapsulate(self, name: str | None = None) -> EncapsulatedJob:
        """A job whose successors run after this job's whole subtree (Toil's semantics)."""
        return EncapsulatedJob(self, unitName=name)

    @staticmethod
    def wrapFn(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> FunctionWrappingJob:  # noqa: N802
        return FunctionWrappingJob(fn, *args, **kwargs)

    @staticmethod
    def wrapJobFn(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> JobFunctionWrappingJob:  # noqa: N802
        return JobFunctionWrappingJob(fn, *args, **kwargs)

    # -- inside a running job ---------------------------------------------------------------
    def run(self, fileStore: Any) -> Any:  # noqa: N803
        """Override: the work of this job. The return value is what ``rv()`` promises."""
        return None

    @property
    def fileStore(self) -> Any:  # noqa: N802
        return self._fileStore

    @property
    def tempDir(self) -> str:  # noqa: N802
        return str(self._fileStore.getLocalTempDir())

    def log(self, text: str, level: int = logging.INFO) -> None:
        """Log ``text`` in the job's log and the leader's."""
        if self._fileStore is not None:
            self._fileStore.logToMaster(text, level)
        else:
            log.log(level, text)

    # -- conversion ---------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_children"], state["_followons"], state["_services"] = [], [], []
        state["_fileStore"] = state["_ctx"] = None
        return state

    def _resource_spec(self) -> ResourceSpec:
        cores = float(self.cores) if isinstance(self.cores, (int, str)) else self.cores
        return ResourceSpec(cores, self.memory, self.disk, self.accelerators, self.preemptible)

    def _to_node(self, seen: dict[str, JobNode] | None = None) -> JobNode:
        """The node of this job and its successors. A job that is the child of several
        jobs (a DAG, as Toil allows) hangs under the first parent met and waits for the
        others' return values: it runs once all its parents have run."""
        seen = {} if seen is None else seen
        if self._id in seen:
            raise ValueError(f"{self!r} is added to the graph twice")
        node = JobNode(
            # a displayName names the job where Toil's does (toil stats groups by it)
            executor="runner.api.job:run_python_job",
            payload=self,
            name=self._display_name or self.jobName,
            display_name=self.displayName,
            resources=self._resource_spec(),
            local=self.local,
            checkpoint=self.checkpoint,
            id=self._id,
        )
        seen[self._id] = node
        for child in self._children:
            if child._id in seen:
                seen[child._id].after.append(Promise(self._id))
            else:
                node.children.append(child._to_node(seen))
        node.followons = [f._to_node(seen) for f in self._followons]
        node.services = [
            JobNode(
                executor="runner.api.job:run_service",
                payload=svc,
                name=type(svc).__name__,
                display_name=svc.unitName or type(svc).__name__,
                resources=ResourceSpec(svc.cores, svc.memory, svc.disk),
                id=sid,
            )
            for svc, sid in self._services
        ]
        return node

    class Service:
        """A long-running helper (a database, a server) for a job's successors."""

        def __init__(
            self,
            memory: Any = None,
            cores: Any = None,
            disk: Any = None,
            accelerators: Any = None,
            preemptible: Any = None,
            unitName: str | None = None,  # noqa: N803
        ) -> None:
            self.memory = _size_or_promise(memory)
            self.cores = cores
            self.disk = _size_or_promise(disk)
            self.unitName = unitName or ""

        def start(self, job: Any) -> Any:
            """Start the service; the return value is what ``addService`` promises."""
            return None

        def stop(self, job: Any) -> None:
            """Stop the service."""

        def check(self) -> bool:
            """False (or an exception) if the service has failed."""
            return True

    class Runner:
        """Toil's helpers for building options and running a root job."""

        @staticmethod
        def getDefaultArgumentParser(jobstore_as_flag: bool = False) -> argparse.ArgumentParser:  # noqa: N802
            from runner.config.parser import ToilArgumentParser

            parser = ToilArgumentParser()
            Job.Runner.addToilOptions(parser, jobstore_as_flag=jobstore_as_flag)
            return parser

        @staticmethod
        def getDefaultOptions(  # noqa: N802
            jobStore: str | None = None,  # noqa: N803
            jobstore_as_flag: bool = False,
        ) -> argparse.Namespace:
            from runner.config.options import default_options

            return default_options(jobStore)

        @staticmethod
        def addToilOptions(  # noqa: N802
            parser: argparse.ArgumentParser,
            jobstore_as_flag: bool = False,
        ) -> None:
            from runner.config.options import add_toil_options

            add_toil_options(parser, job_store_positional=not jobstore_as_flag)

        @staticmethod
        def startToil(job: Job, options: argparse.Namespace) -> Any:  # noqa: N802
            from runner.api.toil import Toil

            with Toil(options) as toil:
                return toil.restart() if getattr(options, "restart", False) else toil.start(job)


class FunctionWrappingJob(Job):
    """A job that calls ``fn(*args, **kwargs)``. As in Toil, the resource keywords
    (``cores``, ``memory``, ``disk``, ``accelerators``, ``preemptible``, ``checkpoint``) are
    the job's requirements and never reach the function; when not given, the function's own
    defaults for them are (``def f(job, cores=2)`` asks for 2 cores). The other job keywords
    (``unitName``, ``displayName``, ``local``) are the job's unless the function takes them."""

    def __init__(self, userFunction: Callable[..., Any], *args: Any, **kwargs: Any) -> None:  # noqa: N803
        try:
            params = inspect.signature(userFunction).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]  # builtins without a signature
        requirements: dict[str, Any] = {}
        for key in _REQUIREMENT_KEYS:
            if key in kwargs and (key in _RESOURCE_KEYS or key not in params):
                requirements[key] = kwargs.pop(key)
            elif key in _RESOURCE_KEYS and key in params:
                default = params[key].default
                if default is not inspect.Parameter.empty:
                    requirements[key] = default
        requirements.setdefault("unitName", getattr(userFunction, "__name__", "function"))
        super().__init__(**requirements)
        self.userFunction = userFunction
        self._args = args
        self._kwargs = kwargs

    @property
    def jobName(self) -> str:  # noqa: N802
        return str(getattr(self.userFunction, "__name__", "function"))

    def run(self, fileStore: Any) -> Any:  # noqa: N803
        return self.userFunction(*self._args, **self._kwargs)


class JobFunctionWrappingJob(FunctionWrappingJob):
    """A job that calls ``fn(job, *args, **kwargs)``; ``job.fileStore`` is the file store."""

    def run(self, fileStore: Any) -> Any:  # noqa: N803
        return self.userFunction(self, *self._args, **self._kwargs)


class EncapsulatedJob(Job):
    """Wraps a job so that what follows the wrapper runs after the job's whole subtree."""

    def __init__(self, job: Job, unitName: str | None = None) -> None:  # noqa: N803
        super().__init__(
            unitName=unitName or f"encapsulated {job.displayName}",
            local=True,
            cores=0,
            memory=0,
            disk=0,
        )
        self.encapsulatedJob = job
        Job.addChild(self, job)
        self.encapsulatedFollowOn = Job(local=True, cores=0, memory=0, disk=0)
        Job.addFollowOn(self, self.encapsulatedFollowOn)

    def addChild(self, childJob: Job) -> Job:  # noqa: N802, N803
        return Job.addChild(self.encapsulatedFollowOn, childJob)

    def addService(self, service: Job.Service, parentService: Any = None) -> Promise:  # noqa: N802, N803
        return Job.addService(self.encapsulatedFollowOn, service)

    def rv(self, *path: Any) -> Promise:
        return self.encapsulatedJob.rv(*path)


def run_python_job(ctx: Any, job: Job) -> Any:
    """Executor of Python API jobs: run the job, add what it added as new nodes."""
    job._fileStore = ctx.file_store
    job._ctx = ctx
    value = job.run(ctx.file_store)
    seen: dict[str, JobNode] = {}
    for child in job._children:
        ctx.add_child(child._to_node(seen))
    for followon in job._followons:
        ctx.add_followon(followon._to_node(seen))
    for svc, sid in job._services:
        ctx.add_service(
            JobNode(
                executor="runner.api.job:run_service",
                payload=svc,
                name=type(svc).__name__,
                id=sid,
                resources=ResourceSpec(svc.cores, svc.memory, svc.disk),
            )
        )
    return value


class _ServiceHost:
    def __init__(self, ctx: Any) -> None:
        self.fileStore = ctx.file_store
        self.jobStoreID = ctx.job_id

    def log(self, text: str, level: int = logging.INFO) -> None:
        self.fileStore.logToMaster(text, level)


def run_service(ctx: Any, service: Job.Service) -> Any:
    """Executor of services: start, report the start value, check until told to stop."""
    from runner.model.promise import dumps

    store = ctx.file_store.store
    host = _ServiceHost(ctx)
    value = service.start(host)
    data, promises = dumps(value)
    if promises:
        raise ValueError("a service's start() cannot return promises")
    store.write_shared(names.service_started(ctx.job_id), data)
    stop_flag = names.service_stop(ctx.job_id)
    try:
        while not store.shared_exists(stop_flag):
            if service.check() is False:
                raise RuntimeError(f"service {type(service).__name__} failed its check")
            time.sleep(0.1)
    finally:
        service.stop(host)
        store.delete_shared(stop_flag)
        store.delete_shared(names.service_started(ctx.job_id))
    return value
