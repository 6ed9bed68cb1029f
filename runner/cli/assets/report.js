// The run report's page script (runner/cli/report.py inlines it after ECharts): draws the
// failures, the timeline, the resource plots, the critical path and the task table from the
// JSON block #moil-data. Nothing is fetched. window.moilReport tells the tests what it drew.
(function () {
  'use strict';
  var started = performance.now(), marks = {};
  function mark(name) { marks[name] = Math.round(performance.now() - started); }
  var data = JSON.parse(document.getElementById('moil-data').textContent);
  var C = {};
  data.columns.forEach(function (c, i) { C[c] = i; });
  var jobs = data.jobs;
  var failures = {};
  data.failures.forEach(function (f) { failures[f.row] = f; });

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function num(v) { return v == null ? null : +v; }
  function secs(s) {
    if (s == null || isNaN(s)) return '';
    if (Math.abs(s) < 1) return (s * 1000).toFixed(0) + ' ms';
    if (Math.abs(s) < 120) return s.toFixed(s < 10 ? 2 : 1) + ' s';
    if (Math.abs(s) < 7200) return (s / 60).toFixed(1) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }
  function bytes(b) {
    if (b == null || isNaN(b)) return '';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(b < 10 ? 1 : 0) : b.toFixed(0)) + ' ' + units[i];
  }
  function kib(k) { return k == null ? '' : bytes(k * 1024); }
  function begin(j) {
    var b = num(j[C.queued]);
    if (b == null) b = num(j[C.start]);
    if (b == null) b = num(j[C.end]);
    return b == null ? 0 : b;
  }

  // times in the data are seconds after data.t0 (the first attempt's issue)

  // steps in the order they first started, each with a colour
  var stepOrder = [], stepIndex = {};
  jobs.slice().sort(function (a, b) { return begin(a) - begin(b); }).forEach(function (j) {
    var s = j[C.step];
    if (!(s in stepIndex)) { stepIndex[s] = stepOrder.length; stepOrder.push(s); }
  });
  function colour(step, light) {
    var i = stepIndex[step] || 0, hue = (i * 137.508) % 360;
    return 'hsl(' + hue.toFixed(0) + ',62%,' + (light ? 86 : 46 + (i % 3) * 6) + '%)';
  }

  // ---- failed attempts: error, exit code, log tail ----
  function failureHtml(f) {
    var j = jobs[f.row];
    return "<div class='failure' data-row='" + f.row + "'><b>" + esc(j[C.label]) +
      '</b> · attempt ' + (j[C.attempt] + 1) + ' · exit code <b>' +
      esc(f.exit == null ? 'none' : f.exit) + '</b> · job <code>' + esc(j[C.id]) +
      '</code><pre class="error">' + esc(f.error || '(no error message)') + '</pre>' +
      (f.log_tail.length ? 'log tail (' + esc(f.log) + '):<pre class="log-tail">' +
        esc(f.log_tail.join('\n')) + '</pre>' : '<i>no log kept</i>') + '</div>';
  }
  var failBox = document.getElementById('failures');
  failBox.innerHTML = data.failures.length ? data.failures.map(failureHtml).join('') :
    '<p>none</p>';
  failBox.querySelectorAll('pre.log-tail').forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });

  mark('failures');
  var charts = [];
  function chart(id, height) {
    var el = document.getElementById(id);
    if (height) el.style.height = height + 'px';
    var c = echarts.init(el, null, { renderer: 'canvas' });
    charts.push(c);
    return c;
  }
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });

  // ---- timeline: a row per lane of each step ----
  var rowOf = {}, labels = [], rowStep = [];
  var lanes = {};
  jobs.forEach(function (j) {
    var s = j[C.step];
    lanes[s] = Math.max(lanes[s] || 0, j[C.lane] + 1);
  });
  stepOrder.forEach(function (s) {
    rowOf[s] = labels.length;
    for (var k = 0; k < lanes[s]; k++) {
      var name = s.length > 44 ? '…' + s.slice(-43) : s;
      labels.push(k === 0 ? name : name + ' ·' + (k + 1));
      rowStep.push(s);
    }
  });
  var bars = [];
  jobs.forEach(function (j, i) {
    if (j[C.start] == null || j[C.end] == null) return;
    var q = j[C.queued] != null ? j[C.queued] : j[C.start];
    bars.push([rowOf[j[C.step]] + j[C.lane], q, j[C.start], j[C.end],
      j[C.tool_start], j[C.tool_end], i]);
  });
  var ROW = 15, visibleRows = Math.min(labels.length, 44);
  var tl = chart('timeline', visibleRows * ROW + 110);
  function renderBar(params, api) {
    var row = api.value(0), i = api.value(6), j = jobs[i];
    var y = api.coord([0, row])[1], h = Math.max(2, api.size([0, 1])[1] * 0.72);
    var sys = params.coordSys, top = y - h / 2, kids = [];
    var clip = { x: sys.x, y: sys.y, width: sys.width, height: sys.height };
    var step = j[C.step], ok = j[C.ok];
    var xs = api.coord([api.value(2), row])[0], xe = api.coord([api.value(3), row])[0];
    if (xe - xs < 4 && ok && !j[C.critical]) {  // too thin to show its parts: one rect
      var thin = echarts.graphic.clipRectByRect(
        { x: xs, y: top, width: Math.max(1.2, xe - xs), height: h }, clip);
      return thin && { type: 'rect', shape: thin, style: { fill: colour(step) } };
    }
    function rect(a, b, style) {
      if (a == null || b == null || isNaN(a) || isNaN(b)) return null;
      var x0 = api.coord([a, row])[0], x1 = api.coord([b, row])[0];
      var shape = echarts.graphic.clipRectByRect(
        { x: x0, y: top, width: Math.max(1.2, x1 - x0), height: h }, clip);
      if (shape) kids.push({ type: 'rect', shape: shape, style: style });
      return shape;
    }
    if (api.value(1) < api.value(2)) rect(api.value(1), api.value(2), { fill: '#e2e2e2' });
    var body = rect(api.value(2), api.value(3), {
      fill: api.value(4) == null || isNaN(api.value(4)) ? colour(step) : colour(step, true),
      stroke: !ok ? '#d00' : j[C.critical] ? '#000' : null,
      lineWidth: !ok ? 2 : j[C.critical] ? 1.5 : 0,
    });
    rect(api.value(4), api.value(5), { fill: colour(step) });
    if (body && body.width > 70 && h >= 9) {
      kids.push({
        type: 'text', silent: true,
        style: {
          text: j[C.label], x: body.x + 3, y: top + h / 2, fill: '#111', font: '10px sans-serif',
          verticalAlign: 'middle', width: body.width - 6, overflow: 'truncate',
        },
      });
    }
    return { type: 'group', children: kids };
  }
  var zoom = [{ type: 'inside', xAxisIndex: 0, filterMode: 'weakFilter' },
    { type: 'slider', xAxisIndex: 0, filterMode: 'weakFilter', height: 18, bottom: 8 }];
  if (labels.length > visibleRows) {
    zoom.push({ type: 'slider', yAxisIndex: 0, filterMode: 'weakFilter', width: 14, right: 6,
      startValue: 0, endValue: visibleRows - 1, zoomLock: false });
    zoom.push({ type: 'inside', yAxisIndex: 0, filterMode: 'weakFilter',
      zoomOnMouseWheel: false, moveOnMouseWheel: true });
  }
  tl.setOption({
    animation: false,
    grid: { left: 250, right: labels.length > visibleRows ? 36 : 16, top: 24, bottom: 50 },
    tooltip: {
      confine: true,
      formatter: function (p) {
        var j = jobs[p.value[6]];
        var wait = j[C.queued] != null ? j[C.start] - j[C.queued] : null;
        var tool = j[C.tool_start] != null ? j[C.tool_end] - j[C.tool_start] : null;
        return '<b>' + esc(j[C.label]) + '</b> (attempt ' + (j[C.attempt] + 1) + ')<br>' +
          (wait != null ? 'queued ' + secs(wait) + '<br>' : '') +
          'worker ' + secs(j[C.wall]) + (tool != null ? ', tools ' + secs(tool) : '') +
          '<br>CPU ' + secs(j[C.cpu]) + ', tool peak ' + kib(j[C.tool_rss]) +
          (j[C.ok] ? '' : '<br><b style="color:#d00">FAILED</b>, exit ' + esc(j[C.exit]));
      },
    },
    xAxis: {
      type: 'value', min: 0, scale: true, position: 'top', splitLine: { lineStyle: { color: '#eee' } },
      axisLabel: { formatter: function (v) { return secs(v); } },
    },
    yAxis: {
      type: 'category', data: labels, inverse: true,
      axisLabel: { interval: 0, fontSize: 11, width: 235, overflow: 'truncate' },
      axisTick: { show: false }, splitLine: { show: false },
    },
    dataZoom: zoom,
    series: [{
      type: 'custom', renderItem: renderBar, data: bars, progressive: 0,
      encode: { x: [1, 2, 3], y: 0 }, clip: true,
    }],
  });
  mark('timeline');
  tl.on('click', function (p) {
    var j = jobs[p.value[6]];
    search.value = j[C.id];
    status.value = '';
    step.value = '';
    apply();
    document.getElementById('tasks').scrollIntoView();
  });

  // ---- resources per step: requested vs used (worker jobs only) ----
  var per = {};
  jobs.forEach(function (j) {
    if (j[C.local]) return;
    var s = j[C.step], e = per[s] || (per[s] = { mem: [], peak: [], cores: [], used: [], wall: [],
      tool: [], read: 0, written: 0 });
    if (j[C.memory] != null) e.mem.push(j[C.memory] / 1048576);
    if (j[C.tool_rss] != null) e.peak.push(j[C.tool_rss] / 1024);
    if (j[C.cores] != null) e.cores.push(j[C.cores]);
    if (j[C.used_cores] != null) e.used.push(j[C.used_cores]);
    e.wall.push(j[C.wall]);
    if (j[C.tool_start] != null) e.tool.push(j[C.tool_end] - j[C.tool_start]);
    e.read += j[C.rchar] || 0;
    e.written += j[C.wchar] || 0;
  });
  var plotSteps = stepOrder.filter(function (s) { return s in per; });
  function stat(list, how) {
    if (!list.length) return null;
    var v = list.slice().sort(function (a, b) { return a - b; });
    if (how === 'max') return v[v.length - 1];
    return v[Math.floor((v.length - 1) / 2)];
  }
  function barPlot(id, title, unit, series, log) {
    var c = chart(id);
    c.setOption({
      animation: false, title: { text: title, textStyle: { fontSize: 13 } },
      legend: { top: 30, textStyle: { fontSize: 11 } }, tooltip: { trigger: 'axis' },
      grid: { left: 60, right: 12, top: 66, bottom: 70 },
      xAxis: { type: 'category', data: plotSteps,
        axisLabel: { rotate: 25, fontSize: 10, width: 110, overflow: 'truncate' } },
      yAxis: { type: log ? 'log' : 'value', name: unit + (log ? ' (log scale)' : ''),
        nameTextStyle: { fontSize: 11 } },
      series: series.map(function (s) {
        return { name: s[0], type: 'bar', data: plotSteps.map(function (k) {
          var v = s[1](per[k]); return v == null || (log && v <= 0) ? null : +v.toFixed(3); }) };
      }),
    });
  }
  function drawPlots() {
    if (!plotSteps.length || window.moilReport.plotsDrawn) return;
    barPlot('plot-memory', 'Memory: requested vs the tools\u2019 own peak', 'MiB', [
      ['requested', function (e) { return stat(e.mem, 'max'); }],
      ['peak (max)', function (e) { return stat(e.peak, 'max'); }],
      ['peak (median)', function (e) { return stat(e.peak, 'med'); }]], true);
    barPlot('plot-cores', 'Cores: requested vs used (CPU s / wall s)', 'cores', [
      ['requested', function (e) { return stat(e.cores, 'max'); }],
      ['used (max)', function (e) { return stat(e.used, 'max'); }],
      ['used (median)', function (e) { return stat(e.used, 'med'); }]]);
    barPlot('plot-time', 'Time per attempt', 's', [
      ['worker (median)', function (e) { return stat(e.wall, 'med'); }],
      ['worker (max)', function (e) { return stat(e.wall, 'max'); }],
      ['tools (median)', function (e) { return stat(e.tool, 'med'); }]]);
    barPlot('plot-io', 'Bytes read and written (all attempts)', 'MiB', [
      ['read', function (e) { return e.read / 1048576; }],
      ['written', function (e) { return e.written / 1048576; }]]);
    window.moilReport.plotsDrawn = true;
  }

  mark('plots');
  // ---- critical path ----
  var crit = data.critical_path;
  document.getElementById('critical').innerHTML = crit.length ?
    '<table id="critical-path"><tr><th class="l">step</th><th class="l">job</th><th>attempt</th>' +
    '<th>queued at</th><th>started</th><th>ended</th><th>wall</th></tr>' +
    crit.map(function (i) {
      var j = jobs[i];
      return '<tr><td class="l">' + esc(j[C.step]) + '</td><td class="l">' + esc(j[C.label]) +
        '</td><td>' + (j[C.attempt] + 1) + '</td><td>' + secs(j[C.queued]) + '</td><td>' +
        secs(j[C.start]) + '</td><td>' + secs(j[C.end]) + '</td><td>' +
        secs(j[C.wall]) + '</td></tr>';
    }).join('') + '</table>' : '<p>no timed jobs</p>';

  // ---- task table ----
  function span(a, b) { return a == null || b == null ? null : b - a; }
  var COLS = [
    ['name', 'l name', function (j) { return j[C.label]; }, esc],
    ['#', '', function (j) { return j[C.index]; }, esc],
    ['try', '', function (j) { return j[C.attempt] + 1; }, esc],
    ['exit', '', function (j) { return j[C.exit]; },
      function (v, j) { return j[C.ok] ? esc(v) : "<span class='bad'>" + esc(v == null ? 'failed' : v) + '</span>'; }],
    ['batch id', '', function (j) { return j[C.batch_id]; }, esc],
    ['host', 'l', function (j) { return j[C.host]; }, esc],
    ['queued', '', function (j) { return j[C.queued]; }, secs],
    ['started', '', function (j) { return j[C.start]; }, secs],
    ['finished', '', function (j) { return j[C.end]; }, secs],
    ['wait', '', function (j) { return span(j[C.queued], j[C.start]); }, secs],
    ['wall', '', function (j) { return j[C.wall]; }, secs],
    ['tools', '', function (j) { return span(j[C.tool_start], j[C.tool_end]); }, secs],
    ['cores req', '', function (j) { return j[C.cores]; }, esc],
    ['cores used', '', function (j) { return j[C.used_cores]; },
      function (v) { return v == null ? '' : v.toFixed(2); }],
    ['mem req', '', function (j) { return j[C.memory]; }, bytes],
    ['tool peak', '', function (j) { return j[C.tool_rss]; }, kib],
    ['disk req', '', function (j) { return j[C.disk]; }, bytes],
    ['read', '', function (j) { return j[C.rchar]; }, bytes],
    ['written', '', function (j) { return j[C.wchar]; }, bytes],
  ];
  var table = document.getElementById('tasks');
  var search = document.getElementById('search');
  var status = document.getElementById('status');
  var step = document.getElementById('step');
  stepOrder.forEach(function (s) {
    var o = document.createElement('option'); o.value = s; o.textContent = s; step.appendChild(o);
  });
  table.tHead.innerHTML = '<tr>' + COLS.map(function (c, k) {
    return "<th class='" + c[1] + "' data-k='" + k + "'>" + c[0] + '</th>';
  }).join('') + '</tr>';
  var PAGE = 100, sortKey = null, sortDir = 1, shown = [], limit = PAGE;
  var KEY = 'moil-report:' + data.run.job_store;
  try {
    var saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    if (saved) {
      search.value = saved.search || ''; status.value = saved.status || '';
      step.value = saved.step || ''; sortKey = saved.sortKey; sortDir = saved.sortDir || 1;
    }
  } catch (e) { /* a page opened from a file may have no session storage */ }
  function haystack(j, i) {
    var f = failures[i];
    return (j[C.label] + ' ' + j[C.id] + ' ' + (j[C.host] || '') + ' ' + (j[C.batch_id] == null ? '' : j[C.batch_id]) +
      ' ' + (f ? f.error : '')).toLowerCase();
  }
  var hay = jobs.map(haystack);
  function apply() {
    var q = search.value.trim().toLowerCase(), st = status.value, sp = step.value;
    shown = [];
    for (var i = 0; i < jobs.length; i++) {
      var j = jobs[i];
      if (st === 'failed' && j[C.ok]) continue;
      if (st === 'ok' && !j[C.ok]) continue;
      if (sp && j[C.step] !== sp) continue;
      if (q && hay[i].indexOf(q) < 0) continue;
      shown.push(i);
    }
    if (sortKey != null) {
      var get = COLS[sortKey][2];
      shown.sort(function (a, b) {
        var x = get(jobs[a]), y = get(jobs[b]);
        if (x == null) return 1;
        if (y == null) return -1;
        return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
      });
    }
    limit = PAGE;
    try {
      sessionStorage.setItem(KEY, JSON.stringify({ search: search.value, status: st, step: sp,
        sortKey: sortKey, sortDir: sortDir }));
    } catch (e) { /* see above */ }
    draw();
  }
  function draw() {
    var rows = [];
    shown.slice(0, limit).forEach(function (i) {
      var j = jobs[i];
      rows.push("<tr class='row" + (j[C.ok] ? '' : ' failed') + "' data-row='" + i + "'>" +
        COLS.map(function (c) {
          return "<td class='" + c[1] + "'" + (c[0] === 'name' ? " title='" + esc(j[C.label]) + "'" : '') +
            '>' + c[3](c[2](j), j) + '</td>';
        }).join('') + '</tr>');
    });
    table.tBodies[0].innerHTML = rows.join('');
    document.getElementById('count').textContent = shown.length + ' of ' + jobs.length + ' attempts';
    var more = document.getElementById('more');
    more.innerHTML = shown.length > limit ?
      "<button id='show-more'>show " + Math.min(PAGE, shown.length - limit) + ' more</button>' : '';
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, k) {
      th.classList.toggle('sorted-asc', k === sortKey && sortDir > 0);
      th.classList.toggle('sorted-desc', k === sortKey && sortDir < 0);
    });
  }
  document.getElementById('more').addEventListener('click', function (e) {
    if (e.target.id === 'show-more') { limit += PAGE; draw(); }
  });
  table.tHead.addEventListener('click', function (e) {
    var k = e.target.getAttribute('data-k');
    if (k == null) return;
    k = +k;
    sortDir = sortKey === k ? -sortDir : 1;
    sortKey = k;
    apply();
  });
  table.tBodies[0].addEventListener('click', function (e) {
    var tr = e.target.closest('tr.row');
    if (!tr) return;
    var next = tr.nextElementSibling;
    if (next && next.classList.contains('detail')) { next.remove(); return; }
    var i = +tr.getAttribute('data-row'), j = jobs[i], f = failures[i];
    var d = document.createElement('tr');
    d.className = 'detail';
    d.innerHTML = "<td colspan='" + COLS.length + "' class='l' style='white-space:normal'>" +
      'job <code>' + esc(j[C.id]) + '</code> · step ' + esc(j[C.step]) + ' · worker peak ' +
      kib(j[C.rss]) + ' · CPU ' + secs(j[C.cpu]) + ' · storage read ' + bytes(j[C.read_bytes]) +
      ', written ' + bytes(j[C.write_bytes]) + (f ? failureHtml(f) : '') + '</td>';
    tr.parentNode.insertBefore(d, next);
    d.querySelectorAll('pre.log-tail').forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });
  });
  search.addEventListener('input', apply);
  status.addEventListener('change', apply);
  step.addEventListener('change', apply);
  apply();
  mark('table');

  window.moilReport = { ready: true, marks: marks, rows: labels, bars: bars.length, charts: charts,
    timeline: tl, ms: performance.now() - started, plotsDrawn: false };
  // the plots are below the timeline: drawn when they come near the window
  var plotBox = document.getElementById('plot-memory');
  if (window.IntersectionObserver) {
    var watcher = new IntersectionObserver(function (seen) {
      if (seen.some(function (e) { return e.isIntersecting; })) { watcher.disconnect(); drawPlots(); }
    }, { rootMargin: '300px' });
    watcher.observe(plotBox);
  } else {
    drawPlots();
  }
})();
