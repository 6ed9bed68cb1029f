"""Every name the leader, its workers, the front ends and the utilities use in a job store.

A job store holds, besides its journal and its files, *shared blobs* by name. These are
all of them; nothing else picks a shared name:

- ``CONFIG``: the run's configuration (``runner.config.runconfig.encode``), written by the
  leader before any job runs, read by every worker and by ``toil status``/``debug-job``.
- ``STATUS``: how the last leader is doing or how it left (a pickled dict: ``state`` of
  ``running``/``succeeded``/``failed``, ``pid``, ``host``, ``time``).
- ``SNAPSHOT``: the leader's JSON summary for ``toil status`` (``runner.engine.snapshot``).
- ``KILL_REQUEST``: ``toil kill`` asks the leader to stop by writing it.
- ``DEFINITIONS``: the front end's record of the document's work-node definitions as the
  run started, so that ``--restart`` after an edit knows which finished jobs still hold.
- ``RUN_INFO``: with ``--stats``, the run's command line and versions
  (``runner.engine.runinfo``), for ``toil report``.
- ``service_started(id)``: a service's ``start()`` value (pickled), written by the
  worker that runs it; ``service_stop(id)``: the leader tells the service to stop.
- ``language_blob(language, name)``: a front end's own blobs (``cwl-...``, ``wdl-...``),
  in a namespace of their own so no two front ends, nor the core, can collide.

A job's input, result and log are addressed by its ID through the store's contract
(``write_job_input``, ``write_job_result``, ``save_job_log``: the hand-off in
``runner.engine.handoff``); the store decides where they live. A job's temporary
directory in the work dir is named by ``job_dir_prefix``.
"""

from __future__ import annotations

import re

CONFIG = "config"
STATUS = "status"
SNAPSHOT = "status-snapshot"
KILL_REQUEST = "kill-request"
RUN_INFO = "run-info"
DEFINITIONS = "definitions"

_LANGUAGE = re.compile(r"^[a-z][a-z0-9]*$")


def service_started(job_id: str) -> str:
    """The blob holding the start value of the service job ``job_id``."""
    return f"service-started-{job_id}"


def service_stop(job_id: str) -> str:
    """The blob whose existence tells the service job ``job_id`` to stop."""
    return f"service-stop-{job_id}"


def language_blob(language: str, name: str) -> str:
    """The shared name of a front end's blob ``name`` (e.g. ``wdl``, ``input-paths``)."""
    if not _LANGUAGE.match(language) or language in ("config", "status", "service", "kill"):
        raise ValueError(f"{language!r} cannot name a front end's blobs")
    return f"{language}-{name}"


def job_dir_prefix(job_id: str) -> str:
    """How the temporary directories of job ``job_id`` start in the work dir: ``moil-``
    and the first 8 characters of the ID, then ``-`` (``toil clean`` finds them so)."""
    return f"moil-{job_id[:8]}-"


def job_dir_owner(name: str) -> str | None:
    """The 8-character job ID prefix in a directory name ``job_dir_prefix`` made, or None
    for a name it did not make."""
    if name.startswith("moil-") and name[13:14] == "-":
        return name[5:13]
    return None
