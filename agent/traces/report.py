"""`deskpilot report TRACE`: one self-contained HTML page showing a trace, readable offline.

At the top, a summary: the final status (red for every failure, `terminate: failure` included), the
steps counted as the live view counts them (executed, denied, confirmed, failed, verified), the
wall time and the time spent in each phase, then a strip of thumbnails linking to each step. Each
step shows the screen before it (with an SVG overlay in screen coordinates: the click point, the
drag path, the scroll direction, and for verified replays where the target was expected and where
it was found) beside the screen after it (the next step's, or the end screenshot), then the action,
the model's text, the verdict, the outcome, verification, timings. A verification that did not
match shows the recorded pixels around the target next to what the replay saw there. The end card
says how the run ended, when, and shows the last screen.
No scripts, no external resources: the file can be mailed, archived or opened without a network;
each screenshot is inlined once (agent.traces.report_images).
Not for: reading traces (agent.traces.store) or anything interactive.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from agent.cli.output import write_atomically
from agent.traces.lines import Screen, StepLine
from agent.traces.report_images import Shots, verify_crops
from agent.traces.store import Trace, read_trace
from agent.watch.text import Counts

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header,section,footer,nav{background:#fff;margin:16px auto;max-width:1180px;padding:16px 20px;border-radius:8px;
box-shadow:0 1px 3px #0002}
.t-bad{border-top:6px solid #cf222e}.t-good{border-top:6px solid #1f883d}.t-meh{border-top:6px solid #bf8700}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:0 0 10px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;margin-left:6px;
background:#dde2ea}.big{font-size:15px;padding:3px 12px}
.good{background:#d3f4dc;color:#145a26}.bad{background:#fbd9d9;color:#8a1414}.meh{background:#fff0c2;color:#6b4e00}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}.counts span{background:#f0f2f5;border-radius:6px;
padding:4px 10px}.counts b{font-size:16px;margin-right:4px}
.phases{display:grid;grid-template-columns:90px 1fr 90px;gap:3px 10px;align-items:center;max-width:640px;margin:8px 0}
.bar{height:10px;background:#1f6feb;border-radius:5px;min-width:2px}
.strip{display:flex;gap:8px;overflow-x:auto;padding:10px 12px}
.thumb{flex:0 0 auto;width:132px;text-decoration:none;color:inherit;font-size:11px;border-radius:6px;padding:3px;
border:3px solid #dde2ea}a.thumb.t-good{border-color:#8fd19e}a.thumb.t-bad{border-color:#e5534b}
a.thumb.t-meh{border-color:#e3b341}
.thumb .img{width:100%}.thumb span{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;
background:none}
.img{background-size:100% 100%;background-repeat:no-repeat;-webkit-print-color-adjust:exact;print-color-adjust:exact;
position:relative;border:1px solid #ccd;width:100%}.img svg{position:absolute;left:0;top:0;width:100%;height:100%}
section.t-bad{border-top:0;border-left:6px solid #cf222e}section.t-meh{border-top:0;border-left:6px solid #bf8700}
section.t-good{border-top:0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}figure{margin:0}figcaption{color:#5a6475;font-size:12px;
margin-bottom:3px}.crops{display:flex;gap:16px;margin-top:12px;padding:10px;background:#fff6f6;border-radius:6px}
.crops img{width:160px;height:160px;image-rendering:pixelated;border:2px solid #cf222e}.crops figure:first-child img{
border-color:#1f6feb}dl{display:grid;grid-template-columns:130px 1fr;gap:4px 12px;margin:12px 0 0}
dt{color:#5a6475;font-weight:600}dd{margin:0;overflow-wrap:anywhere}pre{margin:0;white-space:pre-wrap;
font:12px/1.4 ui-monospace,monospace;background:#f6f8fa;padding:6px 8px;border-radius:4px}
table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}
.missing{padding:40px;color:#888;line-height:1.4;border:1px dashed #ccd;text-align:center}
.endshot{max-width:640px}
"""
GOOD = frozenset({"success", "executed", "final", "allow", "matched", "settled"})
BAD = frozenset({"failure", "error", "denied", "deny", "invalid", "failed", "diverged", "stuck"})
STAMP = re.compile(r"^(\d{8}-\d{6})-")


def write_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Render the trace at `path` to `out` (default: report.html inside the trace directory)."""
    trace = read_trace(path)
    target = Path(out) if out is not None else trace.dir / "report.html"
    return write_atomically(target, [render(trace)])  # OutputError naming `target` when it cannot be written


def render(trace: Trace) -> str:
    h, shots = trace.header, Shots(trace.dir)
    title = f"deskpilot trace: {h.task or '(no task)'}"
    body = [_header(trace), _strip(trace, shots), *(_step(trace, step, shots) for step in trace.steps),
            _footer(trace, shots)]  # built before the CSS: the images are collected on the way
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{_e(title)}</title>'
            f"<style>{_CSS}\n{shots.css()}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def tone(word: str) -> str:
    return "good" if word in GOOD else "bad" if word in BAD else "meh"


def step_tone(step: StepLine) -> str:
    """Red for a step that went wrong: denied, failed, unusable, diverged, or a `terminate: failure`."""
    action = step.action or {}
    if action.get("action") == "terminate" and action.get("status") == "failure":
        return "bad"
    if step.verify.get("result") == "diverged":
        return "bad"
    return tone(step.outcome.status)


def _header(trace: Trace) -> str:
    h, end = trace.header, trace.end
    status = end.status if end is not None else "unfinished"
    counts = Counts()
    for step in trace.steps:
        counts.add(step)
    chips = "".join(f"<span><b>{n}</b>{_e(name)}</span>" for name, n in vars(counts).items())
    rows = [("policy", h.policy), ("source", h.source or ""),
            ("screen", _screen_text(h.screen) if h.screen is not None else ""),
            ("model", _json(h.model) if h.model is not None else ""),
            ("replay", _json(h.replay) if h.replay is not None else ""), ("trace", str(trace.dir))]
    table = "".join(f"<tr><td><b>{_e(k)}</b></td><td>{_e(v)}</td></tr>" for k, v in rows if v)
    config = f"<details><summary>config</summary><pre>{_e(_json(h.config, 2))}</pre></details>" \
        if h.config is not None else ""
    return (f'<header class="t-{tone(status)}"><h1>{_e(h.task or "(no task)")}</h1>'
            f'<p>final status <span class="badge big {tone(status)}" id="final-status">{_e(status)}</span> '
            f"{_e(end.reason if end is not None else '')}</p>"
            f'<div class="counts" id="counts"><span><b>{len(trace.steps)}</b>steps</span>{chips}</div>'
            f"{_times(trace)}<table>{table}</table>{config}</header>")


def _times(trace: Trace) -> str:
    """The wall time (from the trace's start stamp to its end line) and the time in each phase."""
    phases: dict[str, float] = {}
    for step in trace.steps:
        for name, ms in step.timings_ms.items():
            if isinstance(ms, int | float) and not isinstance(ms, bool) and 0 <= ms < 1e12:
                phases[str(name)] = phases.get(str(name), 0.0) + float(ms)
    total = sum(phases.values())
    wall = _wall(trace)
    said = f"wall time {wall:.1f} s · " if wall is not None else ""
    lines = [f'<p id="times">{_e(said)}{_e(_duration(total))} in steps</p>']
    if phases:
        top = max(phases.values()) or 1.0
        rows = "".join(f'<span>{_e(name)}</span><div class="bar" style="width:{100 * ms / top:.1f}%"></div>'
                       f"<span>{_e(_duration(ms))}</span>" for name, ms in sorted(phases.items(), key=lambda x: -x[1]))
        lines.append(f'<div class="phases" id="phases">{rows}</div>')
    return "".join(lines)


def _wall(trace: Trace) -> float | None:
    match = STAMP.match(trace.dir.name)
    if match is None or trace.end is None or trace.end.t is None:
        return None
    try:
        started = datetime.datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").timestamp()  # local time, as named
    except ValueError:
        return None
    wall = trace.end.t - started
    return wall if 0 <= wall < 7 * 86400 else None


def _strip(trace: Trace, shots: Shots) -> str:
    items = []
    for step in trace.steps:
        shot = shots.get(step.screenshot)
        image = (f'<div class="img {shot[0]}" style="aspect-ratio:{shot[1]}/{shot[2]}"></div>' if shot
                 else '<div class="missing">—</div>')
        label = f"{step.index} · {(step.action or {}).get('action', 'no action')} · {step.outcome.status}"
        items.append(f'<a class="thumb t-{step_tone(step)}" href="#step-{_e(step.index)}">{image}'
                     f"<span>{_e(label)}</span></a>")
    if trace.end is not None:
        shot = shots.get(trace.end.screenshot)
        image = f'<div class="img {shot[0]}" style="aspect-ratio:{shot[1]}/{shot[2]}"></div>' if shot else ""
        items.append(f'<a class="thumb t-{tone(trace.end.status)}" href="#end">{image}'
                     f"<span>end · {_e(trace.end.status)}</span></a>")
    return f'<nav class="strip" id="strip" aria-label="steps">{"".join(items)}</nav>'


def _footer(trace: Trace, shots: Shots) -> str:
    end = trace.end
    if end is None:
        return '<footer id="end" class="t-meh"><h2>End</h2>The trace has no end line: the run was cut off.</footer>'
    when = (datetime.datetime.fromtimestamp(end.t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            if end.t is not None and 0 < end.t < 1e11 else "")
    rows = [("status", f'<span class="badge {tone(end.status)}">{_e(end.status)}</span>'),
            ("reason", _e(end.reason)), ("steps", _e(end.steps)),
            ("answer", f"<pre>{_e(end.answer)}</pre>" if end.answer is not None else ""),
            ("ended", _e(when)), ("screenshot problems", _e("; ".join(end.screenshot_errors)))]
    extra = {k: v for k, v in end.extra.items()}
    if extra:
        rows.append(("more", f"<pre>{_e(_json(extra, 2))}</pre>"))
    details = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows if v)
    shot = shots.get(end.screenshot)
    image = (f'<figure class="endshot"><figcaption>the screen after the last step</figcaption>'
             f'<div class="img {shot[0]}" role="img" aria-label="the screen after the last step" '
             f'style="aspect-ratio:{shot[1]}/{shot[2]}"></div></figure>') if shot else ""
    return f'<footer id="end" class="t-{tone(end.status)}"><h2>End</h2><dl>{details}</dl>{image}</footer>'


def _step(trace: Trace, step: StepLine, shots: Shots) -> str:
    index = _e(step.index)  # an integer (read_trace checks it); escaped like every value from the trace
    action, outcome, verdict, check = step.action or {}, step.outcome, step.verdict, step.verify
    title = _e(_short(action) if action else "no usable action")
    status = _e(outcome.status)
    badges = f'<span class="badge {step_tone(step)}">{status}</span>'
    if check.get("result") and check["result"] != "skipped":
        badges += f'<span class="badge {tone(str(check["result"]))}">verify: {_e(check["result"])}</span>'
    rows = [
        ("action", f"<pre>{_e(_json(action))}</pre>" if action else "—"),
        ("model text", f"<pre>{_e(step.raw_text)}</pre>" if step.raw_text else "—"),
        ("verdict", _e(f"{verdict.decision} ({verdict.rule}) {verdict.reason}")
         if verdict else "not reviewed (recorded by a person)" if step.policy.get("recorded") else "—"),
        ("outcome", _e(f"{outcome.status} {outcome.detail}")),
        ("feedback", _e(step.feedback)),
        ("error", _e(step.error or "")),
        ("verification", f"<pre>{_e(_json(dict(check)))}</pre>" if check else ""),
        ("stop reason", _e(step.stop_reason or "")),
        ("timings", _e(_timings(step.timings_ms))),
        ("effect", _e(_json(step.effect.to_json())) if step.effect else ""),
    ]
    details = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows if v)
    after = _after(trace, step)
    pair = (f'<div class="pair"><figure><figcaption>before</figcaption>{_shot(trace, step, shots)}</figure>'
            f"<figure><figcaption>after</figcaption>{_plain(shots, after, step)}</figure></div>")
    return (f'<section class="step t-{step_tone(step)}" id="step-{index}" data-step="{index}">'
            f"<h2>Step {index} · {title}{badges}</h2>{pair}{_crops(trace, step)}<dl>{details}</dl></section>")


def _after(trace: Trace, step: StepLine) -> Path | None:
    try:
        return trace.screenshot_after(step)
    except TypeError:  # an index that is not a number (read_trace refuses those; a hand-made Trace may not)
        return None


def _shot(trace: Trace, step: StepLine, shots: Shots) -> str:
    shot = shots.get(step.screenshot)
    if shot is None:
        return '<div class="missing">no screenshot for this step</div>'
    cls, width, height = shot
    alt = f"screenshot before step {step.index}"
    return (f'<div class="img {cls}" role="img" aria-label="{_e(alt)}" style="aspect-ratio:{width}/{height}">'
            f"{_overlay(step, width, height)}</div>")


def _plain(shots: Shots, path: Path | None, step: StepLine) -> str:
    shot = shots.get(path)
    if shot is None:
        return '<div class="missing">no screenshot after this step</div>'
    return (f'<div class="img {shot[0]}" role="img" aria-label="{_e(f"screenshot after step {step.index}")}" '
            f'style="aspect-ratio:{shot[1]}/{shot[2]}"></div>')


def _crops(trace: Trace, step: StepLine) -> str:
    """Recorded vs current pixels around the target, for a verification that did not simply match."""
    if step.verify.get("result") not in ("diverged", "moved", "regrounded"):
        return ""
    recorded, current, missing = verify_crops(trace, step)
    figures = []
    for caption, src in (("recorded (what the replay looked for)", recorded),
                         ("current (what was there)", current)):
        if src is not None:
            figures.append(f'<figure><figcaption>{_e(caption)}</figcaption><img src="{src}" alt="{_e(caption)}">'
                           "</figure>")
    note = f"<p>{_e(missing)}</p>" if missing else ""
    return f'<div class="crops" data-crops="{len(figures)}">{"".join(figures)}{note}</div>' if figures or note else ""


def _overlay(step: StepLine, width: int, height: int) -> str:
    """SVG marks in screen coordinates: rings per click, drag path, scroll arrow, verification."""
    from agent.traces.report_marks import marks

    body = marks(step, width, height)
    if not body:
        return ""
    return f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" aria-hidden="true">{body}</svg>'


def _screen_text(screen: Screen) -> str:
    monitor = screen.monitor
    return (f"{screen.width}×{screen.height} pixels, monitor at ({monitor.get('left')}, "
            f"{monitor.get('top')}) of the desktop, scale {screen.scale}")


def _short(action: Mapping[str, Any]) -> str:
    name = str(action.get("action", "?"))
    rest = {k: v for k, v in action.items() if k != "action"}
    text = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in rest.items())
    return f"{name} {text}"[:160]


def _duration(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def _timings(timings: Mapping[str, Any]) -> str:
    return " · ".join(f"{k} {v:.1f} ms" if isinstance(v, int | float) else f"{k} {v}" for k, v in timings.items())


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _e(value: Any) -> str:
    """Any value from the trace as HTML text (quotes too: it may land in an attribute)."""
    return escape(str(value), quote=True)
