"""The run report (``toil report``, ``toil stats --html FILE``, the runners' ``--report
FILE``): one self-contained HTML page, nothing fetched when it is viewed.

The page holds the run's data as one JSON block and draws everything from it in the browser:
the run (command line, versions, inputs, outputs), the failed attempts (error, exit code,
log tail), a timeline, resource plots per step, the critical path and a task table that
sorts, filters and searches (``assets/report.js``). The timeline and the plots are drawn by
Apache ECharts, shipped inside moil as package data (``assets/echarts.min.js``, 1.1 MB, its
licence beside it) and inlined into each page: a JavaScript library because the report must
zoom and filter 10,000 jobs without a server, and ECharts because it draws them on a canvas
(a bar per job costs no DOM node), brings zoom (``dataZoom``), tooltips and custom series,
and is an Apache project with regular releases. The per-name statistics table is HTML made
here.

Timeline rows: the attempts of one step (job name) are packed into lanes, a lane holding
attempts that do not overlap in time, so a step takes as many rows as it ran attempts at
once and 10,000 jobs of 20 steps stay a few dozen labelled rows; each bar shows the queued
time (issued to started, pale), the worker's time, and the tools' own run (solid).
"""

from __future__ import annotations

import heapq
import html
import json
import os
import re
import time
from importlib import resources
from typing import Any

from backends.jobstore.base import JobStore
from runner.cli.render import human_kib, human_seconds
from runner.engine.runinfo import read_run_info
from runner.views.jobstats import (
    CATEGORIES,
    FIELDS,
    JobStat,
    aggregate,
    critical_path,
    read_dependencies,
)

#: columns of each attempt in the page's data (``jobs.rows``), in this order
COLUMNS = (
    "id",
    "label",
    "step",
    "index",
    "attempt",
    "ok",
    "exit",
    "batch_id",
    "host",
    "queued",
    "start",
    "end",
    "tool_start",
    "tool_end",
    "wall",
    "cpu",
    "used_cores",
    "cores",
    "memory",
    "tool_rss",
    "rss",
    "disk",
    "rchar",
    "wchar",
    "read_bytes",
    "write_bytes",
    "local",
    "lane",
    "critical",
)
#: most failed attempts whose error and log tail the page carries
MAX_FAILURES = 200
LOG_TAIL = 40
_INDEX = re.compile(r"\[(\d+)\]$")

CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:20px 24px;color:#222;background:#fff;
max-width:100%}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:26px 0 8px}
.meta{color:#555} .meta b{color:#222}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:3px 6px;border-bottom:1px solid #e3e3e3;text-align:right;white-space:nowrap}
th{background:#f4f4f4;position:sticky;top:0} td.l,th.l{text-align:left}
.box{max-width:100%;overflow:auto}
pre{background:#f6f6f6;padding:8px;margin:4px 0;max-height:360px;overflow:auto;font-size:12px;
white-space:pre-wrap;word-break:break-all}
.failed td{background:#fff1f1} .bad{color:#c00;font-weight:600}
#tasks{font-size:12px;width:100%} #tasks th{cursor:pointer;user-select:none}
#tasks td.name{max-width:260px;overflow:hidden;text-overflow:ellipsis}
#tasks th.sorted-asc:after{content:' \\25B2'} #tasks th.sorted-desc:after{content:' \\25BC'}
#tasks tr.row:hover td{background:#eef4ff;cursor:pointer}
.controls{margin:6px 0;display:flex;gap:10px;flex-wrap:wrap;align-items:center}
.controls input[type=search]{width:260px}
.chart{width:100%;border:1px solid #eee}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
.failure{border-left:4px solid #c00;padding:4px 10px;margin:10px 0}
details>summary{cursor:pointer;font-weight:600}
.kv td{text-align:left;white-space:normal;word-break:break-all}
.note{color:#a60}
"""


def write_report(path: str, page: str) -> None:
    """Write ``page`` to ``path`` atomically (a browser that reloads it never sees half)."""
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "w", encoding="utf-8") as stream:
        stream.write(page)
    os.replace(temp, path)


def write_run_files(store: JobStore, report: str | None, trace: str | None, state: str) -> None:
    """The runners' ``--report FILE`` and ``--trace FILE`` at the end of a run that ended in
    ``state`` (its leader still holds the store: the store would say "running")."""
    from runner.cli.render import run_description
    from runner.cli.trace import trace_tsv
    from runner.views.jobstats import read_job_stats

    stats = read_job_stats(store)
    if report:
        info = run_description(store) | {"state": state}
        write_report(report, render_report(report_data(store, info, stats)))
    if trace:
        write_report(trace, trace_tsv(stats))


def report_data(store: JobStore, info: dict[str, Any], stats: list[JobStat]) -> dict[str, Any]:
    """Everything the page shows, JSON-ready (see the module docstring)."""
    from runner.views.runview import log_tail

    summary = aggregate(stats)
    lanes = pack_lanes(stats)
    path = set(critical_path(stats, read_dependencies(store)))
    starts = [_start_of(s) for s in stats if _start_of(s)]
    t0 = min(starts) if starts else 0.0
    rows = [_row(s, lanes[i], i in path, t0) for i, s in enumerate(stats)]
    failures: list[dict[str, Any]] = []
    tails: dict[str, list[str]] = {}
    for i, s in enumerate(stats):
        if s.ok or len(failures) >= MAX_FAILURES:
            continue
        if s.job_id not in tails:
            tails[s.job_id] = log_tail(store, s.job_id, LOG_TAIL)
        failures.append(
            {
                "row": i,
                "error": s.error,
                "exit": s.exit_code,
                "log_tail": tails[s.job_id],
                "log": store.job_log_location(s.job_id),
            }
        )
    order = sorted(range(len(stats)), key=lambda i: _start_of(stats[i]))
    return {
        "run": info | {"info": read_run_info(store)},
        "columns": list(COLUMNS),
        "t0": t0,
        "jobs": rows,
        "failures": failures,
        "critical_path": [i for i in order if i in path],
        "summary": summary,
        "made": time.time(),
    }


def _start_of(s: JobStat) -> float:
    return s.queued or s.start or s.end or 0.0


def _row(s: JobStat, lane: int, critical: bool, t0: float) -> list[Any]:
    """One attempt's cells (``COLUMNS``); times in seconds after ``t0``, to the ms."""
    found = _INDEX.search(s.label)

    def at(t: float | None) -> float | None:
        return None if t is None else round(t - t0, 3)

    def whole(v: float | None) -> int | None:
        return None if v is None else round(v)

    return [
        s.job_id,
        s.label,
        s.group,
        int(found.group(1)) if found else None,
        s.attempt,
        int(s.ok),
        s.exit_code if s.exit_code is not None else (0 if s.ok and not s.local else None),
        s.batch_id,
        s.host,
        at(s.queued),
        at(s.start),
        at(s.end),
        at(s.tool_start),
        at(s.tool_end),
        round(s.wall, 3),
        round(s.cpu, 3),
        None if s.used_cores is None else round(s.used_cores, 3),
        s.cores,
        whole(s.memory),
        whole(s.tool_rss_kib),
        whole(s.rss_kib),
        whole(s.disk),
        whole(s.rchar),
        whole(s.wchar),
        whole(s.read_bytes),
        whole(s.write_bytes),
        int(s.local),
        lane,
        int(critical),
    ]


def pack_lanes(stats: list[JobStat]) -> list[int]:
    """For each attempt, its lane within its step: attempts of one step that overlap in
    time get different lanes, and a step has as many lanes as it ran attempts at once."""
    lanes = [0] * len(stats)
    by_step: dict[str, list[int]] = {}
    for i, s in enumerate(stats):
        by_step.setdefault(s.group, []).append(i)
    for members in by_step.values():
        members.sort(key=lambda i: _start_of(stats[i]))
        free: list[tuple[float, int]] = []  # (end of its last attempt, lane): a min-heap
        count = 0
        for i in members:
            s = stats[i]
            begin, finish = _start_of(s), s.end if s.end is not None else _start_of(s)
            if free and free[0][0] <= begin:
                _, lane = heapq.heappop(free)
            else:
                lane, count = count, count + 1
            heapq.heappush(free, (finish, lane))
            lanes[i] = lane
    return lanes


def render_report(data: dict[str, Any], refresh: float | None = None) -> str:
    """The whole HTML page of ``data`` (``report_data``); with ``refresh``, the page reloads
    itself every that many seconds (``--live``), keeping the table's filters."""
    run = data["run"]
    esc = html.escape
    summary = data["summary"]
    total, span = summary["total"], summary["span"]
    every = max(1, round(refresh)) if refresh else 0
    head = f"<meta http-equiv='refresh' content='{every}'>" if every else ""
    return "\n".join(
        [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<meta name='viewport' content='width=device-width'>{head}",
            f"<title>moil report: {esc(str(run['job_store']))}</title>",
            f"<style>{CSS}</style></head><body>",
            "<h1>moil run report</h1>",
            (
                f"<div class='meta' id='meta'>job store <b>{esc(str(run['job_store']))}</b> · state "
                f"<b id='state'>{esc(str(run['state']))}</b> · batch system "
                f"<b>{esc(str(run['batch_system']))}</b> · {total['count']} job attempts "
                f"(<span class='{'bad' if summary['failed_attempts'] else ''}'>"
                f"{summary['failed_attempts']} failed</span>) · span "
                f"<b>{human_seconds(span) if span is not None else '?'}</b> · CPU "
                f"<b>{total['clock']['total']:.2f} core-s</b> · made "
                f"{esc(time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(data['made'])))}"
                f"{f' · <b>live</b>: reloads every {every}s' if every else ''}</div>"
            ),
            _run_section(run.get("info", {})),
            "<h2 id='failures-h'>Failed attempts</h2><div id='failures'></div>",
            (
                "<h2>Timeline</h2><div class='controls'>drag or scroll to zoom (the sliders too); "
                "grey: queued, pale: the worker, solid: the tools' run; black outline: the critical "
                "path, red: failed; click a bar for its row in the table"
                "</div><div id='timeline' class='chart'></div>"
            ),
            (
                "<h2>Resources per step (requested vs used)</h2><div class='grid2'>"
                + "".join(
                    f"<div id='plot-{k}' class='chart' style='height:320px'></div>"
                    for k in ("memory", "cores", "time", "io")
                )
                + "</div>"
            ),
            "<h2>Critical path</h2><div id='critical' class='box'></div>",
            (
                "<h2>Tasks</h2><div class='controls'>"
                "<input id='search' type='search' placeholder='search name, ID, host, error'>"
                "<label>status <select id='status'><option value=''>all</option>"
                "<option value='failed'>failed</option><option value='ok'>succeeded</option>"
                "</select></label><label>step <select id='step'><option value=''>all</option>"
                "</select></label><span id='count'></span></div>"
                "<div class='box'><table id='tasks'><thead></thead><tbody></tbody></table></div>"
                "<div id='more'></div>"
            ),
            "<h2>Statistics per job name</h2>",
            f"<div class='box'>{_stats_table(summary)}</div>",
            f"<script type='application/json' id='moil-data'>{_json_blob(data)}</script>",
            f"<script>{_asset('echarts.min.js')}</script>",
            f"<script>{_asset('report.js')}</script>",
            "</body></html>",
        ]
    )


def _asset(name: str) -> str:
    return (resources.files("runner.cli") / "assets" / name).read_text(encoding="utf-8")


def _json_blob(data: dict[str, Any]) -> str:
    text = json.dumps(data, separators=(",", ":"), default=str)
    return text.replace("</", "<\\/")  # a name holding "</script>" cannot end the block


def _run_section(info: dict[str, Any]) -> str:
    if not info:
        return (
            "<p class='note'>This store holds no command line, versions, inputs or "
            "outputs (a run made before moil recorded them).</p>"
        )
    esc = html.escape
    argv = " ".join(_quote(str(a)) for a in info.get("command_line", []))
    versions = ", ".join(f"{esc(k)} {esc(str(v))}" for k, v in info.get("versions", {}).items())
    started = info.get("started")
    rows = [
        ("command line", f"<code>{esc(argv)}</code>"),
        ("versions", versions),
        ("host", esc(f"{info.get('host', '')} ({info.get('platform', '')})")),
        (
            "started",
            esc(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)))
            if isinstance(started, int | float)
            else "",
        ),
    ]
    out = ["<h2>Run</h2><table class='kv' id='run'>"]
    out += [f"<tr><th class='l'>{k}</th><td>{v}</td></tr>" for k, v in rows]
    out.append("</table>")
    for key in ("inputs", "outputs"):
        if key in info:
            text = json.dumps(info[key], indent=1, default=str)
            if len(text) > 50_000:
                text = text[:50_000] + "\n... (cut at 50,000 characters)"
            out.append(
                f"<details id='{key}'><summary>{key}</summary><pre>{esc(text)}</pre></details>"
            )
    return "".join(out)


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def _stats_table(summary: dict[str, Any]) -> str:
    head = "".join(f"<th colspan='5'>{c}</th>" for c in CATEGORIES)
    sub = "".join(f"<th>{f}</th>" for _ in CATEGORIES for f in FIELDS)
    rows = [
        (
            f"<table id='stats'><tr><th rowspan='2' class='l'>job name</th>"
            f"<th rowspan='2'>count</th>{head}</tr><tr>{sub}</tr>"
        )
    ]
    for entry in [*summary["job_types"], {"name": "(all jobs)", **summary["total"]}]:
        cells = "".join(f"<td>{_fmt(c, entry[c][f])}</td>" for c in CATEGORIES for f in FIELDS)
        rows.append(
            f"<tr><td class='l'>{html.escape(entry['name'])}</td>"
            f"<td>{entry['count']}</td>{cells}</tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _fmt(category: str, value: float) -> str:
    if category == "disk":
        return human_kib(value / 1024)
    return human_kib(value) if category == "memory" else human_seconds(value)
