"""Output files named by URL: a WDL output ``File f = "https://host/x"`` (of a task or a
workflow) is fetched into the job store once and exported like any other output file.

A URL that answers 404 Not Found or 410 Gone is a missing file: ``None``, which an optional
output (``File?``) takes as null and a required one reports as an error. Any other failure (a
server error, 402, 418, a refused connection, a scheme nothing can fetch) fails the output
with ``FetchFailed``, naming the URL and the answer.
"""

from __future__ import annotations

import urllib.error
import urllib.parse

from languages.wdl.values import FileRef, group_of_dir
from runner.errors import PermanentJobError
from runner.jobenv.filestore import FileStore

#: HTTP statuses that mean "no such file" (a missing optional output is null)
MISSING = frozenset({404, 410})


class FetchFailed(PermanentJobError):
    """An output URL could not be fetched, or a required one has no file."""


class UrlFetcher:
    """Fetches output URLs into a job store, each once."""

    def __init__(self, file_store: FileStore) -> None:
        self.file_store = file_store
        self.done: dict[str, str | None] = {}
        #: the status of each URL that had no file
        self.status: dict[str, int] = {}

    def get(self, url: str, what: str) -> str | None:
        """The file reference of ``url``'s content, or None if the server says there is none
        (``what`` names the output in messages)."""
        if url not in self.done:
            self.done[url] = self._fetch(url, what)
        return self.done[url]

    def missing(self, url: str, what: str) -> FetchFailed:
        """The error for a required output whose URL had no file."""
        return FetchFailed(f"{what}: {url} answered {self.status[url]}: there is no such file")

    def _fetch(self, url: str, what: str) -> str | None:
        try:
            file_id = self.file_store.import_url(url)
        except urllib.error.HTTPError as exc:
            if exc.code in MISSING:
                self.status[url] = exc.code
                return None
            raise FetchFailed(f"{what}: {url} answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise FetchFailed(f"{what}: cannot fetch {url}: {reason}") from None
        parts = urllib.parse.urlparse(url)
        directory, _, name = parts.path.rpartition("/")
        group = group_of_dir(f"{parts.scheme}://{parts.netloc}{directory}")
        name = urllib.parse.unquote(name).replace("/", "_")
        return FileRef(str(file_id), group, name or "download").uri()
