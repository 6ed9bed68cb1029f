"""The argument parser of the ``toil-*-runner`` commands: argparse's, with Toil's boolean
syntax and a "did you mean" for an option it does not know.

Toil writes a boolean option ``--flag BOOL`` (``--stopOnFirstFailure true``); moil also
takes it alone (``--stopOnFirstFailure``) and its negation where Toil has one
(``--noLinkImports``). A misspelled option is one line naming the closest known ones,
exit 2 (argparse's usage error code).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from runner.config.flags import normalize_bool_flags

UNRECOGNIZED = "unrecognized arguments: "


class ToilArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` for Toil's options (see the module docstring)."""

    def parse_known_args(  # type: ignore[override] # argparse's overloads; same behaviour
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        argv = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(normalize_bool_flags(self._actions, argv), namespace)

    def error(self, message: str) -> NoReturn:
        if message.startswith(UNRECOGNIZED):
            unknown = [t.partition("=")[0] for t in message[len(UNRECOGNIZED) :].split()]
            options = [t for t in unknown if t.startswith("-")]
            if options:
                self.exit(2, f"{self.prog}: error: {unknown_option(options[0], self)}\n")
        super().error(message)


def unknown_option(option: str, parser: argparse.ArgumentParser) -> str:
    """The message for an option ``parser`` does not know: the closest known spellings."""
    known = [s for s in parser._option_string_actions if s.startswith("--")]
    close = difflib.get_close_matches(option, known, n=3, cutoff=0.6)
    if not close:
        lowered = {s.lower(): s for s in known}
        close = [lowered[option.lower()]] if option.lower() in lowered else []
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return f"unknown option {option}{hint}; {parser.prog} --help lists them"
