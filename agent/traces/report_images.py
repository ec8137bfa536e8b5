"""The images of a trace report: every screenshot once, as a CSS class, and verification crops.

A report shows each screenshot up to three times (the thumbnail, the step's "before", the previous
step's "after"); inlining it three times would triple the file. So each PNG is inlined once, as a
CSS class with the image as its background (`Shots.css()`), and every place that shows it is an
element of that class. The PNG bytes go in as written, not re-encoded.
`verify_crops` cuts, for a replay step whose verification did not match, the recorded pixels around
the recorded target (from the replayed trace, the header's `source`) and the same-sized square of
the screen the replay saw around where it expected the target, so the two can be set side by side.
Not for: the page (agent.traces.report) or the SVG marks (agent.traces.report_marks).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actions.files import read_input
from agent.traces.lines import StepLine
from agent.traces.store import MAX_SCREENSHOT_BYTES, Trace

CROP_SIDE = 160  # pixels of screen shown around a target in a crop


@dataclass
class Shots:
    """The screenshots a report shows, each inlined once: `name -> (css class, width, height)`."""

    directory: Path
    known: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    _css: list[str] = field(default_factory=list)

    def get(self, name: str | Path | None) -> tuple[str, int, int] | None:
        """The CSS class showing screenshot `name` of the trace (None: missing or not a PNG)."""
        if name is None:
            return None
        key = Path(name).name
        if key in self.known:
            return self.known[key]
        path = self.directory / key
        try:  # bounded like every screenshot read: a FIFO, a device or a giant file shows as missing
            data = read_input(path, MAX_SCREENSHOT_BYTES)
        except OSError:
            data = b""
        size = png_size(data)
        if size is None:
            return None
        cls = f"i{len(self.known)}"
        self.known[key] = (cls, *size)
        self._css.append(f'.{cls}{{background-image:url("data:image/png;base64,{base64.b64encode(data).decode()}")}}')
        return self.known[key]

    def css(self) -> str:
        return "\n".join(self._css)


def png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def verify_crops(trace: Trace, step: StepLine) -> tuple[str | None, str | None, str]:
    """(recorded crop, current crop, what is missing) as data URLs, for a step whose verification did
    not simply match; the recorded one comes from the replayed trace named by the header's source."""
    from agent.traces.store import TraceError, load_screenshot, read_trace

    check = step.verify
    expected = _xy(check.get("expected"))
    current = recorded = None
    notes = []
    if expected is not None and step.screenshot:
        try:
            current = _crop(load_screenshot(trace.dir / step.screenshot), expected)
        except TraceError as exc:
            notes.append(str(exc))
    number, source = step.policy.get("replay_step"), trace.header.source
    if isinstance(number, int) and source:
        try:
            old = read_trace(source)
            line = next((s for s in old.steps if s.index == number), None)
            point = _target(line.action) if line is not None and line.action else None
            if line is None or point is None or not line.screenshot:
                notes.append(f"step {number} of the recorded trace has no target or screenshot")
            else:
                recorded = _crop(load_screenshot(old.dir / line.screenshot), point)
        except TraceError as exc:
            notes.append(f"the recorded trace cannot be read: {exc}")
    elif source:
        notes.append("the step does not name the recorded step it replays")
    return recorded, current, "; ".join(notes)


def _crop(image: Any, point: tuple[int, int]) -> str:
    half = CROP_SIDE // 2
    box = (point[0] - half, point[1] - half, point[0] + half, point[1] + half)
    crop = image.crop(box)  # outside the screen: black, so the square keeps its place
    buffer = io.BytesIO()
    crop.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _target(action: Any) -> tuple[int, int] | None:
    return _xy(action.get("start_coordinate")) or _xy(action.get("coordinate"))


def _xy(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, int | float) and abs(v) < 1e9 for v in value):
        return int(value[0]), int(value[1])
    return None
