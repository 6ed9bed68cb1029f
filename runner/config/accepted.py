"""Toil's core options that moil takes so that Toil command lines work, but that do not do
here what they do in Toil: cluster autoscaling, parts moil does not have (service-job
deadlock checks, import workers, server-side encryption keys, Dockstore metrics...), and
tuning knobs of Toil's own machinery.

Each says what it does here (``Option.effect``); a run that gives one a value other than its
default says so at WARNING, once per run (``warn_effects``). None is silently ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from backends.settings import Settings, declared, setting

log = logging.getLogger("runner.config")

NO_AUTOSCALING = "moil does not provision or scale a cluster: no effect"


def _accepted(default: Any, *flags: str, effect: str, **option: Any) -> Any:
    return setting(default, *flags, effect=effect, **option)


def _toggle(*flags: str, effect: str, default: bool = False, **option: Any) -> Any:
    """A Toil ``--flag BOOL`` option (also ``--flag`` alone)."""
    return setting(default, *flags, bare=True, effect=effect, metavar="BOOL", **option)


@dataclass(frozen=True)
class AcceptedOptions(Settings):
    """Toil's options with a stated effect here (see the module docstring)."""

    kind: ClassVar[str] = "Toil compatibility"

    coordination_dir: str | None = _accepted(
        None,
        "--coordinationDir",
        env="TOIL_COORDINATION_DIR",
        effect="moil keeps its state and locks in the job store: no effect",
    )
    run_dir: str | None = _accepted(
        None,
        "--runDir",
        env="TOIL_RUN_DIR",
        effect="not used yet: give --jobStore and --workDir instead",
    )
    no_std_out_err: bool = _accepted(
        False,
        "--noStdOutErr",
        effect="batch systems' stdout/stderr files are still kept in the work directory",
    )
    cluster_stats: str | None = _accepted(None, "--clusterStats", bare=".", effect=NO_AUTOSCALING)
    disable_hot_deployment: bool = _accepted(
        False,
        "--disableHotDeployment",
        effect="moil never copies a script's code: workers import it from the same path",
    )
    disable_auto_deployment: bool = _toggle(
        "--disableAutoDeployment",
        effect="moil never copies a script's code: workers import it from the same path",
    )
    manual_mem_args: bool = _accepted(
        False,
        "--manualMemArgs",
        effect="Grid Engine memory requests follow --gridEngineMemoryResources",
    )
    run_local_jobs_on_workers: bool = _accepted(
        False,
        "--runLocalJobsOnWorkers",
        "--runCwlInternalJobsOnWorkers",
        effect="moil's local jobs (expressions, scatter and gather steps) always run in the "
        "leader: no effect",
    )
    coalesce_status_calls: bool = _accepted(
        False, "--coalesceStatusCalls", effect="status calls are always batched: no effect"
    )
    state_polling_timeout: float = _accepted(
        1200.0,
        "--statePollingTimeout",
        effect="not used yet: a scheduler query that fails is retried as before",
    )
    memory_is_product: bool = _accepted(
        False, "--memoryIsProduct", effect="memory requests are per job, not per core"
    )
    scale: float = _accepted(
        1.0, "--scale", effect="not used yet: cores are requested as jobs ask for them"
    )
    symlink_job_store_reads: bool = _toggle(
        "--symlinkJobStoreReads",
        default=True,
        effect="reads from a file: job store are hard links or copies, never symlinks",
    )
    provisioner: str | None = _accepted(
        None, "--provisioner", "-p", choices=("aws", "gce", "None"), effect=NO_AUTOSCALING
    )
    node_types: str | None = _accepted(None, "--nodeTypes", effect=NO_AUTOSCALING)
    max_nodes: str | None = _accepted(None, "--maxNodes", effect=NO_AUTOSCALING)
    min_nodes: str | None = _accepted(None, "--minNodes", effect=NO_AUTOSCALING)
    target_time: float | None = _accepted(None, "--targetTime", effect=NO_AUTOSCALING)
    beta_inertia: float | None = _accepted(None, "--betaInertia", effect=NO_AUTOSCALING)
    scale_interval: float | None = _accepted(None, "--scaleInterval", effect=NO_AUTOSCALING)
    preemptible_compensation: float | None = _accepted(
        None, "--preemptibleCompensation", "--preemptableCompensation", effect=NO_AUTOSCALING
    )
    node_storage: int | None = _accepted(None, "--nodeStorage", effect=NO_AUTOSCALING)
    node_storage_overrides: str | None = _accepted(
        None, "--nodeStorageOverrides", effect=NO_AUTOSCALING
    )
    metrics: bool = _toggle("--metrics", effect=NO_AUTOSCALING)
    assume_zero_overhead: bool = _toggle("--assumeZeroOverhead", effect=NO_AUTOSCALING)
    max_service_jobs: int | None = _accepted(
        None, "--maxServiceJobs", effect="services are not counted apart from other jobs"
    )
    max_preemptible_service_jobs: int | None = _accepted(
        None, "--maxPreemptibleServiceJobs", effect="services are not counted apart from other jobs"
    )
    deadlock_wait: float | None = _accepted(
        None, "--deadlockWait", effect="moil does not check for service deadlocks"
    )
    deadlock_check_interval: float | None = _accepted(
        None, "--deadlockCheckInterval", effect="moil does not check for service deadlocks"
    )
    double_time: bool = _toggle(
        "--doubleTime", effect="not used yet: a retried job asks for the same walltime"
    )
    unlimited_preemptible_retries: bool = _toggle(
        "--enableUnlimitedPreemptibleRetries",
        "--enableUnlimitedPreemptableRetries",
        effect="every failure counts towards --retryCount",
    )
    rescue_jobs_frequency: float | None = _accepted(
        None, "--rescueJobsFrequency", effect="lost jobs are found at every status poll: no effect"
    )
    job_store_timeout: float | None = _accepted(
        None,
        "--jobStoreTimeout",
        effect="a job's result is read when the batch system says it ended: no effect",
    )
    write_messages: str | None = _accepted(
        None, "--writeMessages", effect="moil has no message bus: nothing is written"
    )
    disable_checksum_verification: bool = _toggle(
        "--disableJobStoreChecksumVerification",
        effect="stored files are always checked against their checksums",
    )
    sse_key: str | None = _accepted(
        None, "--sseKey", effect="not yet: S3 job stores use the bucket's own encryption"
    )
    service_polling_interval: float | None = _accepted(
        None, "--servicePollingInterval", effect="no effect on moil's services"
    )
    force_docker_appliance: bool = _toggle("--forceDockerAppliance", effect=NO_AUTOSCALING)
    status_wait: float | None = _accepted(
        None, "--statusWait", effect="the progress bar and the log say what runs: no effect"
    )
    publish_workflow_metrics: str | None = _accepted(
        None,
        "--publishWorkflowMetrics",
        choices=("all", "current", "no"),
        effect="moil publishes nothing to Dockstore",
    )
    disable_worker_output_capture: bool = _accepted(
        False,
        "--disableWorkerOutputCapture",
        effect="not yet: a job's output still goes to its log",
    )
    run_imports_on_workers: bool = _accepted(
        False,
        "--runImportsOnWorkers",
        "--run-imports-on-workers",
        effect="inputs are imported by the leader (once each)",
    )
    import_workers_batch_size: str | None = _accepted(
        None,
        "--importWorkersBatchSize",
        "--import-workers-batch-size",
        effect="inputs are imported by the leader (once each)",
    )
    import_workers_disk: str | None = _accepted(
        None,
        "--importWorkersDisk",
        "--import-workers-disk",
        effect="inputs are imported by the leader (once each)",
    )
    import_workers_threshold: str | None = _accepted(
        None,
        "--importWorkersThreshold",
        "--import-workers-threshold",
        hidden=True,
        effect="inputs are imported by the leader (once each)",
    )


def warn_effects(settings: Settings | None) -> None:
    """Say at WARNING what each option of ``settings`` that was given a value other than its
    default does here (``Option.effect``): one line per option (the commands call it once
    per run)."""
    if settings is None:
        return
    for item in declared(type(settings)):
        option = item.option
        if option.effect and getattr(settings, item.name) != item.default:
            flag = option.flags[0] if option.flags else option.all_flags[0]
            log.warning("%s: %s", flag, option.effect)
