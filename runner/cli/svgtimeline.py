"""The SVG job timeline of the WES server's run page (``runner.server.page``), with its CSS
and legend; the run report (``runner.cli.report``) draws its own with ECharts.

Timeline: one bar per job attempt from its start to its end on a shared time axis, coloured
by job name (hover a bar for its figures; click a legend entry to highlight a name). Up to
ROW_PER_JOB attempts get a row each; beyond, attempts are packed into lanes (a lane holds
attempts that do not overlap, so the number of lanes is the peak concurrency), and beyond
MAX_BARS only the longest attempts are drawn (the page says so).
"""

from __future__ import annotations

import heapq
import html
import math

from runner.cli.render import human_kib, human_seconds
from runner.views.jobstats import JobStat

ROW_PER_JOB = 400
MAX_BARS = 20_000
LABEL_W, PLOT_W, ROW_H, AXIS_H = 240, 1000, 16, 28

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555} .meta b{color:#222}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #e3e3e3;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;
vertical-align:-1px}
#legend span.item{display:inline-block;margin:2px 14px 2px 0;cursor:pointer}
#legend span.off{opacity:.35}
svg text{font:11px system-ui,sans-serif;fill:#333}
svg .grid{stroke:#e6e6e6} svg rect.bar{stroke-width:0}
svg rect.failed{stroke:#d00;stroke-width:1.5}
svg.dim rect.bar{opacity:.15} svg.dim rect.bar.hl{opacity:1}
.note{color:#a60}
"""

JS = """
(function(){
  var svg=document.getElementById('timeline');var on=null;
  document.querySelectorAll('#legend span.item').forEach(function(el){
    el.addEventListener('click',function(){
      var k=el.getAttribute('data-k');
      svg.querySelectorAll('rect.bar').forEach(function(r){
        r.classList.toggle('hl',on!==k&&r.getAttribute('data-k')===k);});
      document.querySelectorAll('#legend span.item').forEach(function(o){
        o.classList.toggle('off',on!==k&&o!==el);});
      on=(on===k)?null:k; svg.classList.toggle('dim',on!==null);
    });
  });
})();
"""


def color_of(index: int) -> str:
    """A distinct colour per job name (golden-angle hues)."""
    hue = (index * 137.508) % 360
    return f"hsl({hue:.0f},62%,{48 + (index % 3) * 6}%)"


def legend_html(stats: list[JobStat], colors: dict[str, str]) -> str:
    """The names of the jobs, each with its colour and count (click one to highlight)."""
    counts: dict[str, int] = {}
    for s in stats:
        counts[s.group] = counts.get(s.group, 0) + 1
    items = [
        f"<span class='item' data-k='{i}'><span class='swatch' style='background:"
        f"{colors[name]}'></span>{html.escape(name)} ({counts[name]})</span>"
        for i, name in enumerate(colors)
    ]
    return "<div id='legend'>" + "".join(items) + "</div>"


def _rows(stats: list[JobStat]) -> tuple[list[tuple[int, JobStat]], list[str], str]:
    """(row index, attempt) pairs, row labels, and a note on what was left out."""
    timed = sorted((s for s in stats if s.start is not None and s.end is not None),
                   key=lambda s: (s.start, s.end))
    note = ""
    if len(timed) > MAX_BARS:
        keep = sorted(timed, key=lambda s: s.wall, reverse=True)[:MAX_BARS]
        note = f"Only the {MAX_BARS} longest of {len(timed)} attempts are drawn."
        timed = sorted(keep, key=lambda s: (s.start, s.end))
    if len(timed) <= ROW_PER_JOB:
        labels = [f"{s.name} {s.job_id[:8]}" for s in timed]
        return list(enumerate(timed)), labels, note
    free: list[tuple[float, int]] = []  # (end of its last attempt, lane): a min-heap
    lanes = 0
    placed: list[tuple[int, JobStat]] = []
    for s in timed:
        assert s.start is not None and s.end is not None
        if free and free[0][0] <= s.start:
            _, lane = heapq.heappop(free)
        else:
            lane, lanes = lanes, lanes + 1
        heapq.heappush(free, (s.end, lane))
        placed.append((lane, s))
    note = (note + " " if note else "") + (
        f"{len(timed)} attempts packed into {lanes} lanes (peak concurrency).")
    return placed, [f"lane {i + 1}" for i in range(lanes)], note


def timeline_svg(stats: list[JobStat], colors: dict[str, str]) -> str:
    """The SVG timeline of ``stats`` (one bar per attempt; see the module docstring)."""
    placed, labels, note = _rows(stats)
    if not placed:
        return "<p class='note'>No timing data (the run predates start/end stamps).</p>"
    t0 = min(s.start for _, s in placed if s.start is not None)
    t1 = max(s.end for _, s in placed if s.end is not None)
    span = max(t1 - t0, 1e-6)
    row_h = ROW_H if len(labels) <= 100 else 8 if len(labels) <= 400 else 4  # lanes shrink
    height = AXIS_H + row_h * len(labels) + 8
    width = LABEL_W + PLOT_W + 20
    keys = {name: i for i, name in enumerate(colors)}
    out = [(f"<svg id='timeline' xmlns='http://www.w3.org/2000/svg' width='{width}' "
            f"height='{height}' viewBox='0 0 {width} {height}'>")]
    for tick in _ticks(span):
        x = LABEL_W + tick / span * PLOT_W
        out.append(f"<line class='grid' x1='{x:.1f}' y1='{AXIS_H - 6}' x2='{x:.1f}' "
                   f"y2='{height}'/><text x='{x:.1f}' y='{AXIS_H - 10}' "
                   f"text-anchor='middle'>{_tick_label(tick)}</text>")
    if row_h == ROW_H:  # room for a label per row
        for row, label in enumerate(labels):
            y = AXIS_H + row * row_h + row_h - 4
            out.append(f"<text x='{LABEL_W - 8}' y='{y}' text-anchor='end'>"
                       f"{html.escape(label[:38])}</text>")
    for row, s in placed:
        assert s.start is not None and s.end is not None
        x = LABEL_W + (s.start - t0) / span * PLOT_W
        w = max(1.5, (s.end - s.start) / span * PLOT_W)
        y = AXIS_H + row * row_h + 1
        klass = "bar" if s.ok else "bar failed"
        tip = (f"{s.name} {s.job_id}\nstart +{s.start - t0:.2f}s, wall {s.wall:.2f}s, "
               f"cpu {s.cpu:.2f}s, memory {human_kib(s.rss_kib)}"
               + ("" if s.ok else "\nFAILED"))
        out.append(f"<rect class='{klass}' data-k='{keys[s.group]}' x='{x:.1f}' y='{y}' "
                   f"width='{w:.1f}' height='{max(2, row_h - 3)}' rx='1.5' "
                   f"fill='{colors[s.group]}'>"
                   f"<title>{html.escape(tip)}</title></rect>")
    out.append("</svg>")
    if note:
        out.append(f"<p class='note'>{html.escape(note)}</p>")
    return "".join(out)


def _ticks(span: float) -> list[float]:
    """About 8 round tick positions in [0, span]."""
    raw = span / 8
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(span / step) + 1)]


def _tick_label(seconds: float) -> str:
    if seconds >= 120:
        return human_seconds(seconds)
    return f"{seconds:g}s" if seconds >= 1 or seconds == 0 else f"{seconds * 1000:.0f}ms"
