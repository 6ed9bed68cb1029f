"""Settings declarations (``backends.settings``) as command-line options, and back.

``add_settings`` adds one settings class's options to an argparse parser or group (each
option once, whoever declares it: Slurm and Grid Engine may share a base's);
``from_namespace`` reads a settings class's values out of an argparse Namespace or the
Python API's options object (Toil's names as attributes), turning text into values where
a user set text (``options.maxMemory = "4G"``). Defaults come from the declaration, or from
its environment variable when that is set (Toil's precedence: command line, then
environment, then the declared default).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from backends.settings import Declared, Settings, declared, parse_text
from runner.errors import UsageError

S = TypeVar("S", bound=Settings)


class ArgumentAdder(Protocol):
    """An argparse parser or argument group."""

    def add_argument(self, *args: Any, **kwargs: Any) -> Any: ...


def add_settings(
    parser: ArgumentAdder,
    cls: type[Settings],
    seen: set[str],
    *,
    positional: frozenset[str] = frozenset(),
) -> None:
    """Add the options ``cls`` declares that are not in ``seen`` (flags already added),
    and record them there. ``positional``: Toil names to add as a positional argument
    instead (``jobStore`` for a Toil script)."""
    for item in declared(cls):
        option = item.option
        if not option.all_flags or option.all_flags[0] in seen:
            continue
        seen.update(option.all_flags)
        help_text = argparse.SUPPRESS if option.hidden else option.help or None
        if option.name in positional:
            parser.add_argument(option.name, help=help_text)
            continue
        default = default_of(item)
        kwargs: dict[str, Any] = {"dest": option.name, "default": default, "help": help_text}
        if item.type is bool and option.bare is None:
            if option.flags:
                parser.add_argument(*option.flags, action="store_true", **kwargs)
            if option.negate:
                negated = dict(kwargs, help=help_text if not option.flags else argparse.SUPPRESS)
                parser.add_argument(*option.negate, action="store_false", **negated)
            continue
        if typing.get_origin(item.type) is tuple:
            kwargs.update(action="append", default=None)
        else:
            kwargs["type"] = _converter(item)
        if option.choices:
            kwargs["choices"] = option.choices
        if option.metavar:
            kwargs["metavar"] = option.metavar
        if option.bare is not None:
            kwargs.update(nargs="?", const=option.bare() if callable(option.bare) else option.bare)
        if option.flags:
            action = parser.add_argument(*option.flags, **kwargs)
            action.moil_bool = item.type is bool  # see normalize_bool_flags
        if item.type is bool:
            for flag in option.negate:
                parser.add_argument(
                    flag, dest=option.name, action="store_false", help=argparse.SUPPRESS
                )
        for flag, value in option.consts.items():
            parser.add_argument(
                flag, dest=option.name, action="store_const", const=value, help=argparse.SUPPRESS
            )


#: the words a boolean option's value may be (Toil's ``strtobool`` and more)
BOOL_WORDS = frozenset({"1", "true", "t", "yes", "y", "on", "0", "false", "f", "no", "n", "off"})


def normalize_bool_flags(actions: Iterable[argparse.Action], argv: Sequence[str]) -> list[str]:
    """``argv`` with each boolean option that takes an optional value (Toil's ``--flag
    BOOL``) and is not followed by one written ``--flag=true``, so that argparse does not
    take the next argument (the document) for its value."""
    flags = {s for a in actions if getattr(a, "moil_bool", False) for s in a.option_strings}
    out = list(argv)
    for index, token in enumerate(out):
        if token == "--":
            break
        if token in flags:
            following = out[index + 1] if index + 1 < len(out) else ""
            if following.lower() not in BOOL_WORDS:
                out[index] = f"{token}=true"
    return out


def default_of(item: Declared) -> Any:
    """The setting's default: its environment variable's value if set, else the declared
    one. Raises UsageError for a variable whose value is not one."""
    env = item.option.env
    text = os.environ.get(env) if env else None
    if text is None or text == "":
        return item.default
    try:
        return parse_text(item, text)
    except ValueError as exc:
        raise UsageError(f"{env}={text!r}: {exc}") from None


def _converter(item: Declared) -> Any:
    def convert(text: str) -> Any:
        try:
            return parse_text(item, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = item.option.name  # argparse names it in "invalid NAME value"
    return convert


def from_namespace(cls: type[S], options: object, **extra: Any) -> S:
    """``cls`` filled from the attributes of ``options`` named by Toil name (a missing one
    takes its default). Text where a value of another type is due is parsed; a value that
    cannot be is a UsageError naming the option."""
    kwargs: dict[str, Any] = {}
    for item in declared(cls):
        value = getattr(options, item.key, dataclasses.MISSING)
        if value is dataclasses.MISSING or (value is None and not item.optional):
            value = default_of(item)
        kwargs[item.name] = _coerce(item, value)
    return cls(**kwargs, **extra)


def _coerce(item: Declared, value: Any) -> Any:
    if typing.get_origin(item.type) is tuple:
        return tuple(value) if isinstance(value, list | tuple) else parse_text(item, str(value))
    if isinstance(value, str) and item.type is not str:
        try:
            return parse_text(item, value)
        except ValueError as exc:
            flag = item.option.flags[0] if item.option.flags else item.name
            raise UsageError(f"{flag} {value!r}: {exc}") from None
    if item.type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def to_namespace(settings: Settings, into: argparse.Namespace) -> argparse.Namespace:
    """Set the Toil-named attributes of ``into`` from ``settings`` (the reverse of
    ``from_namespace``), for code that hands users an options object."""
    for item in declared(type(settings)):
        value = getattr(settings, item.name)
        setattr(into, item.key, list(value) if isinstance(value, tuple) else value)
    return into
