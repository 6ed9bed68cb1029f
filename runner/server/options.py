"""Engine options a WES request may set (``workflow_engine_parameters``): an allow-list.

A request's options are a JSON object ``{"--name": "value" | null}``. Each name must be in
the allow-list of the run's workflow type, each value must parse as that option's type,
and each becomes one argv element (``--name=value``, or ``--name`` for a flag): nothing is
ever given to a shell, and no option can name a place (the job store, the work dir, the
outputs, a log file: the server chooses those, inside the run's directory) or change what
the run may see of the server (``--preserve-environment``). ``--outdir`` and
``--outputDirectory``, which clients such as cwltest's runners always send, are accepted
and ignored: a run's outputs go to its own directory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from runner.config.units import parse_size
from runner.errors import MoilError


class OptionError(MoilError, ValueError):
    """A request's engine option is not allowed or its value is wrong (HTTP 400)."""


def _flag(value: str | None) -> str | None:
    if value is None or value.strip().lower() in ("", "true", "1", "yes"):
        return None
    raise OptionError("takes no value")


def _count(value: str | None) -> str:
    text = _needs(value)
    if not text.isdigit():
        raise OptionError(f"{text!r} is not a whole number >= 0")
    return text


def _positive(value: str | None) -> str:
    text = _needs(value)
    try:
        number = float(text)
    except ValueError:
        raise OptionError(f"{text!r} is not a number") from None
    if not (math.isfinite(number) and number > 0):
        raise OptionError(f"{text!r} is not a number above 0")
    return text


def _size(value: str | None) -> str:
    text = _needs(value)
    try:
        parse_size(text)
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    return text


def _choice(*choices: str) -> Callable[[str | None], str]:
    def check(value: str | None) -> str:
        text = _needs(value)
        if text not in choices:
            raise OptionError(f"{text!r} is not one of {', '.join(choices)}")
        return text

    return check


_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,254}$")


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[str | None], str]:
    def check(value: str | None) -> str:
        text = _needs(value)
        if not regex.match(text):
            raise OptionError(f"{text!r} is not {what}")
        return text

    return check


def _needs(value: str | None) -> str:
    if value is None or not str(value).strip():
        raise OptionError("needs a value")
    return str(value).strip()


def _ignored(value: str | None) -> str | None:
    return value


Check = Callable[[str | None], str | None]
LEVELS = ("CRITICAL", "ERROR", "WARNING", "WARN", "INFO", "DEBUG", "OFF")

COMMON: dict[str, Check] = {
    "--logLevel": _choice(*LEVELS, *(level.lower() for level in LEVELS)),
    "--logDebug": _flag,
    "--logInfo": _flag,
    "--logWarning": _flag,
    "--logError": _flag,
    "--logCritical": _flag,
    "--logOff": _flag,
    "--retryCount": _count,
    "--maxCores": _positive,
    "--defaultCores": _positive,
    "--maxJobDuration": _positive,
    "--maxMemory": _size,
    "--maxDisk": _size,
    "--defaultMemory": _size,
    "--defaultDisk": _size,
    "--defaultPreemptible": _flag,
    "--stats": _flag,
    "--disableProgress": _flag,
    # Toil's caching switch: moil has no file cache, so there is nothing to turn off
    "--disableCaching": _ignored,
}
CWL: dict[str, Check] = COMMON | {
    "--quiet": _flag,
    "--no-container": _flag,
    "--podman": _flag,
    "--docker": _flag,
    "--default-container": _pattern(_IMAGE, "an image name"),
    "--strict-memory-limit": _flag,
    "--strict-cpu-limit": _flag,
    "--enable-dev": _flag,
    "--enable-ext": _flag,
    "--relax-path-checks": _flag,
    "--no-compute-checksum": _flag,
    "--eval-timeout": _positive,
    "--loop-iteration-limit": _count,
    "--timestamps": _flag,
    "--no-warnings": _flag,
    "--disable-js-validation": _flag,
    "--strict": _flag,
    "--non-strict": _flag,
    "--disable-pull": _flag,
    "--parallel": _flag,
    "--debug": _flag,
}
WDL: dict[str, Check] = COMMON | {
    "--container": _choice("auto", "none", "docker", "podman"),
    "--outputDialect": _choice("cromwell", "miniwdl"),
    "--noQuantCheck": _flag,
    "--task": _pattern(_NAME, "a task name"),
}
PY: dict[str, Check] = dict(COMMON)
ALLOWED = {"CWL": CWL, "WDL": WDL, "PY": PY}
#: sent by clients as a matter of course; the run's own place is used instead
IGNORED_PLACES = ("--outdir", "--outputDirectory", "-o", "--output-directory")
#: options that never reach the command (whatever the value): no effect in moil
DROPPED = ("--disableCaching",)


def check_engine_options(
    workflow_type: str, options: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """The argv elements for a request's options, and notes on what was ignored. Raises
    OptionError naming the first option that is not allowed, or whose value is wrong."""
    allowed = ALLOWED[workflow_type]
    argv: list[str] = []
    notes: list[str] = []
    for name, raw in options.items():
        if not isinstance(name, str):
            raise OptionError(f"engine option {name!r}: names are strings like '--logLevel'")
        if raw is not None and not isinstance(raw, str | int | float | bool):
            raise OptionError(f"engine option {name}: the value must be a string or null")
        value = None if raw is None else str(raw)
        if name in IGNORED_PLACES:
            notes.append(f"{name} ignored: the run's outputs go to its own directory")
            continue
        check = allowed.get(name)
        if check is None:
            raise OptionError(
                f"engine option {name!r} is not allowed for {workflow_type} runs; allowed: "
                + ", ".join(sorted(allowed))
            )
        try:
            checked = check(value)
        except OptionError as exc:
            raise OptionError(f"engine option {name}: {exc}") from None
        if name in DROPPED:
            continue
        argv.append(name if checked is None else f"{name}={checked}")
    return argv, notes


def default_parameters(workflow_type: str) -> list[str]:
    """The allowed option names of a workflow type (for service-info)."""
    return sorted(ALLOWED[workflow_type])
