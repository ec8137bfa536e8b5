"""`deskpilot report TRACE`: one self-contained HTML page showing a trace, readable offline.

Every step's screenshot is inlined as a data URL (the PNG bytes as written, not re-encoded) with
an SVG overlay in screen coordinates: the click point (one ring per click), the drag path, the
scroll direction, and for verified replays where the target was expected and where it was found.
Next to it: the action, the model's raw text, the verdict, the outcome, verification, timings.
No scripts, no external resources: the file can be mailed, archived or opened without a network.
Not for: reading traces (agent.traces.store) or anything interactive.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from agent.cli.output import write_atomically
from agent.traces.lines import Screen, StepLine
from agent.traces.store import Trace, read_trace

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header,section,footer{background:#fff;margin:16px auto;max-width:1180px;padding:16px 20px;border-radius:8px;
box-shadow:0 1px 3px #0002}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:0 0 10px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;margin-left:6px;
background:#dde2ea}
.success,.executed,.final,.allow,.matched,.settled{background:#d3f4dc;color:#145a26}
.failure,.error,.denied,.deny,.invalid,.failed,.diverged,.stuck{background:#fbd9d9;color:#8a1414}
.moved,.regrounded,.confirm,.dry_run,.max_steps,.cancelled,.max_time{background:#fff0c2;color:#6b4e00}
.shot{position:relative;max-width:1140px;border:1px solid #ccd;line-height:0}
.shot img{width:100%;height:auto;display:block}.shot svg{position:absolute;left:0;top:0;width:100%;height:100%}
dl{display:grid;grid-template-columns:130px 1fr;gap:4px 12px;margin:12px 0 0}dt{color:#5a6475;font-weight:600}
dd{margin:0;overflow-wrap:anywhere}pre{margin:0;white-space:pre-wrap;font:12px/1.4 ui-monospace,monospace;
background:#f6f8fa;padding:6px 8px;border-radius:4px}table{border-collapse:collapse}
td{padding:2px 12px 2px 0;vertical-align:top}.missing{padding:40px;color:#888;line-height:1.4}
"""


def write_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Render the trace at `path` to `out` (default: report.html inside the trace directory)."""
    trace = read_trace(path)
    target = Path(out) if out is not None else trace.dir / "report.html"
    return write_atomically(target, [render(trace)])  # OutputError naming `target` when it cannot be written


def render(trace: Trace) -> str:
    h = trace.header
    title = f"deskpilot trace: {h.task or '(no task)'}"
    steps = "\n".join(_step(trace, step) for step in trace.steps)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head>\n<body>\n{_header(trace)}\n{steps}\n{_footer(trace)}\n</body></html>\n")


def _header(trace: Trace) -> str:
    h, end = trace.header, trace.end
    status = end.status if end is not None else "unfinished"
    rows = [("task", h.task), ("policy", h.policy), ("source", h.source or ""),
            ("screen", _screen_text(h.screen) if h.screen is not None else ""),
            ("model", _json(h.model) if h.model is not None else ""),
            ("replay", _json(h.replay) if h.replay is not None else ""),
            ("steps", str(len(trace.steps))), ("trace", str(trace.dir))]
    table = "".join(f"<tr><td><b>{_e(k)}</b></td><td>{_e(v)}</td></tr>" for k, v in rows if v)
    config = f"<details><summary>config</summary><pre>{_e(_json(h.config, 2))}</pre></details>" \
        if h.config is not None else ""
    return (f'<header><h1>{_e(h.task or "(no task)")}</h1>'
            f'<p>final status <span class="badge {_e(status)}" id="final-status">{_e(status)}</span> '
            f"{_e(end.reason if end is not None else '')}</p><table>{table}</table>{config}</header>")


def _footer(trace: Trace) -> str:
    end = trace.end
    if end is None:
        return "<footer>The trace has no end line: the run was cut off.</footer>"
    fields = {k: v for k, v in end.to_json().items() if k != "type" and v is not None}
    return f"<footer><h2>End</h2><pre>{_e(_json(fields, 2))}</pre></footer>"


def _step(trace: Trace, step: StepLine) -> str:
    index = _e(step.index)  # an integer (read_trace checks it); escaped like every value from the trace
    action, outcome, verdict, check = step.action or {}, step.outcome, step.verdict, step.verify
    title = _e(_short(action) if action else "no usable action")
    status = _e(outcome.status)
    badges = f'<span class="badge {status}">{status}</span>'
    if check.get("result") and check["result"] != "skipped":
        badges += f'<span class="badge {_e(check["result"])}">verify: {_e(check["result"])}</span>'
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
    return (f'<section class="step" id="step-{index}" data-step="{index}"><h2>Step {index} · {title}{badges}</h2>'
            f"{_shot(trace, step)}<dl>{details}</dl></section>")


def _shot(trace: Trace, step: StepLine) -> str:
    path = trace.dir / step.screenshot if step.screenshot else None
    if path is None or not path.is_file():
        return '<div class="shot"><div class="missing">no screenshot for this step</div></div>'
    data = path.read_bytes()
    width, height = _png_size(data) or _screen(trace)
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    alt = f"screenshot before step {step.index}"
    return (f'<div class="shot"><img src="{src}" alt="{_e(alt)}" width="{width}" height="{height}">'
            f"{_overlay(step, width, height)}</div>")


def _overlay(step: StepLine, width: int, height: int) -> str:
    """SVG marks in screen coordinates: rings per click, drag path, scroll arrow, verification."""
    from agent.traces.report_marks import marks

    body = marks(step, width, height)
    if not body:
        return ""
    return (f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" aria-hidden="true">{body}</svg>')


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _screen_text(screen: Screen) -> str:
    monitor = screen.monitor
    return (f"{screen.width}×{screen.height} pixels, monitor at ({monitor.get('left')}, "
            f"{monitor.get('top')}) of the desktop, scale {screen.scale}")


def _screen(trace: Trace) -> tuple[int, int]:
    s = trace.header.screen
    return (max(1, s.width), max(1, s.height)) if s is not None else (1, 1)


def _short(action: Mapping[str, Any]) -> str:
    name = str(action.get("action", "?"))
    rest = {k: v for k, v in action.items() if k != "action"}
    text = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in rest.items())
    return f"{name} {text}"[:160]


def _timings(timings: Mapping[str, Any]) -> str:
    return " · ".join(f"{k} {v:.1f} ms" if isinstance(v, int | float) else f"{k} {v}" for k, v in timings.items())


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _e(value: Any) -> str:
    """Any value from the trace as HTML text (quotes too: it may land in an attribute)."""
    return escape(str(value), quote=True)
