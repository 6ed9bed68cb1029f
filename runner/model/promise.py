"""Promises: references to (part of) a job's return value, resolved when the job finishes.

A promise is ``Promise(job_id, path)``: the return value of ``job_id`` indexed by each
element of ``path`` in turn (``rv()``, ``rv(2)``, ``rv('key')``, ``rv(0, 'a')``).
Promises may sit anywhere inside a job's payload or return value; ``dumps`` records which
ones a value holds and ``loads`` substitutes their values.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import PromiseError


@dataclass(frozen=True)
class Promise:
    """The value of ``job_id``'s return value at ``path``, once that job has finished."""

    job_id: str
    path: tuple[Any, ...] = ()

    def __getitem__(self, key: Any) -> Promise:
        return Promise(self.job_id, self.path + (key,))

    def __repr__(self) -> str:
        return f"Promise({self.job_id[:8]}{''.join(f'[{p!r}]' for p in self.path)})"

    def select(self, value: Any) -> Any:
        """Index ``value`` (the job's return value) by this promise's path."""
        for key in self.path:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError) as exc:
                raise PromiseError(
                    f"promise {self!r}: the job's return value has no element {key!r}"
                ) from exc
        return value


class PromisedRequirement:
    """A resource requirement computed from promises when the job is about to run.

    ``PromisedRequirement(lambda x: 2 * x, job.rv())`` or ``PromisedRequirement(job.rv())``.
    """

    def __init__(self, value_or_fn: Any, *args: Any) -> None:
        if callable(value_or_fn) and not isinstance(value_or_fn, Promise):
            self.fn: Callable[..., Any] | None = value_or_fn
            self.args: tuple[Any, ...] = args
        else:
            if args:
                raise ValueError("PromisedRequirement(promise) takes no further arguments")
            self.fn, self.args = None, (value_or_fn,)

    def evaluate(self) -> Any:
        """The requirement, once the promises in ``args`` have been substituted."""
        return self.fn(*self.args) if self.fn is not None else self.args[0]


class _PromisePickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, found: set[Promise]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.found = found

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is Promise:
            self.found.add(obj)
            return ("p", obj.job_id, obj.path)
        return None


class _PromiseUnpickler(pickle.Unpickler):
    def __init__(
        self,
        file: io.BytesIO,
        values: Mapping[Promise, Any] | None,
        find_class: Callable[[str, str], Any] | None,
    ) -> None:
        super().__init__(file)
        self.values = values
        self._find = find_class

    def persistent_load(self, pid: Any) -> Any:
        promise = Promise(pid[1], tuple(pid[2]))
        if self.values is None:
            return promise
        try:
            return self.values[promise]
        except KeyError:
            raise PromiseError(f"{promise!r} has no value yet") from None

    def find_class(self, module: str, name: str) -> Any:
        if self._find is not None:
            return self._find(module, name)
        return super().find_class(module, name)


#: Set by the worker when it has loaded the user's main module under another name, so that
#: objects pickled from ``__main__`` in the leader resolve in the worker.
class_finder: Callable[[str, str], Any] | None = None


def dumps(value: Any) -> tuple[bytes, frozenset[Promise]]:
    """Pickle ``value``, returning the bytes and the promises it holds."""
    buf = io.BytesIO()
    found: set[Promise] = set()
    _PromisePickler(buf, found).dump(value)
    return buf.getvalue(), frozenset(found)


def loads(data: bytes, values: Mapping[Promise, Any] | None = None) -> Any:
    """Unpickle ``data``; promises become their value from ``values`` (or stay promises
    when ``values`` is None). Raises PromiseError if a promise has no value."""
    return _PromiseUnpickler(io.BytesIO(data), values, class_finder).load()
