"""Settling: stops as soon as the screen is still, reports where it changed, respects the cap."""

from __future__ import annotations

from PIL import Image, ImageDraw

from actions.geometry import Monitor, Screenshot
from agent.settle import differs, settle

M = Monitor(0, 0, 200, 100)


def frame(box: tuple[int, int, int, int] | None = None) -> Screenshot:
    image = Image.new("RGB", (200, 100), "white")
    if box:
        ImageDraw.Draw(image).rectangle(box, fill="black")
    return Screenshot(image, M)


def test_settles_once_the_animation_stops() -> None:
    frames = iter([frame((0, 0, 10, 10)), frame((0, 0, 20, 10)), frame((0, 0, 30, 10))] + [frame((0, 0, 30, 10))] * 5)
    result = settle(lambda: next(frames), frame(), 0.001, 2, 5.0)
    assert result.stable and result.frames == 5 and result.changed_box == (0, 0, 31, 11)


def test_no_change_is_reported() -> None:
    result = settle(frame, frame(), 0.001, 2, 5.0)
    assert result.stable and not result.changed and result.frames == 3


def test_gives_up_at_the_cap() -> None:
    counter = iter(range(10_000))
    result = settle(lambda: frame((0, 0, next(counter) % 150, 5)), frame(), 0.001, 2, 0.05)
    assert not result.stable and result.ms < 1000


def test_a_blinking_caret_under_the_threshold_counts_as_still() -> None:
    caret = frame((100, 40, 101, 55))
    assert differs(frame(), caret) is not None
    assert differs(frame(), caret, threshold=0.01) is None
    assert differs(frame(), frame((0, 0, 199, 99)), threshold=0.01) is not None
