"""Write ``tests/runner/config/toil_options.tsv``: every option of Toil 9.6.0's
``toil-cwl-runner``, ``toil-wdl-runner`` and ``toil`` subcommands, with a value Toil takes.

Run once, where Toil is installed (``python bench/toil_options.py /work/peers/bin``): it reads
each command's ``--help`` (never Toil's code), adds the options Toil accepts but hides from
``--help`` (listed below, read from Toil's sources), picks a value for each from its metavar
or choices, and has Toil's own parser check every line (``COMMAND OPTION VALUE --help`` must
print the help: argparse converts each value before it acts on ``--help``). The test
(``tests/runner/config/test_toil_options.py``) reads the stored file, not Toil.

Columns: command, option, value (empty for a flag that takes none).

``python bench/toil_options.py --readme`` (with moil's Python) prints the README's
"Differences from Toil" tables from that file and moil's own declarations.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

COMMANDS = {
    "toil-cwl-runner": ["toil-cwl-runner"],
    "toil-wdl-runner": ["toil-wdl-runner"],
    **{f"toil {sub}": ["toil", sub] for sub in (
        "status", "stats", "clean", "kill", "debug-job", "debug-file", "config")},
}

#: accepted by Toil 9.6.0 but not listed by its --help (help=SUPPRESS in toil/options/*.py,
#: toil/batchSystems/slurm.py)
HIDDEN = {
    "toil-cwl-runner": [
        ("--noLinkImports", ""), ("--linkImports", ""), ("--moveExports", ""),
        ("--noMoveExports", ""), ("--disableCaching", ""), ("--record-container-id", ""),
        ("--disable-validate", ""), ("--fast-parser", ""),
        ("--importWorkersThreshold", "1G"), ("--dont_allocate_mem", ""),
        ("--allocate_mem", ""), ("--maxServiceJobs", "4"),
        ("--maxPreemptibleServiceJobs", "4"), ("--deadlockWait", "60"),
        ("--deadlockCheckInterval", "30"),
    ],
    "toil-wdl-runner": [
        ("--noLinkImports", ""), ("--linkImports", ""), ("--moveExports", ""),
        ("--noMoveExports", ""), ("--disableCaching", ""),
        ("--importWorkersThreshold", "1G"), ("--dont_allocate_mem", ""),
        ("--allocate_mem", ""),
    ],
}

#: values where the metavar does not say enough
VALUES = {
    "--setEnv": "MOIL_TEST=1", "-e": "MOIL_TEST",
    "--logLevel": "INFO", "--logFile": "run.log",
    "--jobstore": "file:js", "--jobStore": "file:js",
    "--workDir": "/tmp", "--coordinationDir": "/tmp", "--runDir": "/tmp",
    "--batchSystem": "single_machine", "--provisioner": "aws", "-p": "aws",
    "--slurmTime": "1:00:00", "--slurmArgs": "--export=ALL",
    "--defaultCores": "1", "--retryBackoffFactor": "2", "--sseKey": "sse.key",
    "--defaultMemory": "1G", "--defaultDisk": "1G", "--maxMemory": "4G", "--maxDisk": "4G",
    "--defaultAccelerators": "gpu:1", "--nodeTypes": "t2.large",
    "--nodeStorageOverrides": "t2.large:100", "--maxNodes": "2", "--minNodes": "0",
    "--maxLogFileSize": "1M", "--disableAutoDeployment": "false",
    "--cleanWorkDir": "onError", "--clean": "never",
    "--slurmAllocateMem": "true", "--slurmDefaultAllMem": "false",
    "--wdlReferenceInputs": "true", "--referenceInputs": "true",
    "--wdlAllCallOutputs": "false", "--allCallOutputs": "false",
    "--wdlStrict": "false", "--strict": "false",
    "--wdlQuantCheck": "true", "--quantCheck": "true",
    "--wdlContainer": "auto", "--container": "singularity",
    "--importWorkersBatchSize": "1G", "--import-workers-batch-size": "1G",
    "--importWorkersDisk": "1G", "--import-workers-disk": "1G",
    "--eval-timeout": "20", "--cwl-min-ram": "1024", "--cwl-loop-iteration-limit": "10",
    "--betaInertia": "0.1", "--preemptibleCompensation": "0.5",
    "--preemptableCompensation": "0.5", "--badWorker": "0.0",
    "--jobs": "kind-x", "--fetch": "file.txt",
    "--listFilesInJobStore": "true", "--fetchEntireJobStore": "false",
    "--useSymlinks": "false", "--retrieveTaskDirectory": "taskdir",
    "--sort": "decending", "--categories": "time,clock",
    "--publishWorkflowMetrics": "no", "--outputDialect": "miniwdl",
    "--wdlOutputDialect": "miniwdl",
}

_OPTION = re.compile(r"^  (-[^ ].*?)(?:  +\S.*)?$")
_NUMERIC = {"INT": "2", "FLOAT": "0.5", "MAX_JOBS": "4", "MAX_LOCAL_JOBS": "2",
            "STATEPOLLINGWAIT": "1", "STATE_POLLING_TIMEOUT": "60", "SCALE": "1",
            "DEFAULTWALLTIME": "0"}


def options_of(help_text: str) -> list[tuple[str, str]]:
    """(option, value) for each spelling of each option in ``help_text``."""
    out = []
    for line in help_text.splitlines():
        match = _OPTION.match(line)
        if not match:
            continue
        for part in match.group(1).split(", "):
            flag, _, metavar = part.partition(" ")
            if flag in ("-h", "--help", "--version", "--config"):
                continue
            out.append((flag, value_for(flag, metavar.strip())))
    return out


def value_for(flag: str, metavar: str) -> str:
    if not metavar or metavar.startswith("["):
        return ""
    if flag in VALUES:
        return VALUES[flag]
    if metavar.startswith("{"):
        return metavar.strip("{}").split(",")[0]
    if metavar == "BOOL" or metavar.isupper() and metavar in {
            "DISABLEAUTODEPLOYMENT", "REFERENCE_INPUTS", "ALL_CALL_OUTPUTS", "STRICT",
            "QUANT_CHECK", "SLURM_ALLOCATE_MEM", "SLURM_DEFAULT_ALL_MEM", "ALLOWFUSE"}:
        return "true"
    if metavar.split()[0] in _NUMERIC:
        return _NUMERIC[metavar.split()[0]]
    return "x" if metavar.isupper() else metavar


def tokens_of(option: str, value: str) -> list[str]:
    """The command-line tokens of one option (``--opt=VALUE`` for a value that looks like
    an option)."""
    if not value:
        return [option]
    return [f"{option}={value}"] if value.startswith("-") else [option, value]


def toil_accepts(argv: list[str], found: list[tuple[str, str]], workdir: str) -> bool:
    """Whether Toil's parser takes every (option, value) of ``found`` on one command line
    (run in ``workdir``, which holds the files some values name)."""
    tokens = [t for option, value in found for t in tokens_of(option, value)]
    done = subprocess.run(argv + tokens + ["--help"], check=False, capture_output=True,
                          text=True, cwd=workdir)
    return done.returncode == 0


def _checked_rows(bindir: str, workdir: str) -> list[str]:
    rows: list[str] = []
    for name, argv in COMMANDS.items():
        full = [f"{bindir}/{argv[0]}"] + argv[1:]
        text = subprocess.run(full + ["--help"], check=False, capture_output=True,
                              text=True).stdout
        found = options_of(text) + HIDDEN.get(name, [])
        if not toil_accepts(full, found, workdir):  # one at a time (some exclude each other)
            refused = [(o, v) for o, v in found if not toil_accepts(full, [(o, v)], workdir)]
            if refused:
                sys.exit(f"Toil refuses {name} {refused}: fix VALUES")
        rows.extend(f"{name}\t{option}\t{value}" for option, value in found)
        print(f"{name}: {len(found)} options", file=sys.stderr)
    return rows


def main(bindir: str) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        Path(workdir, "sse.key").write_text("k" * 32)  # Toil reads --sseKey's file
        rows = _checked_rows(bindir, workdir)
    out = Path(__file__).resolve().parent.parent / "tests/runner/config/toil_options.tsv"
    out.write_text("# command\toption\tvalue (written by bench/toil_options.py from Toil 9.6.0)\n"
                   + "\n".join(rows) + "\n")


RUNNERS = ("toil-cwl-runner", "toil-wdl-runner")
UTILITIES = ("status", "stats", "clean", "kill", "debug-job", "debug-file", "config", "server",
             "launch-cluster", "destroy-cluster", "ssh-cluster", "rsync-cluster")
#: the issue that brings each utility moil may lack (None: none planned)
BRINGS = {"debug-file": "14", "config": "14", "launch-cluster": None,
          "destroy-cluster": None, "ssh-cluster": None, "rsync-cluster": None}


def stored_rows() -> list[tuple[str, str, str]]:
    path = Path(__file__).resolve().parent.parent / "tests/runner/config/toil_options.tsv"
    lines = path.read_text().splitlines()
    return [tuple(line.split("\t")) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def _moil_statuses() -> dict[str, str]:
    """Each command-line spelling moil declares: what it does here ("yes": as in Toil)."""
    from backends.registry import BATCH_SYSTEM_GROUP, builtin_names, load_batch_system
    from backends.settings import declared
    from languages.cwl.settings import CwlSettings
    from languages.wdl.settings import WdlSettings
    from runner.config.accepted import AcceptedOptions
    from runner.config.runconfig import RunConfig

    classes = [RunConfig, CwlSettings, WdlSettings, AcceptedOptions]
    classes += [load_batch_system(n).settings_class for n in builtin_names(BATCH_SYSTEM_GROUP)]
    out: dict[str, str] = {}
    for cls in classes:
        for item in declared(cls):
            option = item.option
            if option.effect:
                status = f"accepted: {option.effect}"
            elif option.hidden and not option.help:
                status = "accepted: changes nothing here"
            else:
                status = "yes"
            for flag in option.all_flags:
                out.setdefault(flag, status)
    return out


def readme_tables() -> str:
    """The markdown of the README's "Differences from Toil" tables."""
    statuses = _moil_statuses()
    groups: dict[str, list[str]] = {}
    for command, option, _ in stored_rows():
        if command in RUNNERS:
            spellings = groups.setdefault(statuses.get(option, "no"), [])
            if option not in spellings:
                spellings.append(option)
    lines = ["| Toil's options (`toil-cwl-runner`, `toil-wdl-runner`) | in moil |",
             "| --- | --- |"]
    order = sorted(groups, key=lambda s: (s != "yes", s))
    for status in order:
        names = ", ".join(f"`{o}`" for o in sorted(groups[status], key=str.lower))
        lines.append(f"| {names} | {status} |")
    lines += ["", "| Toil's utility | in moil |", "| --- | --- |"]
    by_sub: dict[str, list[str]] = {}
    for command, option, _ in stored_rows():
        if command.startswith("toil "):
            by_sub.setdefault(command.split()[1], []).append(option)
    taken = _utility_flags()
    for sub in UTILITIES:
        flags = [o for o in by_sub.get(sub, []) if o not in LOGGING]
        if sub not in taken:
            issue = BRINGS.get(sub)
            status = f"not yet (issue {issue})" if issue else "no (no cluster provisioning)"
        else:
            missing = [o for o in flags if o not in taken.get(sub, set())]
            status = "yes" + (f"; not yet (issue 14): {_names(missing)}" if missing else "")
        shown = f" ({_names(flags)})" if flags else ""
        lines.append(f"| `toil {sub}`{shown} | {status} |")
    return "\n".join(lines)


#: the logging options every Toil command takes
LOGGING = ("--logCritical", "--logError", "--logWarning", "--logInfo", "--logDebug",
           "--logTrace", "--logOff", "--logLevel", "--logFile", "--rotatingLogging",
           "--logColors")


def _names(options: list[str]) -> str:
    return ", ".join(f"`{o}`" for o in options)


def _utility_flags() -> dict[str, set[str]]:
    """The option spellings of each of moil's ``toil`` subcommands."""
    import typer

    from runner.cli.toil_cmd import app

    group = typer.main.get_command(app)
    out: dict[str, set[str]] = {}
    for name, command in getattr(group, "commands", {}).items():
        out[name] = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["--readme"]:
        print(readme_tables())
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "/work/peers/bin")
