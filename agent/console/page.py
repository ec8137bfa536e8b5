"""The console's one page: plain HTML, CSS and JavaScript in a string (no build step, no CDN).

It reads the token from its own URL, follows `/api/events` (Server-Sent Events) and shows: the live
screen (the run's latest screenshot, refreshed on each step), the step stream with the model's
thought and the gate's verdict, the open confirmation with its preview and Allow / Deny buttons, the
queue (under the daemon), past traces with links to their reports, and pause / resume / stop.
Everything from the run is put on the page as text (`textContent`), never as markup.
Nothing that loads late sits above a button: the Allow / Deny row comes before the preview picture, so
the buttons do not move under the pointer when the picture arrives.
Not for: serving it (agent.console.server).
"""

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>deskpilot console</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{display:flex;align-items:center;gap:12px;padding:10px 18px;background:#1d2330;color:#fff}
header h1{font-size:17px;margin:0 12px 0 0}header .grow{flex:1}
button{font:inherit;padding:5px 14px;border-radius:6px;border:1px solid #0003;cursor:pointer;background:#fff}
button:disabled{opacity:.45;cursor:default}#allow{background:#1f883d;color:#fff}#deny,#stop{background:#cf222e;color:#fff}
main{display:grid;grid-template-columns:minmax(0,3fr) minmax(300px,2fr);gap:14px;padding:14px}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;padding:12px 14px;margin-bottom:14px}
h2{font-size:15px;margin:0 0 8px}#screen{width:100%;border:1px solid #ccd;background:#222;min-height:80px}
#steps{max-height:420px;overflow:auto;margin:0;padding:0;list-style:none}
#steps li{border-bottom:1px solid #eef;padding:5px 2px}#steps .n{color:#5a6475;width:2.2em;display:inline-block}
.thought{color:#0a6a7a;font-style:italic;margin-left:2.2em}.b{display:inline-block;padding:0 7px;border-radius:9px;
font-size:12px;font-weight:600;background:#dde2ea;margin-left:4px}
.good{background:#d3f4dc;color:#145a26}.bad{background:#fbd9d9;color:#8a1414}.meh{background:#fff0c2;color:#6b4e00}
#question{border:2px solid #bf8700;background:#fff8e1}#question img{max-width:100%;border:1px solid #ccd}
#question pre{white-space:pre-wrap;background:#f6f8fa;padding:6px;border-radius:4px}
#status{font-weight:600}.muted{color:#8a93a3}table{border-collapse:collapse;width:100%}
td{padding:3px 6px;border-bottom:1px solid #eef;vertical-align:top}a{color:#0969da}
</style></head><body>
<header><h1>deskpilot</h1><span id="status" class="b">connecting…</span><span id="counts" class="muted"></span>
<span class="grow"></span><button id="pause">Pause</button><button id="resume">Resume</button>
<button id="stop">Stop</button></header>
<main><div>
<div class="card" id="question" hidden><h2>Allow this action?</h2><pre id="q-action"></pre>
<p id="q-rule"></p><p><button id="allow">Allow</button> <button id="deny">Deny</button>
<span id="q-left" class="muted"></span></p><img id="q-preview" alt="where the action would land"></div>
<div class="card"><h2>Screen <span id="trace" class="muted"></span></h2>
<img id="screen" alt="the latest screenshot of the run"></div></div>
<div><div class="card"><h2>Steps</h2><ul id="steps"></ul></div>
<div class="card"><h2>Queue</h2><div id="queue" class="muted">no daemon queue here</div></div>
<div class="card"><h2>Past traces</h2><table id="traces"></table></div></div></main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const q = s => document.querySelector(s);
const GOOD = ["executed","final","allow","success","matched","settled"];
const BAD = ["denied","deny","failed","invalid","error","failure","diverged","stuck","cancelled"];
const tone = w => GOOD.includes(w) ? "good" : BAD.includes(w) ? "bad" : "meh";
let question = null, timer = null;
function api(path) { return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token); }
function post(path, body) {
  return fetch(path, {method: "POST", headers: {"X-Deskpilot-Token": token, "Content-Type": "application/json"},
                      body: JSON.stringify(body)});
}
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls; return e; }
function badge(word) { return el("span", word, "b " + tone(word)); }
function status(word) { const s = q("#status"); s.textContent = word; s.className = "b " + tone(word); }
function refreshScreen() { q("#screen").src = api("/api/screen?t=" + Date.now()); }
function step(ev) {
  const line = ev.line, a = Object.assign({}, line.action || {action: "(unusable answer)"});
  const name = a.action; delete a.action;
  const li = el("li"); li.dataset.step = line.index; li.className = "step";
  li.append(el("span", line.index, "n"), el("b", name + " "), el("span", JSON.stringify(a)));
  if (line.verdict) { li.append(badge(line.verdict.decision));
    if (line.verdict.rule && line.verdict.rule !== "default") li.append(el("span", " " + line.verdict.rule, "muted")); }
  li.append(badge(line.outcome.status));
  const check = line.policy && line.policy.verify && line.policy.verify.result;
  if (check && check !== "skipped") li.append(badge("verify " + check));
  if (ev.thought) li.append(el("div", "“" + ev.thought + "”", "thought"));
  q("#steps").append(li); li.scrollIntoView({block: "nearest"});
  const c = ev.counts; q("#counts").textContent = `${c.executed} executed · ${c.denied} denied · ` +
    `${c.confirmed} confirmed · ${c.failed} failed · ${c.verified} verified`;
  refreshScreen();
}
function ask(question_) {
  question = question_; q("#question").hidden = false;
  q("#q-action").textContent = JSON.stringify(question.action);
  q("#q-rule").textContent = "rule " + question.rule + ": " + question.reason;
  q("#q-preview").src = api("/api/preview?n=" + question.number);
  q("#allow").disabled = q("#deny").disabled = false;
  clearInterval(timer);
  const until = question.asked_at + question.timeout_s;
  const tick = () => { q("#q-left").textContent = Math.max(0, Math.round(until - Date.now() / 1000)) +
    " s left; no answer means no"; };
  tick(); timer = setInterval(tick, 500);
}
function answered() { question = null; clearInterval(timer); q("#question").hidden = true; }
function answer(approve) {
  if (!question) return; q("#allow").disabled = q("#deny").disabled = true;
  post("/api/answer", {question: question.number, approve: approve});
}
q("#allow").onclick = () => answer(true); q("#deny").onclick = () => answer(false);
for (const c of ["pause", "resume", "stop"]) q("#" + c).onclick = () => post("/api/control", {do: c});
function handle(ev) {
  switch (ev.kind) {
    case "started": status("running"); q("#trace").textContent = ev.trace_dir; q("#steps").replaceChildren(); break;
    case "step": step(ev); break;
    case "question": ask(ev.question); break;
    case "answered": answered(); break;
    case "notice": { const li = el("li", ev.message, "muted"); q("#steps").append(li);
      if (ev.event === "paused") status("paused"); if (ev.event === "resumed") status("running"); break; }
    case "end": status(ev.status); answered(); refreshScreen(); loadTraces(); break;
  }
}
async function loadState() {
  const s = await (await fetch(api("/api/state"))).json();
  for (const c of ["pause", "resume", "stop"]) q("#" + c).disabled = !s.controls.includes(c);
  if (s.trace_dir) q("#trace").textContent = s.trace_dir;
  const box = q("#queue");
  if (s.queue) { box.replaceChildren(); if (!s.queue.length) box.textContent = "nothing queued";
    for (const t of s.queue) box.append(el("div", `${t.id} ${t.state} ${t.summary}`)); }
  else if (s.queue_error) box.textContent = s.queue_error;
}
async function loadTraces() {
  const list = (await (await fetch(api("/api/traces"))).json()).traces, table = q("#traces");
  table.replaceChildren();
  for (const t of list) { const tr = el("tr"), a = el("a", t.task || t.name);
    a.href = api("/api/report/" + encodeURIComponent(t.name)); a.target = "_blank"; a.rel = "noopener";
    const td = el("td"); td.append(a); tr.append(td, el("td")); tr.lastChild.append(badge(t.status));
    tr.append(el("td", t.steps + " steps", "muted")); table.append(tr); }
}
const events = new EventSource(api("/api/events?since=0"));
events.onmessage = m => handle(JSON.parse(m.data));
events.onopen = () => { if (q("#status").textContent === "connecting…") status("watching"); };
q("#screen").onerror = () => setTimeout(refreshScreen, 700);  // written off-thread: may not be there yet
loadState(); loadTraces(); refreshScreen(); setInterval(loadState, 3000); setInterval(refreshScreen, 2000);
</script></body></html>
"""
