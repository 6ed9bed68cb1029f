"""``toil debug-file JOBSTORE``: look at and copy out the files a run keeps in its store.

Toil's flags: ``--listFilesInJobStore true`` prints each stored file's ID, size and name (on
stdout, and the names into ``jobstore_files.txt`` in the current directory, Toil's file);
``--fetch PATTERN...`` copies the files whose name (or ID) matches a glob pattern
(``'*.txt'``, ``data.txt``) into ``--localFilePath`` (default: the current directory);
``--fetchEntireJobStore true`` copies them all; ``--useSymlinks true`` makes symbolic links
to the stored files instead of copies where the store is local (else it copies). A file is
never written over: a name taken in ``--localFilePath`` gets the next free one
(``data.txt_2``), with a note on stderr. Only reads the store.

Exit codes: 0; 1 when a ``--fetch`` pattern matches no file; 2 for a store that does not
exist or a bad value.
"""

from __future__ import annotations

import fnmatch
import os

import typer

from backends.settings import parse_bool
from runner.errors import UsageError

LISTING = "jobstore_files.txt"


def _flag(name: str, text: str | None) -> bool:
    if text is None:
        return False
    try:
        return parse_bool(text)
    except ValueError:
        raise UsageError(f"{name} {text}: use true or false") from None


def debug_file(
    job_store: str = typer.Argument(..., metavar="JOBSTORE", help="the run's job store"),
    local_file_path: str = typer.Option(
        ".", "--localFilePath", metavar="DIR", help="Where fetched files are put."
    ),
    fetch: list[str] | None = typer.Option(  # noqa: B008 (typer reads it once)
        None,
        "--fetch",
        metavar="PATTERN...",
        help="Copy out the stored files whose name matches these glob patterns ('*.txt').",
    ),
    list_files: str | None = typer.Option(
        None,
        "--listFilesInJobStore",
        metavar="BOOL",
        help="List the stored files (also into ./jobstore_files.txt, as Toil).",
    ),
    fetch_all: str | None = typer.Option(
        None, "--fetchEntireJobStore", metavar="BOOL", help="Copy out every stored file."
    ),
    use_symlinks: str | None = typer.Option(
        None,
        "--useSymlinks",
        metavar="BOOL",
        help="Make symbolic links to the stored files instead of copies, where possible.",
    ),
) -> None:
    """List a run's stored files, or copy some or all of them out."""
    try:
        code = _debug_file(
            job_store,
            local_file_path,
            fetch or [],
            _flag("--listFilesInJobStore", list_files),
            _flag("--fetchEntireJobStore", fetch_all),
            _flag("--useSymlinks", use_symlinks),
        )
    except UsageError as exc:
        typer.echo(f"toil debug-file: {exc}", err=True)
        raise typer.Exit(2) from None
    if code:
        raise typer.Exit(code)


def _debug_file(
    job_store: str, into: str, patterns: list[str], listing: bool, everything: bool, symlink: bool
) -> int:
    from backends.errors import BackendError, InvalidLocatorError
    from backends.jobstore.base import open_job_store

    try:
        store = open_job_store(job_store)
    except InvalidLocatorError as exc:
        raise UsageError(str(exc)) from None
    if not store.exists():
        raise UsageError(f"there is no job store at {job_store}")
    if not (patterns or everything or listing):
        raise UsageError(
            "say what to do: --listFilesInJobStore true, --fetch PATTERN... or "
            "--fetchEntireJobStore true"
        )
    store.open()
    try:
        files = sorted(store.list_files(), key=lambda f: (os.path.basename(f), f))
    except NotImplementedError:
        raise UsageError(f"the {type(store).__name__} store cannot list its files") from None
    code = 0
    if patterns or everything:
        if not os.path.isdir(into):
            raise UsageError(f"--localFilePath {into}: no such directory; create it first")
        chosen: dict[str, None] = {}
        for pattern in patterns if not everything else ["*"]:
            found = [f for f in files if _matches(f, pattern)]
            if not found:
                typer.echo(f"toil debug-file: no stored file matches {pattern!r}", err=True)
                code = 1
            chosen.update(dict.fromkeys(found))
        for file_id in chosen:
            try:
                dest = free_name(into, os.path.basename(file_id))
                store.export_local(file_id, dest, symlink=symlink)
            except BackendError as exc:
                typer.echo(f"toil debug-file: {file_id}: {exc}", err=True)
                code = 1
                continue
            typer.echo(f"{file_id} -> {dest}")
    if listing:
        with open(LISTING, "w", encoding="utf-8") as out:
            for file_id in files:
                out.write(os.path.basename(file_id) + "\n")
                typer.echo(f"{file_id}\t{store.file_size(file_id)}")
    return code


def _matches(file_id: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(os.path.basename(file_id), pattern) or fnmatch.fnmatchcase(
        file_id, pattern
    )


def free_name(into: str, name: str, *, note: bool = True) -> str:
    """``into/name``, or ``into/name_2``, ``_3`` ... if taken (``note``: say so on stderr)."""
    dest = os.path.join(into, name)
    number = 2
    while os.path.lexists(dest):
        dest = os.path.join(into, f"{name}_{number}")
        number += 1
    if number > 2 and note:
        typer.echo(f"toil debug-file: {os.path.join(into, name)} exists; writing {dest}", err=True)
    return dest
