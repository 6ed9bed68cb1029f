"""Toil's configuration files: ``--config FILE`` and ``~/.toil/default.yaml``.

A config file is YAML: a mapping of option names to values, the names being the options'
without their dashes (``logLevel: DEBUG``, ``batchSystem: slurm``, ``log-dir: logs``), as
``toil config`` writes them (``runner.config.template``). Any spelling of an option is a key
(``jobstore`` and ``jobStore``), and so is its Toil name. ``config_version`` is Toil's own
and ignored.

The values become the parser's defaults, so the precedence is Toil's: the command line, then
the config file, then the ``TOIL_*`` environment variables (the declared defaults the parser
starts with, ``runner.config.flags.default_of``), then the declared defaults. A file named by
``--config`` goes over ``~/.toil/default.yaml``; moil reads that file when it exists but,
unlike Toil, never creates it (a run writes nothing outside its own places).

``install`` makes a parser read them when it parses (the command line is searched for
``--config`` before argparse reads it). A file that cannot be read, is not YAML, or gives an
option a value it cannot take ends the command with one line ``FILE:LINE:COL: ...`` and exit
code 2; a key that no command of moil knows is skipped with a warning on stderr that names it
(with the closest known name).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from backends.settings import parse_bool
from runner.config.frontends import frontend_settings, option_keys
from runner.errors import UsageError

#: keys a Toil config file holds that are no option
IGNORED_KEYS = frozenset({"config_version"})


def default_config_path() -> str:
    """Toil's user configuration file: ``~/.toil/default.yaml``."""
    return os.path.join(os.path.expanduser("~"), ".toil", "default.yaml")


@dataclass(frozen=True)
class Entry:
    """One key of a config file, with where its value is (1-based line and column)."""

    key: str
    value: Any
    #: ``FILE:LINE:COL`` of the value, and of the key
    where: str
    key_where: str


def read(path: str) -> list[Entry]:
    """The entries of the config file at ``path``, in order. Raises UsageError (one line,
    ``FILE:LINE:COL``) for a file that is missing, unreadable, not YAML, or not a mapping."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise UsageError(
            f"--config {path}: no such file; name an existing YAML file "
            "(toil config FILE writes one)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {path}: cannot be read: {exc}") from None
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return []  # comments only, as `toil config` writes every option (YAML would take ~10 ms)
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise UsageError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise UsageError(
            f"{path}:1:1: a config file is a mapping of option names to values (logLevel: DEBUG)"
        )
    out = []
    for key, value in data.items():
        out.append(
            Entry(
                str(key), _plain(value), _at(path, data, key, "value"), _at(path, data, key, "key")
            )
        )
    return out


def _at(path: str, data: Any, key: Any, part: str) -> str:
    try:
        line, column = getattr(data.lc, part)(key)
    except (AttributeError, KeyError, TypeError):
        return path
    return f"{path}:{line + 1}:{column + 1}"


def _plain(value: Any) -> Any:
    """ruamel's round-trip values as plain Python ones (lists, dicts, str, numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


# -- applying a file to a parser ----------------------------------------------------------
def keys_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every key a config file may use for ``parser``: each spelling of each option without
    its dashes, and each option's ``dest`` (its Toil name)."""
    out: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if not action.option_strings or isinstance(action, _SKIPPED):
            continue
        for spelling in action.option_strings:
            out.setdefault(spelling.lstrip("-"), action)
    for action in parser._actions:
        if action.option_strings and not isinstance(
            action, (*_SKIPPED, argparse._StoreConstAction)
        ):
            out.setdefault(action.dest, action)
    return out


_SKIPPED = (argparse._HelpAction, argparse._VersionAction)


def values_for(
    parser: argparse.ArgumentParser, entries: Iterable[Entry]
) -> tuple[dict[str, Any], list[str]]:
    """The parser defaults ``entries`` give (by ``dest``), and a warning for each key that
    is neither an option of ``parser`` nor another front end's (which a file shared by both
    runners holds). Raises UsageError (``FILE:LINE:COL``) for a value an option cannot
    take."""
    known = keys_of(parser)
    by_dest = {a.dest: a for a in parser._actions if type(a) is argparse._StoreAction}
    others: set[str] | None = None
    defaults: dict[str, Any] = {}
    warnings = []
    for entry in entries:
        if entry.key in IGNORED_KEYS or entry.key == "config":
            continue
        action = known.get(entry.key)
        if action is None:
            if others is None:
                others = option_keys(frontend_settings())
            if entry.key not in others:
                warnings.append(_unknown(entry, [*known, *others]))
            continue
        if isinstance(action, argparse._StoreConstAction) and not _is_boolean(entry.value):
            # Toil's toil config writes the dest's default under such a flag (logTrace: INFO)
            action = by_dest.get(action.dest, action)
        try:
            found = _value(action, entry)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            raise UsageError(f"{entry.where}: {entry.key}: {entry.value!r}: {exc}") from None
        if found is not _NOTHING:
            defaults[action.dest] = found
    return defaults, warnings


def _unknown(entry: Entry, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(entry.key, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{entry.key_where}: {entry.key} is not an option of moil{hint}; skipped"


_NOTHING = object()


def _value(action: argparse.Action, entry: Entry) -> Any:
    value = entry.value
    if value is None or value == [] or value == {}:
        return _NOTHING  # how Toil's toil config writes "no value": the default stands
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        flag = _boolean(value)
        if isinstance(action, argparse._StoreFalseAction) and entry.key != action.dest:
            return False if flag else _NOTHING  # noFlag: false says nothing of flag
        return flag
    if isinstance(action, argparse._StoreConstAction):  # --logDebug: true
        return action.const if _boolean(value) else _NOTHING
    if isinstance(action, argparse._AppendAction):
        if isinstance(value, dict):  # setEnv: {NAME: value}
            value = [f"{k}={'' if v is None else v}" for k, v in value.items()]
        items = value if isinstance(value, list) else [value]
        return [_converted(action, item) for item in items]
    if isinstance(value, dict):
        raise ValueError("takes one value, not a mapping")  # noqa: TRY004 (caller catches it)
    if isinstance(value, list):  # Toil's comma-separated lists (nodeTypes: [a, b])
        value = ",".join(str(item) for item in value)
    return _converted(action, value)


def _is_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    try:
        parse_bool(str(value))
    except ValueError:
        return False
    return True


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_bool(value)
    raise ValueError("not true or false")


def _converted(action: argparse.Action, value: Any) -> Any:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    found = action.type(text) if callable(action.type) else text
    if action.choices is not None and found not in action.choices:
        raise ValueError(f"not one of {', '.join(map(str, action.choices))}")
    return found


# -- the hook on a parser ------------------------------------------------------------------
def config_paths(args: Sequence[str]) -> list[str]:
    """``~/.toil/default.yaml`` if it exists, then the files ``--config`` names in ``args``
    (up to ``--``; the last one given counts, as for any option)."""
    paths = [default_config_path()] if os.path.isfile(default_config_path()) else []
    named = None
    tokens = list(args)
    for index, token in enumerate(tokens):
        if token == "--":
            break
        flag, sep, value = token.partition("=")
        if flag == "--config":
            if sep:
                named = value
            elif index + 1 < len(tokens):
                named = tokens[index + 1]
    return [*paths, named] if named else paths


def apply(parser: argparse.ArgumentParser, args: Sequence[str]) -> None:
    """Set ``parser``'s defaults from the config files ``args`` names (see the module
    docstring). Raises UsageError for a bad file; prints each warning on stderr."""
    for path in config_paths(args):
        defaults, warnings = values_for(parser, read(path))
        for line in warnings:
            print(f"{parser.prog}: warning: {line}", file=sys.stderr)
        parser.set_defaults(**defaults)


def install(parser: argparse.ArgumentParser, *, read_files: bool = True) -> None:
    """Add ``--config FILE`` to ``parser``, and (``read_files``) make it read the config
    files when it first parses: its ``parse_known_args`` (which ``parse_args`` and
    ``parse_intermixed_args`` call) applies them before parsing. A bad file exits 2 with one
    line, as argparse does for a bad option. ``read_files=False``: a second parser of the
    same command line (the CWL runner's, for what follows the document)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,  # also on an argument group (Toil takes one)
        help="read option values from this YAML file (toil config FILE writes one with every "
        "option); the command line wins over it, and it over TOIL_* variables",
    )
    if not read_files or not isinstance(parser, argparse.ArgumentParser):
        return  # an argument group is parsed by its parser, which is not ours to change
    original = parser.parse_known_args
    state = {"done": False}

    def parse_known_args(
        args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> Any:
        if not state["done"]:
            state["done"] = True
            try:
                apply(parser, sys.argv[1:] if args is None else list(args))
            except UsageError as exc:
                parser.exit(2, f"{parser.prog}: {exc}\n")
        return original(args, namespace)

    # an instance attribute over the method (see the docstring): the one hook argparse has
    parser.parse_known_args = parse_known_args  # type: ignore[method-assign,assignment]
