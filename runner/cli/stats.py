"""``toil stats JOBSTORE``: time, CPU and memory per job name and overall, for a run made
with ``--stats`` (the store is kept after such a run). ``--raw`` prints JSON, ``--html FILE``
writes the run report (``runner.cli.report``), ``--trace FILE`` the trace file
(``runner.cli.trace``). ``toil report JOBSTORE`` writes the report alone; with ``--live`` it
rewrites it every few seconds while the run goes.

Exit code: 0; 1 if the store holds no stats (the run was made without ``--stats``); 2 for a
missing store or bad options.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer

from runner.cli.render import human_kib, human_seconds, print_table, run_description
from runner.views.jobstats import CATEGORIES, FIELDS, JobStat, aggregate, read_job_stats

SORT_CATEGORIES = (*CATEGORIES, "alpha", "count")


def stats(
    job_store: str = typer.Argument(..., metavar="JOBSTORE", help="the run's job store"),
    raw: bool = typer.Option(False, "--raw", help="Print the figures as JSON."),
    pretty: bool = typer.Option(
        False, "--pretty", "--human", help="Human units (always on a terminal)."
    ),
    categories: str = typer.Option(
        ",".join(CATEGORIES),
        "--categories",
        help="Comma-separated categories to show, from time, clock, wait, memory, disk.",
    ),
    sort_category: str = typer.Option(
        "time",
        "--sortCategory",
        help="Sort job names by: time, clock, wait, memory, disk, alpha or count.",
    ),
    sort_field: str = typer.Option(
        "med", "--sortField", help="Sort by this field: min, med, ave, max or total."
    ),
    sort_reverse: bool = typer.Option(
        False, "--sortReverse", "--reverseSort", help="Reverse the sort order."
    ),
    sort: str | None = typer.Option(
        None,
        "--sort",
        metavar="ascending|decending",
        help="Sort direction (Toil's spelling decending; descending also); given, it decides "
        "over --sortReverse (default: ascending).",
    ),
    output_file: str | None = typer.Option(
        None, "--outputFile", help="Write the report to this file instead of stdout."
    ),
    html: str | None = typer.Option(
        None, "--html", help="Also write the self-contained HTML run report to this file."
    ),
    trace: str | None = typer.Option(
        None,
        "--trace",
        help="Also write a trace of the job attempts (TSV, Nextflow's fields) to this file.",
    ),
) -> None:
    """Report time, CPU and peak memory per job name and overall (run made with --stats)."""
    chosen = [c.strip().lower() for c in categories.split(",") if c.strip()]
    _check_choice("--categories", chosen, CATEGORIES)
    _check_choice("--sortCategory", [sort_category], SORT_CATEGORIES)
    _check_choice("--sortField", [sort_field], FIELDS)
    if sort is not None:
        _check_choice("--sort", [sort], ("ascending", "decending", "descending"))
        sort_reverse = sort != "ascending"
    store, info, job_stats = load_stats(job_store)
    summary = aggregate(job_stats, sort_category, sort_field, sort_reverse)
    _write_files(store, info, job_stats, html, trace)
    out = open(output_file, "w") if output_file else sys.stdout  # noqa: SIM115 (closed below)
    try:
        if raw:
            json.dump({"run": info, **summary}, out, indent=2)
            out.write("\n")
        else:
            _print_summary(info, summary, chosen, pretty or out.isatty(), out)
    finally:
        if out is not sys.stdout:
            out.close()


def report(
    job_store: str = typer.Argument(..., metavar="JOBSTORE", help="the run's job store"),
    output: str = typer.Option("report.html", "--output", "-o", help="The HTML file to write."),
    trace: str | None = typer.Option(
        None, "--trace", help="Also write a trace of the job attempts (TSV) to this file."
    ),
    live: bool = typer.Option(
        False,
        "--live",
        help="Rewrite the report every --interval seconds while the run "
        "goes (the page reloads itself, keeping its filters); stop when the run ends.",
    ),
    interval: float = typer.Option(
        5.0, "--interval", min=0.5, help="--live: seconds between two writes."
    ),
) -> None:
    """Write the HTML run report (tasks, timeline, resources, failures) of a run made with
    --stats or --report.

    The same page as `toil stats --html FILE`: one self-contained file."""
    if live:
        _live(job_store, output, trace, interval)
        return
    store, info, job_stats = load_stats(job_store)
    _write_files(store, info, job_stats, output, trace)
    typer.echo(f"wrote {output}")


def _live(job_store: str, output: str, trace: str | None, interval: float) -> None:
    """Rewrite the report until the run is no longer running (a run with no stats yet
    gets a page that says so)."""
    from runner.cli.report import render_report, report_data, write_report
    from runner.views.jobstats import read_job_stats

    store = _open(job_store)
    while True:
        info = run_description(store)
        job_stats = read_job_stats(store)
        running = info["state"] in ("running", "not started")
        data = report_data(store, info, job_stats)
        write_report(output, render_report(data, refresh=interval if running else None))
        if trace:
            _write_files(store, info, job_stats, None, trace)
        if not running:
            break
        time.sleep(interval)
    typer.echo(f"wrote {output} (the run is {info['state']})")


def _write_files(
    store: Any, info: dict[str, Any], job_stats: list[JobStat], html: str | None, trace: str | None
) -> None:
    from runner.cli.report import render_report, report_data, write_report
    from runner.cli.trace import trace_tsv

    if html:
        write_report(html, render_report(report_data(store, info, job_stats)))
    if trace:
        write_report(trace, trace_tsv(job_stats))


def _open(job_store: str) -> Any:
    """The opened store; exits 2 with a message for a bad locator or a missing store."""
    from backends.errors import InvalidLocatorError
    from backends.jobstore.base import open_job_store

    try:
        store = open_job_store(job_store)
    except InvalidLocatorError as exc:
        typer.echo(f"toil stats: {exc}", err=True)
        raise typer.Exit(2) from None
    if not store.exists():
        typer.echo(f"toil stats: there is no job store at {job_store}", err=True)
        raise typer.Exit(2)
    store.open()
    return store


def load_stats(job_store: str) -> tuple[Any, dict[str, Any], list[JobStat]]:
    """The store, a description of the run, and its job stats; exits with a message if
    there are none."""
    store = _open(job_store)
    job_stats = read_job_stats(store)
    if not job_stats:
        typer.echo(
            f"toil stats: {job_store} holds no stats; run the workflow with --stats", err=True
        )
        raise typer.Exit(1)
    return store, run_description(store), job_stats


def _check_choice(option: str, values: list[str], allowed: tuple[str, ...]) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        typer.echo(
            f"toil stats: {option}: unknown {', '.join(bad)}; choose from {', '.join(allowed)}",
            err=True,
        )
        raise typer.Exit(2)


def _print_summary(
    info: dict[str, Any], summary: dict[str, Any], categories: list[str], human: bool, out: Any
) -> None:
    total = summary["total"]
    span = summary["span"]
    print(f"Job store: {info['job_store']} ({info['state']})", file=out)
    print(
        f"Batch system: {info['batch_system']}  Default cores: {info['default_cores']}  "
        f"Default memory: {human_kib((info['default_memory'] or 0) / 1024)}  "
        f"Max cores: {info['max_cores'] or 'all'}",
        file=out,
    )
    print(
        f"Jobs: {total['count']} attempts ({summary['failed_attempts']} failed); "
        f"run span {human_seconds(span) if span is not None else '?'}; "
        f"CPU {total['clock']['total']:.2f} core-s; wall {total['time']['total']:.2f} s",
        file=out,
    )
    rows: list[list[str]] = []
    for entry in [*summary["job_types"], {"name": "(all jobs)", **total}]:
        for index, category in enumerate(categories):
            cells = [_cell(category, entry[category][f], human) for f in FIELDS]
            first = index == 0
            rows.append(
                [
                    entry["name"] if first else "",
                    str(entry["count"]) if first else "",
                    category,
                    *cells,
                ]
            )
    print_table(
        ["job name", "count", "category", *FIELDS],
        rows,
        stream=out,
        right=[False, True, False] + [True] * len(FIELDS),
    )


def _cell(category: str, value: float, human: bool) -> str:
    if category == "memory":
        return human_kib(value) if human else f"{value:.0f}K"
    if category == "disk":
        return human_kib(value / 1024) if human else f"{value:.0f}"
    return human_seconds(value) if human else f"{value:.2f}"
