"""The settings of ``toil server`` (its options), checked once at start."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import UsageError

TOKEN_ENV = "TOIL_SERVER_TOKEN"
#: most bytes of all attachments of one request (``--max_attachment_size``)
DEFAULT_MAX_UPLOAD = 1 << 30


@dataclass(frozen=True)
class ServerConfig:
    """What a server serves and where it keeps things.

    ``work_dir`` holds one directory per run (its attachments, job store, work dir, outputs,
    logs); ``state_dir`` the runs' records (``runs/ID.json``) and the server's lock, or the
    lock alone when ``state_url`` (``s3://BUCKET/PREFIX``) keeps the records
    (``runner.server.s3state``). ``dest_bucket_base``: where finished runs' outputs are
    uploaded (``s3://BUCKET/PREFIX``). ``engine_options`` are the
    ``--opt`` defaults given to every run (the server's own choice: not checked against the
    allow-list a request's options are). ``token`` protects every endpoint but service-info
    when set. ``local_inputs`` are host directories whose files a request may name as
    inputs by path (by default none: inputs are attachments or remote URLs)."""

    work_dir: Path
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    engine_options: tuple[str, ...] = ()
    dest_bucket_base: str | None = None
    state_url: str | None = None
    cors: bool = False
    cors_origins: str = "*"
    swagger_ui: bool = False
    token: str | None = None
    max_upload: int = DEFAULT_MAX_UPLOAD
    local_inputs: tuple[Path, ...] = ()
    validate_timeout: float = 120.0
    #: seconds between the scheduler's looks at running processes
    poll_interval: float = 0.2
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"


def read_token(token_file: str | None) -> str | None:
    """The bearer token: the first line of ``token_file``, else ``$TOIL_SERVER_TOKEN``, else
    None (no authentication). An empty or unreadable file is a UsageError."""
    if token_file:
        try:
            text = Path(token_file).read_text().strip()
        except OSError as exc:
            raise UsageError(f"--token_file {token_file}: {exc.strerror}") from None
        if not text:
            raise UsageError(f"--token_file {token_file} is empty; put the token in it")
        return text.splitlines()[0].strip()
    value = os.environ.get(TOKEN_ENV, "").strip()
    return value or None


def token_matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two tokens."""
    return secrets.compare_digest(expected.encode(), given.encode())


def check_places(work_dir: Path, state_dir: Path, local_inputs: tuple[Path, ...]) -> None:
    """The directories must be usable, and no allowed input directory may hold the server's
    own state or its runs (a request could read other runs' files through it)."""
    for name, path in (("--work_dir", work_dir), ("--state_store", state_dir)):
        if path.exists() and not path.is_dir():
            raise UsageError(f"{name} {path} is a file; name a directory")
    for allowed in local_inputs:
        if not allowed.is_dir():
            raise UsageError(f"--local_inputs {allowed} is not a directory")
        for own in (work_dir, state_dir):
            if _overlaps(allowed, own):
                raise UsageError(
                    f"--local_inputs {allowed} overlaps the server's own {own}; allow a "
                    "directory that holds only inputs"
                )


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents
