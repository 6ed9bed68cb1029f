"""The commented config file ``toil config FILE`` writes: every option of moil's commands
(the core's, each batch system's, each front end's) with its declared default, in Toil's
layout: ``config_version: 1.0``, then ``## TITLE`` comment lines and one ``#key: default``
line per option. Removing the first ``#`` of a line sets that option (``--config`` reads
the file back, ``runner.config.configfile``); removing it from every line gives a file that
sets every option to its default.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

from backends.registry import BATCH_SYSTEM_GROUP, builtin_names, load_batch_system
from backends.settings import Declared, Settings, declared
from runner.config.accepted import AcceptedOptions
from runner.config.frontends import frontend_settings
from runner.config.runconfig import RunConfig
from runner.errors import UsageError

HEADER = (
    "This is the configuration file for moil (Toil's format). To set an option, remove the "
    "first # of its line and set its value; the values shown are the defaults. The command "
    "line wins over this file, and this file over TOIL_* environment variables. Read with "
    "--config FILE, or from ~/.toil/default.yaml when that exists."
)


def sections() -> list[tuple[str, list[type[Settings]]]]:
    """The file's parts: the core with every built-in batch system, then each front end."""
    batch = [load_batch_system(name).settings_class for name in builtin_names(BATCH_SYSTEM_GROUP)]
    parts: list[tuple[str, list[type[Settings]]]] = [("BASE TOIL OPTIONS", [RunConfig, *batch])]
    for cls in frontend_settings():
        parts.append((f"TOIL {cls.kind.upper()} RUNNER OPTIONS", [cls]))
    parts.append(("TOIL OPTIONS THAT DO SOMETHING ELSE IN MOIL", [AcceptedOptions]))
    return parts


def key_of(item: Declared) -> str:
    """The key an option is written under: its Toil name (``dest``), else its first long
    spelling without the dashes (Toil's rule)."""
    if item.option.dest:
        return item.option.dest
    long = [flag for flag in item.option.all_flags if flag.startswith("--")]
    return long[0][2:] if long else item.key


def render() -> str:
    """The whole file (see the module docstring)."""
    out = io.StringIO()
    out.write("config_version: 1.0\n")
    out.write(f"## {HEADER}\n")
    seen: set[str] = set()
    for title, classes in sections():
        out.write(f"\n## {title}\n")
        for cls in classes:
            items = [i for i in declared(cls) if i.option.all_flags and key_of(i) not in seen]
            if not items:
                continue
            out.write(f"## {cls.kind} options\n")
            for item in items:
                seen.add(key_of(item))
                about = item.option.help or item.option.effect
                if about:
                    out.write(f"## {' '.join(about.split())}\n")
                out.write(f"#{_line(key_of(item), _value(item.default))}")
    return out.getvalue()


def _value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _line(key: str, value: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = True
    text = io.StringIO()
    yaml.dump({key: value}, text)
    line = text.getvalue().strip()
    if line.startswith("{") and line.endswith("}"):
        line = line[1:-1]
    return (line[:-5] if line.endswith(": null") else line) + "\n"


def write(path: str) -> None:
    """Write the file to ``path`` (replacing it at once: no reader sees half of it). Raises
    UsageError (exit 2) for a place it cannot be written."""
    target = os.path.abspath(path)
    parent = os.path.dirname(target)
    if os.path.isdir(target):
        raise UsageError(f"toil config {path}: is a directory; name a file")
    if not os.path.isdir(parent):
        raise UsageError(f"toil config {path}: no such directory {parent}; create it first")
    text = render()
    try:
        fd, temp = tempfile.mkstemp(dir=parent, prefix=".moil-config-", suffix=".yaml")
    except OSError as exc:
        raise UsageError(f"toil config {path}: cannot write in {parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
