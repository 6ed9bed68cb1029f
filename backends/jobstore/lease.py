"""The lease on a job store: at most one live leader per store.

A leader takes its store's lease before it reads or writes anything there and holds it for
its whole run; a second leader (or ``toil clean``) that finds the lease held stops at once,
naming the holder. The lease must never outlive its holder for long, so a leader killed with
SIGKILL never blocks a restart:

- ``file:`` holds ``flock(LOCK_EX)`` on a file in the store, which the kernel drops when
  the process dies (on NFS, Linux maps flock to NFS locks, which the server drops when the
  client's lease lapses). It needs no renewal (``renew_every`` is None).
- ``memory:`` keeps the holder in the process's registry.
- A remote store (S3) keeps a *lease object* holding the holder's JSON, an owner token and
  an expiry a few tens of seconds ahead. It is taken with a conditional write (create it
  only if absent, or replace it only if it is the expired object that was read: S3's
  ``If-None-Match: *`` / ``If-Match: ETAG``), renewed by the holder every ``renew_every``
  seconds with a conditional write on its own version, and deleted on release. Expiry is
  judged by the store's clock (the object's ``Last-Modified``), not the reader's. A
  renewal that finds another version (the lease lapsed and was taken over) raises
  LeaseLostError, after which the old holder must stop without writing to the store.

A holder calls ``keep()`` from its main loop, and while it waits for anything long (cheap:
it renews only when due), and ``release()`` when done; ``with`` releases too.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a store's lease: what for (``owner``: the command, e.g. ``toil-cwl-runner``),
    where (host, pid), since when (``time.time()``), and until when unless renewed
    (``expires``; None for a lease that lasts as long as its process)."""

    owner: str
    host: str
    pid: int
    since: float
    expires: float | None = None

    def describe(self) -> str:
        """``toil-cwl-runner, pid 123 on host1, since 2026-11-28 10:00:03``."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        owner = f"{self.owner}, " if self.owner else ""
        return f"{owner}pid {self.pid} on {self.host}, since {when}"

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "since": self.since,
            "expires": self.expires,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeaseHolder:
        """The holder of ``to_json``. Raises KeyError, TypeError or ValueError."""
        expires = data.get("expires")
        return cls(
            str(data["owner"]),
            str(data["host"]),
            int(data["pid"]),
            float(data["since"]),
            None if expires is None else float(expires),
        )


class Lease(ABC):
    """A store's exclusive lease, held by this process (see the module docstring)."""

    #: Seconds between the renewals the holder owes; None: it never needs renewing.
    renew_every: float | None = None

    def __init__(self, holder: LeaseHolder) -> None:
        self.holder = holder
        self._renewed = time.monotonic()

    @abstractmethod
    def renew(self) -> None:
        """Extend the lease now. Raises LeaseLostError if it is no longer ours."""

    @abstractmethod
    def release(self) -> None:
        """Give the lease up (a second call does nothing). Never raises for a lease that
        was lost meanwhile."""

    def keep(self) -> None:
        """Renew the lease if a renewal is due; cheap enough to call every loop."""
        if self.renew_every is None:
            return
        now = time.monotonic()
        if now - self._renewed >= self.renew_every:
            self.renew()
            self._renewed = now

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
