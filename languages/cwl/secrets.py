"""cwltool's ``Secrets`` hint: inputs whose values are never stored, logged or reported.

``cwltool:Secrets`` (``http://commonwl.org/cwltool#Secrets``) on the document's process
names top-level string inputs (``secrets: [id, ...]``). As cwltool does, the leader puts a
placeholder ``(secret-UUID)`` in place of each value as soon as the input object is read,
before it is validated, stored or logged (the ``--name value`` arguments kept in the run's
config are rewritten too); the values stay in memory (``runner.jobenv.secrets``). Workers get
them at run time and cwltool puts them back only where a tool uses them: its command line,
environment and InitialWorkDir files (files it made with a secret are deleted after the
run). Expressions, outputs and logs see the placeholder.

The store keeps which placeholder stands for which input (``PLACEHOLDERS``), not the
values: ``--restart`` of such a run needs the input object again, and takes the secret
values from it.
"""

from __future__ import annotations

import json
from typing import Any

from runner.engine import names
from runner.errors import UsageError
from runner.jobenv import secrets

SECRETS_CLASS = "http://commonwl.org/cwltool#Secrets"
#: shared blob of the job store: {input name: placeholder}
PLACEHOLDERS = names.language_blob("cwl", "secret-placeholders")


class BadSecret(UsageError):
    """``--restart`` of a run with secret inputs without their values (exit 2)."""


def _check(name: str, value: Any) -> None:
    if not isinstance(value, str):
        from languages.cwl.inputs import InvalidInputs

        raise InvalidInputs(
            f"secret input {name!r} must be a string (cwltool:Secrets), not {type(value).__name__}"
        )


def secret_inputs(process: Any) -> list[str]:
    """The short names of the inputs the process's Secrets hint or requirement names."""
    from cwltool.process import shortname

    req, _ = process.get_requirement(SECRETS_CLASS)
    if not req:
        return []
    return [str(shortname(name)) for name in req.get("secrets") or ()]


def hide(
    job: dict[str, Any], names: list[str], known: dict[str, str] | None = None
) -> dict[str, str]:
    """Replace the values of the inputs ``names`` in ``job`` by placeholders (the ones in
    ``known``, for a restart, else new ones) and register the values; the placeholders."""
    import uuid  # here: 10 ms of import for runs that have secrets only

    chosen: dict[str, str] = {}
    pairs: dict[str, str] = {}
    for name in names:
        value = job.get(name)
        if value is None:
            continue
        _check(name, value)
        placeholder = (known or {}).get(name) or f"(secret-{uuid.uuid4()})"
        job[name] = chosen[name] = placeholder
        pairs[placeholder] = value
    secrets.register(pairs)
    return chosen


def given_values(argv: list[str], ref: Any, process: Any, names: list[str]) -> dict[str, str]:
    """For ``--restart``: the values of the secret inputs ``names`` in the input object
    given again (``argv``: a file or ``--name value`` arguments), checked as ``hide`` does."""
    from languages.cwl.inputs import load_job_order

    raw, _ = load_job_order(argv, ref, process) if argv else ({}, "")
    given: dict[str, str] = {}
    for name in names:
        value = raw.get(name)
        if value is not None:
            _check(name, value)
            given[name] = value
    return given


def recover(store: Any, given: dict[str, str]) -> None:
    """For ``--restart``: register the secret values ``given`` under the placeholders the
    run put in the store. Raises BadSecret if one is missing."""
    known = load_placeholders(store)
    missing = sorted(set(known) - set(given))
    if missing:
        raise BadSecret(
            f"the run in {store.locator} has secret inputs ({', '.join(missing)}), which are "
            "never stored: give the input object again after the document with --restart"
        )
    secrets.register({known[name]: given[name] for name in known})


def save_placeholders(store: Any, chosen: dict[str, str]) -> None:
    if chosen:
        store.write_shared(PLACEHOLDERS, json.dumps(chosen).encode())


def load_placeholders(store: Any) -> dict[str, str]:
    """{input name: placeholder} of a stored run ({} if it had no secrets)."""
    if not store.shared_exists(PLACEHOLDERS):
        return {}
    known: dict[str, str] = json.loads(store.read_shared(PLACEHOLDERS))
    return known


def secret_store() -> Any:
    """cwltool's SecretStore holding this process's secrets, or None if there are none."""
    values = secrets.take_from_environment()
    if not values:
        return None
    from cwltool.secrets import SecretStore

    store = SecretStore()
    store.secrets = dict(values)
    return store
