"""``toil server``: a GA4GH WES 1.1.0 server whose runs are real moil runs.

Pieces (each its own module):

- ``config``: the server's settings (``toil server`` options), typed.
- ``state``: each run's persisted record (``RunRecord``, one JSON file per run in the state
  store), the WES states, and what a run's directory holds.
- ``submit``: a ``POST /runs`` request turned into a run: attachments staged inside the run's
  directory, engine options checked against an allow-list, input locations confined, the
  document validated by the engine before the request is accepted.
- ``launch``: how a run's process is started, watched and stopped (``Launcher``); the
  default starts the real command (``toil-cwl-runner``, ``toil-wdl-runner``, ``python
  SCRIPT``) under ``runner.server.supervise``, which records its exit code.
- ``scheduler``: the queue (at most ``--workers`` runs at once), state changes, cancel, and
  the reconciliation of every run when the server starts again.
- ``tasks``: a run's jobs, read from its job store (read-only) as WES tasks.
- ``app``: the HTTP routes (Starlette), authentication, errors; ``page``: the web page.

The server never imports a language front end: a run is a child process of the real
command, so a server killed with SIGKILL leaves the runs and their stores as they are.
"""
