"""Settings declared once, as the fields of a frozen dataclass: how the core, each front end
and each backend say which options they take.

A settings class derives from ``Settings`` and makes each field with ``setting()``: the
field's name is the Python name (snake_case), its type says what a value is, and the
``Option`` it carries says everything else once: the option's Toil name (the first flag,
``--slurmPartition``; its argparse ``dest`` and its key in a config file are that name
without the dashes), other spellings, help, the environment variable that gives it a
default (``TOIL_SLURM_PE``), how text becomes a value, and the checks the value must pass.

The core (``runner.config``) turns declarations into command-line options, reads values
from the command line, the Python API's options object and the environment, checks them,
stores them in the job store (JSON) and prints them back. A backend only declares its
class (``BatchSystem.settings``) and reads the typed instance it is given
(``BatchConfig.settings``): the core never names a backend's option.

How text becomes a value (``Option.parse``, else from the field's type): ``str``, ``int``,
``float``, ``bool`` (a flag: given means True, ``Option.negate`` flags mean False),
``tuple[str, ...]`` (the option may be given several times), ``X | None`` as ``X``.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

#: Checks the core knows how to make before a run creates anything (see ``runner.config``):
#: an output directory (made if missing), an output file, a directory that must exist.
PathCheck = Literal["output_dir", "output_file", "existing_dir"]

S = TypeVar("S", bound="Settings")


@dataclass(frozen=True)
class Option:
    """How one setting is given. ``flags[0]`` is its Toil name; ``()`` means no command-line
    option (set from the Python API or a config file only)."""

    flags: tuple[str, ...] = ()
    help: str = ""
    #: the argparse ``dest`` and config-file key when it is not the first flag's name
    #: (cwltool's ``--no-container`` is ``no_container``)
    dest: str | None = None
    #: environment variable whose value is the default when the option is not given
    env: str | None = None
    #: text -> value (for argparse, the environment and config files); None: by the type
    parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] = ()
    #: flags that set the value False (a bool setting) or a fixed value (``consts``)
    negate: tuple[str, ...] = ()
    consts: Mapping[str, Any] = field(default_factory=dict)
    #: ``--flag`` alone (no value) means this (argparse ``nargs="?"``); None: a value is needed
    bare: Any = None
    metavar: str | None = None
    #: the smallest value allowed, and whether the value may equal it
    minimum: float | None = None
    minimum_allowed: bool = True
    check: PathCheck | None = None
    #: a place only the leader's host has (a log file, an output directory): not stored in
    #: the job store, so a worker on another host is never handed it
    leader_only: bool = False
    #: not listed by ``--help`` (accepted for compatibility)
    hidden: bool = False
    #: for an option taken for Toil's sake that does not do here what it does in Toil: what
    #: it does (said once at WARNING when a run gives it a value other than its default)
    effect: str = ""

    @property
    def name(self) -> str:
        """The Toil name: ``maxCores`` for ``--maxCores`` (argparse dest, config file key)."""
        if self.dest:
            return self.dest
        return self.flags[0].lstrip("-") if self.flags else ""

    @property
    def all_flags(self) -> tuple[str, ...]:
        """Every spelling on the command line (negations and constants included)."""
        return self.flags + self.negate + tuple(self.consts)


def setting(
    default: Any = dataclasses.MISSING, *flags: str, default_factory: Any = None, **option: Any
) -> Any:
    """A settings field: ``partition: str | None = setting(None, "--slurmPartition",
    help=...)``. Keyword arguments are those of ``Option``."""
    metadata = {"option": Option(flags=tuple(flags), **option)}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Base of every settings class (a frozen dataclass of ``setting()`` fields).

    ``kind`` names the class in stored configurations (``"slurm"``, ``"cwl"``)."""

    kind: ClassVar[str] = ""


@dataclass(frozen=True)
class NoSettings(Settings):
    """The settings of a backend that has none."""


@dataclass(frozen=True)
class Declared:
    """One field of a settings class with its option and the type its value has."""

    name: str
    option: Option
    #: the value's type with ``None`` removed (``str`` for ``str | None``)
    type: Any
    optional: bool
    declared_default: Any
    factory: Callable[[], Any] | None = None

    @property
    def default(self) -> Any:
        """The declared default (a ``default_factory`` is called each time: ``os.getcwd``)."""
        return self.factory() if self.factory is not None else self.declared_default

    @property
    def key(self) -> str:
        """The name in the Python API's options object and in config files: the Toil name,
        or the field's own name for a setting with no command-line option."""
        return self.option.name or self.name


_DECLARED: dict[type[Settings], tuple[Declared, ...]] = {}


def declared(cls: type[Settings]) -> tuple[Declared, ...]:
    """The ``setting()`` fields of ``cls`` (its bases' first), with their resolved types
    (worked out once per class)."""
    found = _DECLARED.get(cls)
    if found is None:
        found = _DECLARED[cls] = _declared(cls)
    return found


def _declared(cls: type[Settings]) -> tuple[Declared, ...]:
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    out = []
    for item in dataclasses.fields(cls):
        option = item.metadata.get("option")
        if option is None:
            continue
        kind, optional = _strip_none(hints[item.name])
        default = None if item.default is dataclasses.MISSING else item.default
        factory = None if item.default_factory is dataclasses.MISSING else item.default_factory
        out.append(Declared(item.name, option, kind, optional, default, factory))
    return tuple(out)


def _strip_none(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else Any), True
    return hint, False


def parse_text(item: Declared, text: str) -> Any:
    """The value ``text`` gives the setting (from an environment variable or a config file).
    Raises ValueError saying why it is not one."""
    if item.option.parse is not None:
        return item.option.parse(text)
    kind = item.type
    if kind is bool:
        return parse_bool(text)
    if kind is str or kind is Any:
        return text
    if typing.get_origin(kind) is tuple:
        return tuple(part for part in text.split(",") if part)
    if kind in (int, float):
        return kind(text)
    return text


def parse_bool(text: str) -> bool:
    """``true``/``false`` in the spellings Toil takes (yes/no, 1/0, on/off, t/f, y/n)."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "t", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "f", "no", "n", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def values_of(settings: Settings) -> Iterator[tuple[Declared, Any]]:
    """Each declared field of ``settings`` with its value."""
    for item in declared(type(settings)):
        yield item, getattr(settings, item.name)


def from_values(cls: type[S], values: Mapping[str, Any], **extra: Any) -> S:
    """An instance of ``cls`` from values keyed by Toil name (``slurmPartition``), as a
    config file or a stored configuration holds them; missing ones take their defaults,
    lists become tuples. ``extra``: fields that are not settings."""
    kwargs: dict[str, Any] = {}
    for item in declared(cls):
        if item.key in values:
            value = values[item.key]
            kwargs[item.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs, **extra)
