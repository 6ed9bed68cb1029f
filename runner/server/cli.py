"""``toil server``: serve GA4GH WES 1.1.0 (and the web page) over moil runs.

Toil's options (``--host``, ``--port``, ``--workers``, ``--work_dir``, ``--state_store``,
``--opt``, ``--dest_bucket_base``, ``--cors``, ``--cors_origins``, ``--swagger_ui``,
``--bypass_celery``, ``--debug``, ``--version``) and moil's (``--token_file``,
``--local_inputs``, ``--max_attachment_size``). Exit code 0 when stopped by SIGINT or
SIGTERM, 2 for bad options or a state store another server holds.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

import typer

from runner import __version__
from runner.config.units import parse_size
from runner.errors import UsageError
from runner.server.config import ServerConfig, check_places, read_token
from runner.server.s3state import check_bucket

log = logging.getLogger(__name__)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"moil {__version__} (toil server: GA4GH WES 1.1.0)")
        raise typer.Exit()


def server(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    workers: int = typer.Option(
        2, "--workers", "-w", help="Runs at once; more submitted ones wait QUEUED."
    ),
    work_dir: str = typer.Option(
        "workflows", "--work_dir", help="Where each run gets its directory."
    ),
    state_store: str | None = typer.Option(
        None,
        "--state_store",
        help="Where runs' records are kept: a directory or s3://BUCKET\\[/PREFIX] "
        "(default: in --work_dir).",
    ),
    opt: list[str] | None = typer.Option(  # noqa: B008 (typer declares options so)
        None, "--opt", "-o", help="An engine option for every run (--opt=--logLevel=INFO)."
    ),
    dest_bucket_base: str | None = typer.Option(
        None,
        "--dest_bucket_base",
        help="Upload each finished run's outputs under s3://BUCKET\\[/PREFIX]/RUN_ID/.",
    ),
    cors: bool = typer.Option(False, "--cors", help="Allow cross-origin requests."),
    cors_origins: str = typer.Option(
        "*", "--cors_origins", help="Origins allowed with --cors (comma-separated)."
    ),
    swagger_ui: bool = typer.Option(False, "--swagger_ui", help="Toil's; moil has none."),
    bypass_celery: bool = typer.Option(
        False, "--bypass_celery", help="Toil's; moil has no Celery: always true."
    ),
    debug: bool = typer.Option(False, "--debug", help="Log at DEBUG level."),
    token_file: str | None = typer.Option(
        None,
        "--token_file",
        help="A file holding the bearer token every endpoint but service-info wants "
        "(else $TOIL_SERVER_TOKEN; neither: no authentication).",
    ),
    local_inputs: list[str] | None = typer.Option(  # noqa: B008 (as above)
        None,
        "--local_inputs",
        help="A host directory whose files a request may name as inputs by path.",
    ),
    max_attachment_size: str = typer.Option(
        "1G", "--max_attachment_size", help="Most bytes of one request's attachments."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Serve GA4GH WES 1.1.0 at /ga4gh/wes/v1, and a web page of the runs at /.

    (Over 60 lines only by its option declarations, which typer reads from the signature;
    the body is short.)"""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="[%(asctime)s] %(levelname)s %(message)s",
    )
    try:
        config = _config(
            host,
            port,
            workers,
            work_dir,
            state_store,
            opt or [],
            dest_bucket_base,
            cors,
            cors_origins,
            swagger_ui,
            token_file,
            local_inputs or [],
            max_attachment_size,
        )
    except UsageError as exc:
        typer.echo(f"toil server: {exc}", err=True)
        raise typer.Exit(2) from None
    del bypass_celery  # there is no Celery: runs are always "bypassed"
    if swagger_ui:
        log.warning("--swagger_ui: moil serves no Swagger UI; its web page is at /")
    lock = _lock_state(config)
    if lock is None:
        typer.echo(
            f"toil server: another server uses the state store {config.state_dir}; "
            "stop it, or give another --state_store",
            err=True,
        )
        raise typer.Exit(2)
    serve(config)


def _config(
    host: str,
    port: int,
    workers: int,
    work_dir: str,
    state_store: str | None,
    opt: list[str],
    dest_bucket_base: str | None,
    cors: bool,
    cors_origins: str,
    swagger_ui: bool,
    token_file: str | None,
    local_inputs: list[str],
    max_attachment_size: str,
) -> ServerConfig:
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if not 0 <= port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    state_url = None
    if state_store and "://" in state_store:
        check_bucket("--state_store", state_store)
        state_url, state_store = state_store, None
    if dest_bucket_base:
        check_bucket("--dest_bucket_base", dest_bucket_base)
    try:
        limit = parse_size(max_attachment_size)
    except ValueError as exc:
        raise UsageError(f"--max_attachment_size: {exc}") from None
    work = Path(work_dir).absolute()
    state = Path(state_store).absolute() if state_store else work / "state"
    allowed = tuple(Path(p).absolute() for p in local_inputs)
    check_places(work, state, allowed)
    for option in opt:
        if not option.startswith("-"):
            raise UsageError(f"--opt {option!r}: give an engine option, e.g. --opt=--logLevel=INFO")
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    return ServerConfig(
        work_dir=work,
        state_dir=state,
        host=host,
        port=port,
        workers=workers,
        engine_options=tuple(opt),
        dest_bucket_base=dest_bucket_base,
        state_url=state_url,
        cors=cors,
        cors_origins=cors_origins,
        swagger_ui=swagger_ui,
        token=read_token(token_file),
        max_upload=limit,
        local_inputs=allowed,
    )


_held: list[IO[str]] = []


def _lock_state(config: ServerConfig) -> IO[str] | None:
    """Hold the state store's lock for the life of this process (None if taken)."""
    stream = open(config.state_dir / "server.lock", "a+")  # noqa: SIM115 (held until exit)
    try:
        fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        stream.close()
        return None
    stream.seek(0)
    stream.truncate()
    stream.write(f"{os.getpid()}\n")
    stream.flush()
    _held.append(stream)
    return stream


def serve(config: ServerConfig) -> None:
    """Run the server until SIGINT or SIGTERM."""
    import uvicorn

    from runner.server.app import build_app
    from runner.server.launch import SubprocessLauncher
    from runner.server.scheduler import Scheduler
    from runner.server.store import store_status

    scheduler = Scheduler(config, SubprocessLauncher(), store_status)
    app = build_app(config, scheduler)
    where = f"http://{config.host}:{config.port}"
    log.info(
        "serving WES 1.1.0 at %s/ga4gh/wes/v1 and the runs' page at %s/ (work dir %s, "
        "%d run(s) at once, %s)",
        where,
        where,
        config.work_dir,
        config.workers,
        "bearer token required" if config.token else "no authentication",
    )
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        lifespan="on",
        access_log=False,
    )
