"""Toil's command-line options, shared by the Python API and the ``toil-*-runner`` commands,
and the typed configuration built from them.

Every option is declared once, as a settings field (``backends.settings``): the core's in
``runner.config.runconfig.RunConfig``, each batch system's in its ``settings`` class, each
front end's in its own. ``add_toil_options`` turns them into argparse options (Toil's names
as ``dest``, so that scripts written for Toil work: ``options.logLevel = "INFO"``,
``options.clean = "always"``); ``build_config`` turns the parsed options, once, into the
frozen ``RunConfig`` the run uses. ``parse_options_among`` reads runner options given after
a command's positional arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Iterable, Sequence

from backends.batch.base import BatchSystem
from backends.errors import InvalidBackendError, UnknownBackendError
from backends.registry import BATCH_SYSTEM_GROUP, builtin_names, load_batch_system
from backends.settings import Settings, declared
from runner.config import configfile
from runner.config.accepted import AcceptedOptions, warn_effects
from runner.config.flags import add_settings, default_of, from_namespace
from runner.config.runconfig import RunConfig
from runner.errors import UsageError
from runner.jobenv.setenv import resolve


def add_toil_options(
    parser: argparse.ArgumentParser,
    *,
    job_store_positional: bool,
    frontend: type[Settings] | None = None,
    argv: Sequence[str] | None = None,
    read_config: bool = True,
) -> None:
    """Add the core's options, every batch system's and ``frontend``'s to ``parser``, and
    ``--config FILE``.

    The batch systems are the built-in ones, and a plug-in named by ``--batchSystem`` in
    ``argv`` (or ``TOIL_BATCH_SYSTEM``): its options then count as well. ``read_config``:
    the parser reads ``~/.toil/default.yaml`` and the ``--config`` file when it parses
    (``runner.config.configfile``); False for a second parser of the same command line."""
    seen: set[str] = set()
    positional = frozenset({"jobStore"} if job_store_positional else ())
    add_settings(
        parser.add_argument_group("moil core options"), RunConfig, seen, positional=positional
    )
    for name, cls in _batch_systems(argv):
        if cls.settings_class.__dataclass_fields__:
            add_settings(parser.add_argument_group(f"{name} options"), cls.settings_class, seen)
    if frontend is not None:
        add_settings(parser.add_argument_group(f"{frontend.kind} options"), frontend, seen)
    add_settings(
        parser.add_argument_group("Toil options with another effect here"), AcceptedOptions, seen
    )
    configfile.install(parser, read_files=read_config)


def _batch_systems(argv: Sequence[str] | None) -> list[tuple[str, type[BatchSystem]]]:
    names = list(builtin_names(BATCH_SYSTEM_GROUP))
    named = _named_batch_system(argv)
    if named and named not in names:
        names.append(named)
    out = []
    for name in names:
        try:
            out.append((name, batch_system_class(name)))
        except UsageError:
            continue  # an unknown name is refused when the configuration is built
    return out


def _named_batch_system(argv: Sequence[str] | None) -> str:
    tokens = list(argv or ())
    for index, token in enumerate(tokens):
        flag, sep, value = token.partition("=")
        if flag in ("--batchSystem", "--batch-system"):
            if sep:
                return value
            if index + 1 < len(tokens):
                return tokens[index + 1]
    item = next(d for d in declared(RunConfig) if d.name == "batch_system")
    return str(default_of(item))


def batch_system_class(name: str) -> type[BatchSystem]:
    """The batch system class registered as ``name``. Raises UsageError listing the known
    names for one that is not."""
    try:
        return load_batch_system(name)
    except (UnknownBackendError, InvalidBackendError) as exc:
        raise UsageError(f"--batchSystem: {exc}") from None


def build_config(
    options: object,
    *,
    frontend: type[Settings] | None = None,
    user_main: str | None = None,
) -> RunConfig:
    """The run's typed configuration from ``options`` (an argparse Namespace, or the Python
    API's options object: attributes with Toil's names). Raises UsageError for an unknown
    batch system or a value that is not one; ``runner.config.checks.validate`` checks the
    values themselves."""
    core = from_namespace(RunConfig, options)
    batch = from_namespace(batch_system_class(core.batch_system).settings_class, options)
    front = None if frontend is None else from_namespace(frontend, options)
    config = from_namespace(RunConfig, options, batch=batch, frontend=front, user_main=user_main)
    if config.set_env:
        config = dataclasses.replace(config, set_env=resolve(config.set_env))
    return config


def warn_other_effects(options: object, config: RunConfig) -> None:
    """Say once at WARNING what each option given in ``options`` that does not do here what
    it does in Toil does instead (``runner.config.accepted``); call it once logging is set."""
    for part in (config, config.batch, config.frontend, from_namespace(AcceptedOptions, options)):
        warn_effects(part)


def default_options(job_store: str | None = None, **overrides: object) -> argparse.Namespace:
    """Options with every default, as ``Job.Runner.getDefaultOptions`` gives them."""
    parser = argparse.ArgumentParser()
    add_toil_options(parser, job_store_positional=False)
    options = parser.parse_args([])
    options.jobStore = job_store
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def log_level(name: str | None) -> int:
    """The numeric logging level of a ``--logLevel`` name (``OFF``: above CRITICAL)."""
    upper = str(name or "INFO").upper()
    if upper == "OFF":
        return logging.CRITICAL + 10
    level = {"WARN": logging.WARNING, "CRIT": logging.CRITICAL, "TRACE": logging.DEBUG}.get(upper)
    return level if level is not None else int(getattr(logging, upper, logging.INFO))


# -- runner options after the positional arguments ------------------------------------------
def parse_options_among(
    parser: argparse.ArgumentParser,
    tokens: Iterable[str],
    namespace: argparse.Namespace,
    *,
    keep: Iterable[str] = (),
) -> list[str]:
    """Parse the options of ``parser`` found anywhere in ``tokens`` into ``namespace``
    (over what it holds); return every other token, in order.

    ``parser`` has no positional arguments and should not abbreviate (``allow_abbrev``
    False, so that an input ``--out`` is not taken for ``--outdir``). Options named in
    ``keep`` (``--outdir``) are not parsed but returned with their values, for a command
    whose own inputs share names with runner options. Bad values exit as argparse does."""
    known = {s for a in parser._actions for s in a.option_strings}
    held = {name for name in keep if name in known}
    hidden: dict[str, str] = {}
    staged: list[str] = []
    for token in tokens:
        flag, sep, value = token.partition("=")
        if flag in held:
            alias = hidden.setdefault(flag, f"--moil-kept-{len(hidden)}")
            staged.append(alias + sep + value)
        else:
            staged.append(token)
    _, rest = parser.parse_known_args(staged, namespace)
    back = {alias: flag for flag, alias in hidden.items()}
    out = []
    for token in rest:
        alias, sep, value = token.partition("=")
        out.append(back.get(alias, alias) + sep + value if alias in back else token)
    return out
