"""The web page at ``/``: the runs (state, workflow, started, duration, progress) and, at
``/runs/ID``, one run (its job timeline, the failing task's log tail, its outputs).

Plain HTML and one script, written here: no build step, nothing fetched from elsewhere.
The page polls the server (``/ga4gh/wes/v1/version`` every second, and the data when it
changed), so it follows runs live. A run's timeline is the run report's
(``runner.cli.report``, the page ``toil report`` writes, from ``/runs/ID/report``), shown in
a frame that is sandboxed (scripts, no origin: it cannot read the token) and reloaded when
another of the run's jobs has finished. With a token configured, the page asks for it once
and keeps it in the tab's session storage.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

_PAGE_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555} .meta b{color:#222}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #e3e3e3;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
.note{color:#a60}
.state{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;color:#fff}
.QUEUED,.UNKNOWN{background:#888}.INITIALIZING{background:#8a6d00}.RUNNING{background:#1565c0}
.COMPLETE{background:#2e7d32}.EXECUTOR_ERROR,.SYSTEM_ERROR{background:#c62828}
.CANCELING,.CANCELED{background:#6d4c41}
table.runs td{text-align:left} pre.log{background:#f6f6f6;padding:8px;max-height:420px;
overflow:auto;font-size:12px} .bar{background:#e3e3e3;width:120px;height:8px;
display:inline-block;border-radius:4px;overflow:hidden;vertical-align:middle}
.bar i{display:block;height:8px;background:#2e7d32} #auth{display:none;margin:12px 0}
a{color:#1565c0}
"""

_SHELL = """<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>
<title>{title}</title><style>{css}</style></head><body>
<h1><a href='/' style='color:inherit;text-decoration:none'>moil WES server</a></h1>
<div id='auth'>This server wants a token: <input id='token' type='password' size='40'>
<button id='token-go'>use it</button></div>
<div id='main' data-view='{view}' data-run='{run_id}'>loading...</div>
<div id='report-box' style='display:none'><h2>Run report (timeline, resources, critical path)</h2>
<iframe id='report' title='run report' sandbox='allow-scripts'
 style='width:100%;height:900px;border:1px solid #ddd'></iframe></div>
<script src='/static/moil-wes.js'></script></body></html>"""

_SCRIPT = r"""
(function(){
var API='/ga4gh/wes/v1', main=document.getElementById('main');
var view=main.getAttribute('data-view'), runId=main.getAttribute('data-run');
var seen=-1, busy=false, finished=false, reported=-1;
var TERMINAL=['COMPLETE','EXECUTOR_ERROR','SYSTEM_ERROR','CANCELED'];
function esc(s){return String(s==null?'':s).replace(/[&<>"']/g,function(c){
  return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
function headers(){var t=sessionStorage.getItem('moil-token');
  return t?{'Authorization':'Bearer '+t}:{};}
function get(path,text){return fetch(API+path,{headers:headers()}).then(function(r){
  if(r.status===401){document.getElementById('auth').style.display='block';
    throw new Error('unauthorized');}
  if(!r.ok){throw new Error(path+': '+r.status);}
  return text?r.text():r.json();});}
document.getElementById('token-go').addEventListener('click',function(){
  sessionStorage.setItem('moil-token',document.getElementById('token').value);
  document.getElementById('auth').style.display='none';seen=-1;tick();});
function badge(s){return "<span class='state "+esc(s)+"'>"+esc(s)+"</span>";}
function when(t){return t?new Date(t*1000).toLocaleString():'';}
function dur(a,b){if(!a)return '';var s=((b||Date.now()/1000)-a);
  return s<120?s.toFixed(1)+' s':(s/60).toFixed(1)+' min';}
function progress(p){if(!p||!p.total)return '';var f=Math.round(100*p.done/p.total);
  return "<span class='bar'><i style='width:"+f+"%'></i></span> "+p.done+'/'+p.total;}
function renderList(data){
  var rows=data.runs.map(function(r){return "<tr data-run='"+esc(r.run_id)+"'><td>"+
    badge(r.state)+"</td><td><a href='/runs/"+esc(r.run_id)+"'>"+esc(r.workflow)+
    "</a></td><td>"+esc(r.type)+"</td><td>"+when(r.start)+"</td><td>"+
    dur(r.start,r.end)+"</td><td>"+progress(r.progress)+"</td><td><code>"+
    esc(r.run_id.slice(0,12))+"</code></td></tr>";}).join('');
  main.innerHTML="<h2>Runs ("+data.runs.length+")</h2><table class='runs' id='runs'>"+
    "<tr><th>state</th><th>workflow</th><th>type</th><th>started</th><th>duration</th>"+
    "<th>progress</th><th>run</th></tr>"+rows+"</table>";}
function outputs(o){var items=[];(function walk(v,name){
  if(Array.isArray(v)){v.forEach(function(x,i){walk(x,name+'['+i+']');});return;}
  if(v&&typeof v==='object'){if(v['class']==='File'||v['class']==='Directory'){
      items.push("<li>"+esc(name)+": "+(v.url?"<a href='#' data-url='"+esc(v.url)+"'>"+
        esc(v.basename||v.location)+"</a>":esc(v.location))+"</li>");return;}
    Object.keys(v).forEach(function(k){walk(v[k],name?name+'.'+k:k);});return;}
  items.push("<li>"+esc(name)+": <code>"+esc(JSON.stringify(v))+"</code></li>");})(o,'');
  return items.length?"<ul id='outputs'>"+items.join('')+"</ul>":"<p>none</p>";}
function renderRun(log,tl,tail){
  var r=log.run_log||{}, req=log.request||{};
  var failed=tl.tasks.filter(function(t){return t.state==='EXECUTOR_ERROR';});
  var html="<h2>Run <code>"+esc(log.run_id)+"</code> "+badge(log.state)+"</h2>"+
    "<div class='meta'>workflow <b>"+esc(req.workflow_url)+"</b> ("+esc(req.workflow_type)+
    " "+esc(req.workflow_type_version)+") · started <b>"+esc(r.start_time||'-')+
    "</b> · ended <b>"+esc(r.end_time||'-')+"</b> · exit code <b>"+
    esc(r.exit_code==null?'-':r.exit_code)+"</b> · <a href='#' data-url='"+esc(r.stderr)+
    "'>engine log</a></div>"+
    "<h2>Tasks</h2><table class='runs' id='tasks'><tr><th>state</th><th>job</th>"+
    "<th>exit code</th></tr>"+tl.tasks.filter(function(t){return !t.local;}).map(
      function(t){return "<tr><td>"+badge(t.state)+"</td><td>"+esc(t.display_name)+
      "</td><td>"+esc(t.exit_code==null?'':t.exit_code)+"</td></tr>";}).join('')+
    "</table>";
  if(failed.length){html+="<h2>Failing task: "+esc(failed[0].display_name)+
    "</h2><pre class='log' id='failing-log'>"+esc(tail)+"</pre>";}
  html+="<h2>Outputs</h2>"+outputs(log.outputs||{});
  if(r.system_logs&&r.system_logs.length){html+="<h2>Server notes</h2><ul>"+
    r.system_logs.map(function(s){return '<li>'+esc(s)+'</li>';}).join('')+"</ul>";}
  html+="<pre class='log' id='viewer' style='display:none'></pre>";
  main.innerHTML=html;
  main.querySelectorAll('a[data-url]').forEach(function(a){a.addEventListener('click',
    function(e){e.preventDefault();fetch(a.getAttribute('data-url'),{headers:headers()})
      .then(function(x){return x.text();}).then(function(t){var v=document.getElementById(
        'viewer');v.style.display='block';v.textContent=t;});});});
  return failed;}
function loadReport(tl){var ended=tl.tasks.filter(function(t){
    return t.state==='COMPLETE'||t.state==='EXECUTOR_ERROR';}).length;
  if(ended===reported||!ended){return;}
  return get('/runs/'+runId+'/report',true).then(function(page){reported=ended;
    document.getElementById('report-box').style.display='block';
    document.getElementById('report').srcdoc=page;},function(){});}
function loadRun(){return Promise.all([get('/runs/'+runId),get('/runs/'+runId+'/timeline')])
  .then(function(both){finished=TERMINAL.indexOf(both[0].state)>=0;loadReport(both[1]);
    var failed=both[1].tasks.filter(function(t){
      return t.state==='EXECUTOR_ERROR';});
    if(!failed.length){renderRun(both[0],both[1],'');return;}
    return get('/runs/'+runId+'/tasks/'+failed[0].id+'/log',true).then(function(text){
      renderRun(both[0],both[1],text.split('\n').slice(-40).join('\n'));},
      function(){renderRun(both[0],both[1],'(no log)');});});}
function tick(){if(busy||finished)return;busy=true;
  get('/version').then(function(v){if(v.version===seen&&view==='list'){return;}
    seen=v.version;return view==='list'?get('/overview').then(renderList):loadRun();})
  .catch(function(e){if(String(e).indexOf('unauthorized')<0){console.log(e);}})
  .then(function(){busy=false;});}
tick();setInterval(tick,1000);
})();
"""


async def index(request: Request) -> Response:
    """The runs list."""
    return HTMLResponse(
        _SHELL.format(title="moil WES: runs", css=_PAGE_CSS, view="list", run_id="")
    )


async def run_page(request: Request) -> Response:
    """One run's page (its data comes from the API, with the token)."""
    run_id = "".join(c for c in request.path_params["run_id"] if c.isalnum())
    return HTMLResponse(
        _SHELL.format(title=f"moil WES: run {run_id}", css=_PAGE_CSS, view="run", run_id=run_id)
    )


async def script(request: Request) -> Response:
    return Response(_SCRIPT, media_type="text/javascript; charset=utf-8")
