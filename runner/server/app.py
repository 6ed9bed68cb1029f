"""The HTTP side of ``toil server``: WES 1.1.0 under ``/ga4gh/wes/v1``, and the web page.

Starlette routes; every error is a WES ``ErrorResponse`` (``msg``, ``status_code``). With a
token configured, every ``/ga4gh/wes/v1`` endpoint but ``service-info`` wants
``Authorization: Bearer TOKEN`` (401 otherwise). The web page's HTML and script hold no
data and are served to anyone; the page asks for the token and sends it with its calls.

Beyond WES, under the same prefix and authentication: ``/runs/ID/stdout`` and
``/runs/ID/stderr`` (the engine's output), ``/runs/ID/tasks/TASK/log`` (a job's log),
``/runs/ID/outputs/PATH`` (a file of the run's outputs), ``/runs/ID/timeline`` (the run
page's data), ``/runs/ID/report`` (the run report of ``runner.cli.report``), ``/version`` (a number that changes whenever a run does: the page polls it).
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runner.errors import MoilError
from runner.server import page, views
from runner.server.config import ServerConfig, token_matches
from runner.server.outputs import read_outputs, resolve_output, with_exported, with_urls
from runner.server.s3state import read_exported
from runner.server.scheduler import Scheduler
from runner.server.state import RunRecord, State
from runner.server.store import open_store, report_html, run_progress
from runner.server.submit import Attachment, SubmitError, accept
from runner.server.submit import Request as RunRequest
from runner.server.tasks import Task, log_text, read_tasks

log = logging.getLogger(__name__)
API = views.API
DEFAULT_PAGE = 100
MAX_PAGE = 1000
#: most tasks a RunLog lists in its (deprecated) task_logs
RUNLOG_TASKS = 1000
#: finished runs whose task lists are kept in memory (most recently asked for)
CACHED_RUNS = 64


class BodyTooLarge(MoilError):
    """The request's body passed the server's limit."""


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _error(message: str, status: int) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(views.error(message, status), status_code=status, headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + API


class Guard:
    """ASGI middleware: the bearer token, and the size limit of a submission's body."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if (
            self.config.token
            and path.startswith(API)
            and path != f"{API}/service-info"
            and scope["method"] != "OPTIONS"
        ):
            given = _bearer(scope)
            if given is None or not token_matches(self.config.token, given):
                why = "missing bearer token" if given is None else "wrong bearer token"
                await _error(f"unauthorized: {why} (Authorization: Bearer TOKEN)", 401)(
                    scope, receive, send
                )
                return
        if scope["method"] == "POST" and path == f"{API}/runs":
            limit = self.config.max_upload + (1 << 20)  # room for the form's other fields
            length = _content_length(scope)
            if length is not None and length > limit:
                await _error(
                    f"the request is larger than the server's limit of "
                    f"{self.config.max_upload} bytes",
                    413,
                )(scope, receive, send)
                return
            receive = _counting(receive, limit)
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = bytes(value).decode("latin-1").strip()
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
            return ""
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> MutableMapping[str, Any]:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge()
        return message

    return counted


def build_app(config: ServerConfig, scheduler: Scheduler) -> Starlette:
    """The ASGI application; starts the scheduler at startup and stops it at shutdown."""
    handlers = Handlers(config, scheduler)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        await run_in_threadpool(scheduler.start)
        try:
            yield
        finally:
            await run_in_threadpool(scheduler.stop)

    routes = [
        Route("/", page.index),
        Route("/runs/{run_id}", page.run_page),
        Route("/static/moil-wes.js", page.script),
        Route(f"{API}/service-info", handlers.service_info),
        Route(f"{API}/version", handlers.version),
        Route(f"{API}/overview", handlers.overview),
        Route(f"{API}/runs", handlers.runs, methods=["GET", "POST"]),
        Route(f"{API}/runs/{{run_id}}", handlers.run_log),
        Route(f"{API}/runs/{{run_id}}/status", handlers.status),
        Route(f"{API}/runs/{{run_id}}/cancel", handlers.cancel, methods=["POST"]),
        Route(f"{API}/runs/{{run_id}}/tasks", handlers.list_tasks),
        Route(f"{API}/runs/{{run_id}}/tasks/{{task_id}}", handlers.get_task),
        Route(f"{API}/runs/{{run_id}}/tasks/{{task_id}}/log", handlers.task_log),
        Route(f"{API}/runs/{{run_id}}/timeline", handlers.timeline),
        Route(f"{API}/runs/{{run_id}}/report", handlers.report),
        Route(f"{API}/runs/{{run_id}}/stdout", handlers.stdout),
        Route(f"{API}/runs/{{run_id}}/stderr", handlers.stderr),
        Route(f"{API}/runs/{{run_id}}/outputs/{{path:path}}", handlers.output_file),
    ]
    middleware = [Middleware(Guard, config=config)]
    if config.cors:
        origins = [o.strip() for o in config.cors_origins.split(",") if o.strip()]
        middleware.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=origins or ["*"],
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
            ),
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_allowed, Exception: _crashed},
    )
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(f"not found: {request.url.path}", 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    response = _error(f"method {request.method} is not allowed on {request.url.path}", 405)
    allow = (getattr(exc, "headers", None) or {}).get("Allow")
    if allow:
        response.headers["Allow"] = allow
    return response


async def _crashed(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(f"internal error: {type(exc).__name__}", 500)


Endpoint = Callable[[Request], Awaitable[Response]]


class Handlers:
    """The endpoints (sync ones run in Starlette's thread pool)."""

    def __init__(self, config: ServerConfig, scheduler: Scheduler) -> None:
        self.config = config
        self.scheduler = scheduler
        self.progress: dict[str, dict[str, int]] = {}
        self.finished_tasks: OrderedDict[str, list[Task]] = OrderedDict()

    def _record(self, request: Request) -> RunRecord | None:
        return self.scheduler.get(request.path_params["run_id"])

    def service_info(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return _json(views.service_info(self.scheduler.counts(), bool(self.config.token), base))

    def version(self, request: Request) -> Response:
        return _json({"version": self.scheduler.version})

    def overview(self, request: Request) -> Response:
        """The web page's list: every run with its workflow, times and progress."""
        return _json({"runs": [self._overview(r) for r in self.scheduler.listing()]})

    def _overview(self, record: RunRecord) -> dict[str, Any]:
        url = str(record.request.get("workflow_url", ""))
        progress = self.progress.get(record.run_id)
        if progress is None and record.state is not State.QUEUED:
            progress = run_progress(self.scheduler.files(record.run_id))
            if record.state.terminal:
                self.progress[record.run_id] = progress
        return {
            "run_id": record.run_id,
            "state": str(record.state),
            "workflow": url.rsplit("/", 1)[-1] or url,
            "type": record.workflow_type,
            "submitted": record.submitted,
            "start": record.start_time,
            "end": record.end_time,
            "progress": progress,
        }

    async def runs(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.submit(request)
        return await run_in_threadpool(self.list_runs, request)

    def list_runs(self, request: Request) -> Response:
        size = _page_size(request.query_params.get("page_size"))
        if size is None:
            return _error("page_size must be a whole number (a 64-bit integer)", 400)
        runs = self.scheduler.listing()
        token = request.query_params.get("page_token")
        start = 0
        if token:  # the last run of the page before; one this server never gave: no more
            ids = [r.run_id for r in runs]
            start = ids.index(token) + 1 if token in ids else len(runs)
        page = runs[start : start + size]
        more = start + size < len(runs)
        return _json(
            {
                "runs": [views.run_summary(r) for r in page],
                "next_page_token": page[-1].run_id if more and page else "",
            }
        )

    async def submit(self, request: Request) -> Response:
        try:
            run_request = await _read_request(request)
        except BodyTooLarge:
            return _error(
                f"the request is larger than the server's limit of {self.config.max_upload} bytes",
                413,
            )
        except SubmitError as exc:
            return _error(str(exc), exc.status)
        run_id = uuid.uuid4().hex
        files = self.scheduler.files(run_id)
        try:
            accepted = await accept(run_request, files, self.config)
        except SubmitError as exc:
            return _error(str(exc), exc.status)
        finally:
            for attachment in run_request.attachments:
                attachment.stream.close()
        record = RunRecord(
            run_id=run_id,
            state=State.QUEUED,
            request=accepted.request,
            workflow_type=accepted.workflow_type,
            argv=accepted.argv,
            system_logs=accepted.notes,
        )
        await run_in_threadpool(self.scheduler.add, record)
        return _json({"run_id": run_id})

    def run_log(self, request: Request) -> Response:
        record = self._record(request)
        if record is None:
            return _unknown_run(request)
        files = self.scheduler.files(record.run_id)
        base = _base(request)
        outputs = None
        if record.state is State.COMPLETE or record.state.terminal:
            outputs = read_outputs(files, record.workflow_type)
            if outputs is not None and record.workflow_type == "CWL":
                outputs = with_urls(outputs, files.outdir, f"{base}/runs/{record.run_id}/outputs")
            exported = read_exported(files.root)
            if outputs is not None and exported is not None:
                outputs = with_exported(outputs, files.outdir, exported)
        tasks = self._tasks(record)
        return _json(
            views.run_log(record, base, outputs, None if tasks is None else tasks[:RUNLOG_TASKS])
        )

    def status(self, request: Request) -> Response:
        record = self._record(request)
        if record is None:
            return _unknown_run(request)
        return _json({"run_id": record.run_id, "state": str(record.state)})

    def cancel(self, request: Request) -> Response:
        record = self.scheduler.cancel(request.path_params["run_id"])
        if record is None:
            return _unknown_run(request)
        return _json({"run_id": record.run_id})

    def _tasks(self, record: RunRecord) -> list[Task] | None:
        """The run's tasks; a finished run's are read once (its store no longer changes)."""
        cached = self.finished_tasks.get(record.run_id)
        if cached is not None:
            self.finished_tasks.move_to_end(record.run_id)
            return cached
        store = open_store(self.scheduler.files(record.run_id))
        if store is None:
            return None
        tasks = read_tasks(store)
        if record.state.terminal:
            self.finished_tasks[record.run_id] = tasks
            while len(self.finished_tasks) > CACHED_RUNS:
                self.finished_tasks.popitem(last=False)
        return tasks

    def list_tasks(self, request: Request) -> Response:
        record = self._record(request)
        if record is None:
            return _unknown_run(request)
        size = _page_size(request.query_params.get("page_size"))
        if size is None:
            return _error("page_size must be a whole number (a 64-bit integer)", 400)
        tasks = self._tasks(record) or []
        token = request.query_params.get("page_token") or "0"
        start = int(token) if token.isdigit() else len(tasks)
        page = tasks[start : start + size]
        more = start + size < len(tasks)
        base = _base(request)
        return _json(
            {
                "task_logs": [views.task_log(t, record, base) for t in page],
                "next_page_token": str(start + size) if more else "",
            }
        )

    def _task(self, request: Request) -> tuple[RunRecord | None, Task | None]:
        record = self._record(request)
        if record is None:
            return None, None
        wanted = request.path_params["task_id"]
        for task in self._tasks(record) or []:
            if task.id == wanted:
                return record, task
        return record, None

    def get_task(self, request: Request) -> Response:
        record, task = self._task(request)
        if record is None:
            return _unknown_run(request)
        if task is None:
            return _error(f"run {record.run_id} has no task {request.path_params['task_id']}", 404)
        return _json(views.task_log(task, record, _base(request)))

    def task_log(self, request: Request) -> Response:
        record = self._record(request)
        if record is None:
            return _unknown_run(request)
        store = open_store(self.scheduler.files(record.run_id))
        data = log_text(store, request.path_params["task_id"]) if store else None
        if data is None:
            return _error("that task has no log (yet)", 404)
        return Response(data, media_type="text/plain; charset=utf-8")

    def timeline(self, request: Request) -> Response:
        record = self._record(request)
        if record is None:
            return _unknown_run(request)
        return _json(views.timeline(self._tasks(record) or []))

    def report(self, request: Request) -> Response:
        record = self._record(request)
        if record is None:
            return _unknown_run(request)
        page = report_html(self.scheduler.files(record.run_id))
        if page is None:
            return _error("the run has no report yet: its leader has not started", 404)
        return HTMLResponse(page)

    def stdout(self, request: Request) -> Response:
        return self._run_file(request, "stdout")

    def stderr(self, request: Request) -> Response:
        return self._run_file(request, "stderr")

    def _run_file(self, request: Request, which: str) -> Response:
        record = self._record(request)
        if record is None:
            return _unknown_run(request)
        files = self.scheduler.files(record.run_id)
        path = files.stdout if which == "stdout" else files.stderr
        if not path.exists():
            return Response(b"", media_type="text/plain; charset=utf-8")
        return FileResponse(path, media_type="text/plain; charset=utf-8")

    def output_file(self, request: Request) -> Response:
        record = self._record(request)
        if record is None:
            return _unknown_run(request)
        files = self.scheduler.files(record.run_id)
        target = resolve_output(files.outdir, request.path_params["path"])
        if target is None or not target.is_file():
            return _error("no such output file", 404)
        return FileResponse(target)


def _unknown_run(request: Request) -> Response:
    return _error(f"no run {request.path_params['run_id']!r} on this server", 404)


def _page_size(raw: str | None) -> int | None:
    """The page size asked for (WES: an int64; 0 or less means the default), at most
    MAX_PAGE; None if it is not an int64 (an empty value is not)."""
    if raw is None:
        return DEFAULT_PAGE
    try:
        size = int(raw)
    except ValueError:
        return None
    if not -(2**63) <= size < 2**63:
        return None
    return min(size, MAX_PAGE) if size >= 1 else DEFAULT_PAGE


async def _read_request(request: Request) -> RunRequest:
    """The RunRequest of a multipart form (WES) or a JSON body."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError as exc:
            raise SubmitError(f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise SubmitError("the body must be a RunRequest object")
        return RunRequest(fields=body)
    if not kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise SubmitError("send the RunRequest as multipart/form-data (or JSON)")
    try:
        form = await request.form(max_files=10_000, max_fields=1000, max_part_size=64 << 20)
    except BodyTooLarge:
        raise
    except Exception as exc:  # noqa: BLE001 (the parser's errors: a malformed body)
        raise SubmitError(f"the form cannot be read: {exc}") from None
    fields: dict[str, Any] = {}
    attachments: list[Attachment] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key == "workflow_attachment":
                attachments.append(Attachment(value.filename or "", value.file))
            elif key in ("workflow_params", "tags", "workflow_engine_parameters"):
                fields[key] = (await value.read()).decode(errors="replace")
            continue
        fields[key] = value
    return RunRequest(fields=fields, attachments=attachments)
