"""The wlroots backend on HiDPI outputs: a private headless sway with an output at scale 2 and one at
the fractional scale 1.5 beside it, a native GTK probe window fullscreen on each.

Proves: the capture is in physical pixels and knows each output's scale; a click on any pixel —
every corner, the pixels next to them, the centre — reaches the window on that output, at the
logical point holding the pixel's centre (the last column of the scale-2 output used to land on the
output beside it); typed text is unaffected by the scale. Skips with a reason when sway, pywayland or
python3-gi are missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from wayland_helpers import HeadlessSway, ProbeApp, sway_skip_reason, typed

pytestmark = pytest.mark.skipif(sway_skip_reason() is not None, reason=str(sway_skip_reason()))
# physical width, height; logical x, y; scale: logical 640x400 at (0, 0) and 640x480 at (640, 100)
OUTPUTS = ((1280, 800, 0, 0, 2.0), (960, 720, 640, 100, 1.5))


@pytest.fixture(scope="module")
def sway() -> Iterator[HeadlessSway]:
    s = HeadlessSway(OUTPUTS)
    yield s
    s.close()


@pytest.fixture(scope="module")
def apps(sway: HeadlessSway) -> Iterator[tuple[ProbeApp, ProbeApp]]:
    made = (ProbeApp(sway, 1), ProbeApp(sway, 2))
    yield made
    for app in made:
        app.close()


@pytest.fixture
def wayland(sway: HeadlessSway, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sway.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DISPLAY", raising=False)


@pytest.mark.usefixtures("wayland")
def test_every_edge_pixel_lands_on_its_own_output_at_the_logical_point_holding_it(apps: tuple) -> None:
    from actions.geometry import to_desktop
    from actions.wayland.computer import WlrootsComputer

    for index, (width, height, _lx, _ly, scale) in enumerate(OUTPUTS, 1):
        app, other = apps[index - 1], apps[2 - index]
        computer = WlrootsComputer(index)
        try:
            shot = computer.screenshot()
            assert shot.size == (width, height) and shot.scale == pytest.approx(scale)
            xs, ys = (0, 1, width // 2, width - 2, width - 1), (0, 1, height // 2, height - 2, height - 1)
            for point in [(x, y) for x in xs for y in ys]:
                marks = app.mark(), other.mark()
                computer.click(to_desktop(point, shot.monitor, shot.scale), "left", 1)
                want = tuple(math.floor((p + 0.5) / scale) for p in point)
                got = app.wait_for(lambda e: e["e"] == "press" and e["n"] == 1, marks[0])  # not a double click's 2nd
                assert (got["x"], got["y"]) == want, (index, point)
                assert not [e for e in other.events()[marks[1]:] if e["e"] == "press"], (index, point)
        finally:
            computer.close()


@pytest.mark.usefixtures("wayland")
def test_text_types_alike_at_any_scale(apps: tuple) -> None:
    from actions.geometry import to_desktop
    from actions.wayland.computer import WlrootsComputer

    computer = WlrootsComputer(2)
    try:
        shot = computer.screenshot()
        computer.click(to_desktop((480, 360), shot.monitor, shot.scale), "left", 1)
        mark = apps[1].mark()
        computer.type_text("Zoë 中文 ✓/@")
        apps[1].wait_for(lambda e: e["e"] == "key" and e["char"] == "@", mark)
        assert typed(apps[1].events()[mark:]) == "Zoë 中文 ✓/@"
    finally:
        computer.close()


@pytest.mark.usefixtures("wayland")
def test_monitor_0_needs_one_scale_and_says_which_monitors_to_pick() -> None:
    from actions.capture import CaptureError
    from actions.wayland.computer import WlrootsComputer

    with pytest.raises(CaptureError) as refused:
        WlrootsComputer(0)
    message = str(refused.value)
    assert "only when they share one scale; these have 1.5, 2: set screen.monitor to one of 1..2" in message
