"""SVG marks for one step of a trace report, in screen coordinates of the step's screenshot.

A ring per click (two for a double click, three for a triple), a line with an arrowhead for a drag,
an arrow for a scroll, a hollow ring for a pointer move; for a verified replay, a dashed box where
the target was expected and an arrow to where it was found (moved or re-grounded).
Not for: the page around them (agent.traces.report).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from agent.traces.lines import StepLine

RED, BLUE, PURPLE = "#e0245e", "#1f6feb", "#8250df"
_RINGS = {"left_click": 1, "right_click": 1, "middle_click": 1, "double_click": 2, "triple_click": 3}


def marks(step: StepLine, width: int, height: int) -> str:
    action = step.action or {}
    name, r = action.get("action"), max(8, round(min(width, height) / 60))
    index = step.index if isinstance(step.index, int) else 0  # read_trace checks it; ids never hold text
    out = [_defs(index)]
    out.append(_verification(step.verify, index, r))
    point, start = _xy(action.get("coordinate")), _xy(action.get("start_coordinate"))
    if name in _RINGS and point:
        out += [_ring(point, r * (1 + 0.6 * i), RED) for i in range(_RINGS[name])]
        out.append(_dot(point, RED))
        out.append(_label(point, r, str(name)))
    elif name == "left_click_drag" and point:
        if start:
            out += [_ring(start, r, RED), _line(start, point, RED, index)]
        out += [_dot(point, RED), _label(point, r, "drag")]
    elif name in ("scroll", "hscroll"):
        pixels = action.get("pixels")
        amount = int(pixels) if isinstance(pixels, int | float) and abs(pixels) < 1e9 else 0
        out.append(_scroll(point or (width // 2, height // 2), name, amount, r, index))
    elif name == "mouse_move" and point:
        out += [_ring(point, r, RED, dashed=True), _label(point, r, "move")]
    body = "".join(part for part in out[1:] if part)
    return out[0] + body if body else ""


def _verification(check: Mapping[str, Any], index: int, r: int) -> str:
    expected = _xy(check.get("expected"))
    if expected is None:
        return ""
    parts = [f'<rect x="{expected[0] - 3 * r}" y="{expected[1] - 3 * r}" width="{6 * r}" height="{6 * r}" '
             f'fill="none" stroke="{BLUE}" stroke-width="2" stroke-dasharray="6 4" vector-effect="non-scaling-stroke">'
             f"<title>expected target ({escape(str(check.get('result')))})</title></rect>"]
    moved = _xy(check.get("moved_by"))
    if moved is not None and moved != (0, 0):
        found = (expected[0] + moved[0], expected[1] + moved[1])
        color = PURPLE if check.get("result") == "regrounded" else BLUE
        parts.append(_line(expected, found, color, index, dashed=True))
    return "".join(parts)


def _scroll(point: tuple[int, int], name: str, pixels: int, r: int, index: int) -> str:
    length = 4 * r
    sign = 1 if pixels > 0 else -1
    dx, dy = (sign * length, 0) if name == "hscroll" else (0, -sign * length)  # scroll > 0 is up
    end = (point[0] + dx, point[1] + dy)
    return _ring(point, r, RED) + _line(point, end, RED, index) + _label(point, r, f"{name} {pixels}")


def _defs(index: int) -> str:
    def marker(key: str, color: str) -> str:
        return (f'<marker id="arrow-{key}-{index}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>')

    return f"<defs>{marker('r', RED)}{marker('b', BLUE)}{marker('p', PURPLE)}</defs>"


def _ring(p: tuple[int, int], r: float, color: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    return (f'<circle cx="{p[0]}" cy="{p[1]}" r="{r:.1f}" fill="none" stroke="{color}" stroke-width="3"{dash} '
            'vector-effect="non-scaling-stroke"/>')


def _dot(p: tuple[int, int], color: str) -> str:
    return f'<circle cx="{p[0]}" cy="{p[1]}" r="3" fill="{color}"/>'


def _line(a: tuple[int, int], b: tuple[int, int], color: str, index: int, dashed: bool = False) -> str:
    key = {RED: "r", BLUE: "b", PURPLE: "p"}[color]
    dash = ' stroke-dasharray="8 5"' if dashed else ""
    return (f'<line x1="{a[0]}" y1="{a[1]}" x2="{b[0]}" y2="{b[1]}" stroke="{color}" stroke-width="3"{dash} '
            f'marker-end="url(#arrow-{key}-{index})" vector-effect="non-scaling-stroke"/>')


def _label(p: tuple[int, int], r: int, text: str) -> str:
    return (f'<text x="{p[0] + r + 6}" y="{p[1] - r - 4}" fill="{RED}" stroke="#fff" stroke-width="3" '
            f'paint-order="stroke" font-size="{max(12, r + 4)}" font-family="sans-serif">{escape(text)}</text>')


def _xy(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, int | float) and abs(v) < 1e9 for v in value):  # finite (JSON may hold NaN, Infinity)
        return int(value[0]), int(value[1])
    return None
