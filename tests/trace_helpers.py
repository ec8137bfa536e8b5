"""Synthetic screens and traces for the verify, report and export tests (no display needed).

`ui_image` draws a window-like screen: a textured background and labelled buttons at given centres.
`write_trace` writes a trace directory like a run would (header, steps with screenshots, end).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from actions.gate import Verdict
from actions.geometry import Monitor, Screenshot
from agent.traces.lines import EndLine, Origin, Outcome, Screen, StepLine
from agent.traces.store import TraceWriter


def ui_image(size: tuple[int, int] = (640, 400), buttons: Mapping[str, tuple[int, int]] | None = None,
             background: int = 236) -> Image.Image:
    image = Image.new("RGB", size, (background, background, background))
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 53):  # a faint, irregular texture, so no region is featureless
        draw.line([(x, 0), (x + 17, size[1])], fill=(background - 25,) * 3)
    for y in range(0, size[1], 41):
        draw.line([(0, y), (size[0], y + 9)], fill=(background - 40,) * 3)
    font = ImageFont.load_default(size=15)
    for name, (cx, cy) in (buttons or {}).items():
        draw.rectangle([cx - 40, cy - 14, cx + 40, cy + 14], fill=(70, 110, 190), outline=(10, 10, 40), width=2)
        draw.text((cx, cy), name.strip(), fill=(255, 255, 255), font=font, anchor="mm")
    return image


def shot_of(image: Image.Image) -> Screenshot:
    return Screenshot(image=image, monitor=Monitor(0, 0, *image.size))


def write_trace(directory: Path, task: str, steps: Sequence[tuple[dict[str, Any], Image.Image, dict[str, Any]]],
                status: str = "success", end_image: Image.Image | None = None, origin: Origin | None = None) -> Path:
    """`steps`: (action, screenshot, extra step fields) each; outcome executed, or final for terminate/answer.
    `end_image`: the screen after the last step (end.png)."""
    writer = TraceWriter(directory)
    width, height = steps[0][1].size
    writer.header((origin or Origin()).header(task, "qwen", Screen(width, height, 1.0, {
        "left": 0, "top": 0, "width": width, "height": height})))
    for index, (action, image, extra) in enumerate(steps, start=1):
        final = action["action"] in ("terminate", "answer")
        line = StepLine(index=index, action=action, verdict=Verdict("allow", "on_screen", ""),
                        outcome=Outcome("final" if final else "executed", ""),
                        timings_ms={"capture": 1.5, "decide": 210.0, "execute": 12.0})
        writer.step(StepLine.from_json({**line.to_json(), **extra}), shot_of(image))  # extra: JSON fields
    writer.end(EndLine(status=status, reason="test", steps=len(steps)),
               None if end_image is None else shot_of(end_image))
    writer.close()
    return directory
