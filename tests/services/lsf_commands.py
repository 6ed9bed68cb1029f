"""The user commands of the LSF stand-in (tests/services/lsf.py): ``bsub``, ``bjobs``,
``bkill``, ``bhist``, ``bqueues``, ``bhosts``, ``lshosts``, ``lsid``, ``bparams``,
``lsadmin showconf lim``. ``bin/NAME`` of a stand-in cluster runs ``main([NAME, ...])``.

Output follows IBM Spectrum LSF 10.1's documented formats where the documentation shows them
(``Job <N> is submitted to default queue <normal>.``, ``bjobs`` tables, ``-o`` field lists
with ``delimiter=``, ``-noheader``, ``-json`` as ``{"COMMAND":"bjobs","JOBS":N,"RECORDS":[...]}``
with string values, ``bjobs -l``/``bhist -l`` event lines, ``TERM_*`` exit reasons, ``Job
<N> is not found``). Lines are never wrapped at 80 columns (LSF wraps ``-l`` output; parsers
such as Toil's undo that). The module docstring of lsf.py says what is not covered.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.services import lsf_jobs
from tests.services.lsf_jobs import Config, Job, LsfDown, lsf_time

QUEUE = "normal"
# bsub options taking a value, and flags; those the stand-in acts on are handled below.
_VALUE_OPTIONS = {
    "-n",
    "-R",
    "-M",
    "-W",
    "-o",
    "-oo",
    "-e",
    "-eo",
    "-J",
    "-q",
    "-cwd",
    "-env",
    "-P",
    "-G",
    "-app",
    "-g",
    "-sla",
    "-u",
    "-L",
    "-Jd",
    "-S",
    "-v",
    "-c",
    "-m",
}
_IGNORED = {"-P", "-G", "-app", "-g", "-sla", "-u", "-L", "-Jd", "-S", "-v", "-c", "-m"}
_FLAGS = {"-B", "-N", "-r", "-rn", "-x"}


class Usage(Exception):
    """A command line the stand-in refuses; the message is what LSF would print."""


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _units_mb(value: str) -> int:
    """A memory amount in LSF_UNIT_FOR_LIMITS (MB here), or with a unit: 100, 100MB, 2G."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)B?", value.strip(), re.IGNORECASE)
    if not found:
        raise Usage(f"{value}: Bad argument for memory limit. Job not submitted.")
    scale = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}[found.group(2).upper()]
    return max(1, round(float(found.group(1)) * scale))


def _run_limit(value: str) -> int:
    """``-W [hour:]minute`` in seconds."""
    parts = value.split("/")[0].split(":")
    if not all(p.isdigit() for p in parts) or len(parts) > 2:
        raise Usage(f"{value}: Bad RUNLIMIT specification. Job not submitted.")
    return (int(parts[0]) * 60 + int(parts[1]) if len(parts) == 2 else int(parts[0])) * 60


def _parse_bsub(args: list[str], options: dict[str, list[str]]) -> list[str]:
    """Fill ``options`` from ``args``; return the command words that follow them."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name = args[i]
        if name in _FLAGS:
            options.setdefault(name, []).append("")
            i += 1
        elif name in _VALUE_OPTIONS:
            if i + 1 >= len(args):
                raise Usage(f"bsub: option {name} requires an argument")
            options.setdefault(name, []).append(args[i + 1])
            i += 2
        else:
            raise Usage(
                f"bsub: {name}: option not supported by the moil LSF stand-in "
                "(not IBM Spectrum LSF). Job not submitted."
            )
    return args[i:]


def _script_directives(script: str) -> list[str]:
    """``#BSUB`` lines of a job script read from stdin, as option words."""
    words: list[str] = []
    for line in script.splitlines():
        if line.startswith("#BSUB"):
            words += line[5:].split()
    return words


def _environment(spec: str) -> dict[str, str]:
    """``-env all`` (the default), ``none``, or ``all, ~NAME...``."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if parts and parts[0] == "none":
        return {}
    env = dict(os.environ)
    for part in parts[1:]:
        env.pop(part.lstrip("~"), None)
    return env


def bsub(config: Config, args: list[str]) -> int:
    options: dict[str, list[str]] = {}
    words = _parse_bsub(args, options)
    script = None
    if not words:
        script = sys.stdin.read()
        directives: dict[str, list[str]] = {}
        _parse_bsub(_script_directives(script), directives)
        for key, values in directives.items():
            options.setdefault(key, values)
    queue = options.get("-q", [QUEUE])[-1]
    if queue != QUEUE:
        raise Usage(f"{queue}: No such queue. Job not submitted.")
    if not lsf_jobs.daemon_running(config):
        raise Usage("LSF is down (the moil stand-in's daemon is not running). Job not submitted.")
    job = _new_job(config, options, " ".join(words) or "(script from stdin)")
    if script is not None:
        path = config.share / "scripts" / str(job.id)
        path.write_text(script)
        job.script = str(path)
    lsf_jobs.save(config, job)
    where = f"queue <{queue}>" if "-q" in options else f"default queue <{queue}>"
    print(f"Job <{job.id}> is submitted to {where}.")
    return 0


def _new_job(config: Config, options: dict[str, list[str]], command: str) -> Job:
    last = {key: values[-1] for key, values in options.items()}
    res_req = " ".join(options.get("-R", []))
    rusage = re.search(r"rusage\[[^\]]*\bmem=([\w.]+)", res_req)
    account = pwd.getpwuid(os.getuid())
    job_id = lsf_jobs.next_id(config)

    cwd = os.path.abspath(last.get("-cwd", os.getcwd()))

    def path(key: str) -> str | None:
        value = last.get(key) or last.get(key + "o")  # -o or -oo, -e or -eo
        if not value:
            return None
        return os.path.join(cwd, value.replace("%J", str(job_id)).replace("%I", "0"))

    return Job(
        id=job_id,
        name=last.get("-J", command.split()[0] if command else "job"),
        user=account.pw_name,
        uid=account.pw_uid,
        gid=account.pw_gid,
        queue=QUEUE,
        command=command,
        cwd=cwd,
        submit_host=config.host,
        env=_environment(last.get("-env", "all")),
        slots=int(last.get("-n", "1").split(",")[-1]),
        mem_reserve_mb=_units_mb(rusage.group(1)) if rusage else None,
        mem_limit_mb=_units_mb(last["-M"]) if "-M" in last else None,
        run_limit_s=_run_limit(last["-W"]) if "-W" in last else None,
        res_req=res_req,
        output=path("-o"),
        error=path("-e"),
        output_overwrite="-oo" in last,
        error_overwrite="-eo" in last,
    )


# bjobs -o field name -> (header, value as text; "" when empty)
def _fields() -> dict[str, tuple[str, Callable[[Job, Config], str]]]:
    def mem(value: float | None) -> str:
        return f"{max(1, round(value))} Mbytes" if value else ""

    return {
        "jobid": ("JOBID", lambda j, c: str(j.id)),
        "jobindex": ("JOBINDEX", lambda j, c: "0"),
        "stat": ("STAT", lambda j, c: j.stat),
        "user": ("USER", lambda j, c: j.user),
        "queue": ("QUEUE", lambda j, c: j.queue),
        "job_name": ("JOB_NAME", lambda j, c: j.name),
        "name": ("JOB_NAME", lambda j, c: j.name),
        "proj_name": ("PROJ_NAME", lambda j, c: "default"),
        "command": ("COMMAND", lambda j, c: j.command),
        "cwd": ("CWD", lambda j, c: j.cwd),
        "exec_cwd": ("EXEC_CWD", lambda j, c: j.cwd if j.start_time else ""),
        "from_host": ("FROM_HOST", lambda j, c: j.submit_host),
        "exec_host": (
            "EXEC_HOST",
            lambda j, c: ":".join([c.host] * j.slots) if j.start_time else "",
        ),
        "nreq_slot": ("NREQ_SLOT", lambda j, c: str(j.slots)),
        "slots": ("SLOTS", lambda j, c: str(j.slots)),
        "exit_code": (
            "EXIT_CODE",
            lambda j, c: "" if j.exit_code in (None, 0) else str(j.exit_code),
        ),
        "exit_reason": ("EXIT_REASON", lambda j, c: j.exit_reason),
        "pend_reason": ("PEND_REASON", lambda j, c: j.pend_reason if j.stat == "PEND" else ""),
        "submit_time": ("SUBMIT_TIME", lambda j, c: lsf_time(j.submit_time)),
        "start_time": ("START_TIME", lambda j, c: lsf_time(j.start_time).replace("-", "")),
        "finish_time": (
            "FINISH_TIME",
            lambda j, c: f"{lsf_time(j.finish_time)} L" if j.finish_time else "",
        ),
        "max_mem": ("MAX_MEM", lambda j, c: mem(j.max_mem_mb)),
        "memlimit": ("MEMLIMIT", lambda j, c: f"{j.mem_limit_mb} M" if j.mem_limit_mb else ""),
        "runtimelimit": (
            "RUNTIMELIMIT",
            lambda j, c: f"{j.run_limit_s / 60:.1f}" if j.run_limit_s else "",
        ),
        "cpu_used": ("CPU_USED", lambda j, c: f"{j.cpu_time:.1f} second(s)"),
        "pids": ("PIDS", lambda j, c: str(j.pid) if j.stat == "RUN" and j.pid else ""),
        "output_file": ("OUTPUT_FILE", lambda j, c: j.output or ""),
        "error_file": ("ERROR_FILE", lambda j, c: j.error or ""),
    }


def _parse_format(spec: str) -> tuple[list[str], str | None]:
    """``"jobid stat:8 exit_code delimiter='|'"`` -> field names and the delimiter."""
    delimiter = None
    found = re.search(r"delimiter=(['\"])(.*?)\1", spec)
    if found:
        delimiter, spec = found.group(2), spec[: found.start()] + spec[found.end() :]
    names = [word.split(":")[0].lower() for word in spec.split()]
    known = _fields()
    for name in names:
        if name not in known:
            raise Usage(f"{name}: Illegal field name.")
    return names, delimiter


def _select(config: Config, ids: list[int], flags: set[str], user: str) -> tuple[list[Job], int]:
    jobs = {job.id: job for job in lsf_jobs.all_jobs(config)}
    if ids:
        missing = [i for i in ids if i not in jobs]
        for job_id in missing:
            _err(f"Job <{job_id}> is not found")
        chosen = [jobs[i] for i in ids if i in jobs]
        return chosen, 255 if missing and not chosen else 0
    recent = time.time() - config.clean_period
    chosen = [j for j in jobs.values() if user in ("all", j.user)]
    if "-d" in flags:
        chosen = [j for j in chosen if j.finished]
    elif "-a" not in flags:
        chosen = [j for j in chosen if not j.finished]
    chosen = [j for j in chosen if not j.finished or (j.finish_time or 0) >= recent]
    if "-r" in flags:
        chosen = [j for j in chosen if j.stat == "RUN"]
    if "-p" in flags:
        chosen = [j for j in chosen if j.stat == "PEND"]
    return chosen, 0


def bjobs(config: Config, args: list[str]) -> int:
    flags, fmt, user, ids = set(), None, pwd.getpwuid(os.getuid()).pw_name, []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "-o":
            fmt, i = args[i + 1], i + 2
            continue
        if word == "-u":
            user, i = args[i + 1], i + 2
            continue
        if word.startswith("-"):
            flags.add(word)
        elif word.isdigit():
            ids.append(int(word))
        else:
            raise Usage(f"{word}: Illegal job ID.")
        i += 1
    jobs, code = _select(config, ids, flags, user)
    if "-l" in flags:
        for job in jobs:
            print(_long(config, job))
    elif fmt is not None:
        _print_format(
            config,
            jobs,
            *_parse_format(fmt),
            json_out="-json" in flags,
            header="-noheader" not in flags,
        )
    else:
        _print_default(config, jobs, header="-noheader" not in flags)
    if not jobs and not ids:
        _err("No job found" if "-a" in flags or "-d" in flags else "No unfinished job found")
    return code


def _print_format(
    config: Config,
    jobs: list[Job],
    names: list[str],
    delimiter: str | None,
    *,
    json_out: bool,
    header: bool,
) -> None:
    known = _fields()
    rows = [[known[n][1](job, config) for n in names] for job in jobs]
    titles = [known[n][0] for n in names]
    if json_out:
        records = [dict(zip(titles, row)) for row in rows]
        body = ",\n".join(
            "    {\n"
            + ",\n".join(f"      {json.dumps(k)}:{json.dumps(v)}" for k, v in r.items())
            + "\n    }"
            for r in records
        )
        print(
            f'{{\n  "COMMAND":"bjobs",\n  "JOBS":{len(records)},\n  "RECORDS":[\n'
            f"{body}{chr(10) if body else ''}  ]\n}}"
        )
        return
    shown = [[cell or "-" for cell in row] for row in rows]
    table = ([titles] if header else []) + shown
    if delimiter is not None:
        print("\n".join(delimiter.join(row) for row in table))
        return
    widths = [max(len(row[k]) for row in table) for k in range(len(titles))] if table else []
    for row in table:
        print(" ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _print_default(config: Config, jobs: list[Job], *, header: bool) -> None:
    if not jobs:
        return
    if header:
        print("JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME")
    for job in jobs:
        executing = f"{job.slots}*{config.host}" if job.start_time else ""
        print(
            f"{job.id:<7} {job.user:<7} {job.stat:<5} {job.queue:<10} {job.submit_host:<11} "
            f"{executing:<11} {job.name[:10]:<10} {lsf_time(job.submit_time)}"
        )


def _long(config: Config, job: Job) -> str:
    """``bjobs -l``: header line, events, then PENDING REASONS or MEMORY USAGE."""
    lines = [
        "",
        (
            f"Job <{job.id}>, Job Name <{job.name}>, User <{job.user}>, Project <default>"
            f", Status <{job.stat}>, Queue <{job.queue}>, Command <{job.command}>"
        ),
    ]
    lines += _events(config, job)
    if job.stat == "PEND":
        lines += ["", " PENDING REASONS:", f" {job.pend_reason}"]
    if job.start_time:
        lines += [
            "",
            " MEMORY USAGE:",
            (
                f" MAX MEM: {round(job.max_mem_mb)} Mbytes;  AVG MEM: "
                f"{round(job.max_mem_mb / 2)} Mbytes"
            ),
        ]
    return "\n".join(lines) + "\n"


def _events(config: Config, job: Job) -> list[str]:
    t = lsf_jobs.long_time
    requested = f", Requested Resources <{job.res_req}>" if job.res_req else ""
    out = f", Output File <{job.output}>" if job.output else ""
    lines = [
        (
            f"{t(job.submit_time)}: Submitted from host <{job.submit_host}>, CWD <{job.cwd}>"
            f"{out}, {job.slots} Task(s){requested};"
        )
    ]
    if job.start_time:
        lines.append(
            f"{t(job.start_time)}: Started {job.slots} Task(s) on Host(s) "
            f"<{job.slots}*{config.host}>, Allocated {job.slots} Slot(s) on Host(s) "
            f"<{job.slots}*{config.host}>, Execution Home <{_home(job)}>, Execution "
            f"CWD <{job.cwd}>;"
        )
    if job.finish_time:
        cpu = f"The CPU time used is {job.cpu_time:.1f} seconds."
        if job.stat == "DONE":
            lines.append(f"{t(job.finish_time)}: Done successfully. {cpu}")
        else:
            ended = (
                f"Exited with exit code {job.exit_code}. {cpu}"
                if job.exit_code is not None
                else "Exited; job has been forced to exit."
            )
            lines.append(f"{t(job.finish_time)}: {ended}")
            if job.exit_reason:
                lines.append(f"{t(job.finish_time)}: Completed <exit>; {job.exit_reason}.")
    return lines


def _home(job: Job) -> str:
    try:
        return pwd.getpwuid(job.uid).pw_dir
    except KeyError:
        return "/"


def bhist(config: Config, args: list[str]) -> int:
    ids = [int(a) for a in args if a.isdigit()]
    user = (
        "all"
        if "-u" in args and args[args.index("-u") + 1] == "all"
        else pwd.getpwuid(os.getuid()).pw_name
    )
    jobs, code = _select(config, ids, {"-a"}, user)
    if "-l" in args:
        for job in jobs:
            print(
                f"\nJob <{job.id}>, Job Name <{job.name}>, User <{job.user}>, Project <default>"
                f", Command <{job.command}>"
            )
            print("\n".join(_events(config, job)))
            print(_summary([job])[0] + "\n" + "\n".join(_summary([job])[1:]))
        return code
    print("Summary of time in seconds spent in various states:")
    print("JOBID   USER    JOB_NAME  PEND    PSUSP   RUN     USUSP   SSUSP   UNKWN   TOTAL")
    for job in jobs:
        pend, run = _times(job)
        print(
            f"{job.id:<7} {job.user:<7} {job.name[:9]:<9} {pend:<7} 0       {run:<7} 0       "
            f"0       0       {pend + run}"
        )
    return code


def _times(job: Job) -> tuple[int, int]:
    now = time.time()
    started = job.start_time or job.finish_time or now
    pend = round(started - job.submit_time)
    run = round((job.finish_time or now) - job.start_time) if job.start_time else 0
    return pend, run


def _summary(jobs: list[Job]) -> list[str]:
    pend, run = _times(jobs[0])
    return [
        (
            f"\nSummary of time in seconds spent in various states by  "
            f"{time.strftime('%a %b %e %H:%M:%S %Y')}"
        ),
        "  PEND     PSUSP    RUN      USUSP    SSUSP    UNKWN    TOTAL",
        f"  {pend:<8} 0        {run:<8} 0        0        0        {pend + run}",
    ]


def bkill(config: Config, args: list[str]) -> int:
    signal_name = "KILL_SEQUENCE"
    if "-s" in args:
        at = args.index("-s")
        signal_name = args[at + 1].upper().removeprefix("SIG")
        args = args[:at] + args[at + 2 :]
    me = pwd.getpwuid(os.getuid()).pw_name
    jobs = {job.id: job for job in lsf_jobs.all_jobs(config)}
    ids = [int(a) for a in args if a.isdigit()]
    if ids == [0]:
        ids = [j.id for j in jobs.values() if not j.finished and j.user == me]
    done = 0
    for job_id in ids:
        job = jobs.get(job_id)
        if job is None:
            _err(f"Job <{job_id}>: No matching job found")
        elif job.finished:
            _err(f"Job <{job_id}>: Job has already finished")
        elif me not in (job.user, "root"):
            _err(f"Job <{job_id}>: User permission denied")
        else:
            lsf_jobs.request_kill(config, job_id, signal_name, me)
            verb = "terminated" if signal_name == "KILL_SEQUENCE" else "signaled"
            print(f"Job <{job_id}> is being {verb}")
            done += 1
    return 0 if done or not ids else 255


def lsid(config: Config, args: list[str]) -> int:
    print("moil LSF stand-in, mimicking IBM Spectrum LSF Standard 10.1.0.13, Jan 1 2024")
    print("(this is not IBM Spectrum LSF: a local imitation of its commands, for tests)")
    print(f"\nMy cluster name is {config.cluster}\nMy master name is {config.host}")
    return 0


def bparams(config: Config, args: list[str]) -> int:
    print(f"System default queues for automatic queue selection:\n    {QUEUE}\n")
    for key in (
        "RESOURCE_RESERVE_PER_TASK",
        "JOB_TERMINATE_INTERVAL",
        "CLEAN_PERIOD",
        "MBD_SLEEP_TIME",
    ):
        if "-a" in args and key in config.values:
            print(f"    {key} = {config.values[key]}")
    return 0


def lsadmin(config: Config, args: list[str]) -> int:
    if args[:2] != ["showconf", "lim"]:
        raise Usage("lsadmin: only 'showconf lim' is offered by the moil LSF stand-in")
    print(f"LIM configuration at {lsf_jobs.long_time(os.path.getmtime(config.envdir))}")
    for key in ("LSF_UNIT_FOR_LIMITS", "LSF_ENVDIR", "LSB_SHAREDIR"):
        print(f"    {key} = {config.values.get(key, config.envdir)}")
    return 0


def bqueues(config: Config, args: list[str]) -> int:
    jobs = [j for j in lsf_jobs.all_jobs(config) if not j.finished]
    pend = sum(j.slots for j in jobs if j.stat == "PEND")
    run = sum(j.slots for j in jobs if j.stat == "RUN")
    print("QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP")
    print(
        f"{QUEUE:<15} {30:>4} Open:Active       -    -    -    - {pend + run:>5} {pend:>5} "
        f"{run:>5} {0:>5}"
    )
    return 0


def bhosts(config: Config, args: list[str]) -> int:
    run = sum(j.slots for j in lsf_jobs.all_jobs(config) if j.stat == "RUN")
    print("HOST_NAME          STATUS       JL/U    MAX  NJOBS    RUN  SSUSP  USUSP    RSV")
    print(
        f"{config.host:<18} {'ok':<12} {'-':>4} {config.slots:>6} {run:>6} {run:>6} "
        f"{0:>6} {0:>6} {0:>6}"
    )
    return 0


def lshosts(config: Config, args: list[str]) -> int:
    print("HOST_NAME      type    model  cpuf ncpus maxmem maxswp server RESOURCES")
    print(
        f"{config.host:<14} X86_64  Intel_EM64T 60.0 {config.slots:>5} "
        f"{config.memory_mb}M      - Yes    ()"
    )
    return 0


COMMANDS: dict[str, Callable[[Config, list[str]], int]] = {
    "bsub": bsub,
    "bjobs": bjobs,
    "bkill": bkill,
    "bhist": bhist,
    "lsid": lsid,
    "bparams": bparams,
    "lsadmin": lsadmin,
    "bqueues": bqueues,
    "bhosts": bhosts,
    "lshosts": lshosts,
}


def main(argv: list[str]) -> int:
    """``main([command, *args])``: 0 on success, 255 as LSF's commands use on failure."""
    name, args = Path(argv[0]).name, argv[1:]
    try:
        return COMMANDS[name](lsf_jobs.load_config(), args)
    except LsfDown as exc:
        _err(f"Cannot connect to LSF. Please wait ... ({exc})")
        return 255
    except Usage as exc:
        _err(str(exc))
        return 255


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main(sys.argv[1:]))
