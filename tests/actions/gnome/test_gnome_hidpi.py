"""The GNOME backend on a HiDPI monitor: headless mutter with a 2560x1600 virtual monitor at scale 2 in
mutter's physical layout (its default), and at scale 2 and at the fractional 1.5 in the logical layout
(GNOME's fractional scaling, the experimental feature scale-monitor-framebuffer), a native GTK probe
window fullscreen on it.

Proves, for each: the capture is the monitor's physical pixels with the scale the backend learnt from
the stream; a click on any pixel — every corner, the pixels next to them, the centre, an odd one —
reaches the window within one logical pixel of that pixel's centre. Skips with a reason when mutter,
PipeWire, GStreamer, jeepney or python3-gi are missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from gnome_helpers import GnomeProbe, HeadlessMutter, mutter_skip_reason

pytestmark = pytest.mark.skipif(mutter_skip_reason() is not None, reason=str(mutter_skip_reason()))
FRACTIONAL = 1.502347469329834  # what mutter offers for "150 %" on 2560x1600 (GetCurrentState)
LAYOUTS = {"physical-2": (2.0, False), "logical-2": (2.0, True), "logical-1.5": (FRACTIONAL, True)}


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def desk(request: pytest.FixtureRequest) -> Iterator[tuple[HeadlessMutter, GnomeProbe, float, bool]]:
    scale, logical = LAYOUTS[request.param]
    mutter = HeadlessMutter(((2560, 1600),), scale=scale, logical_layout=logical)
    try:
        probe = GnomeProbe(mutter, 1)
        yield mutter, probe, scale, logical
        probe.close()
    finally:
        mutter.close()


def test_every_edge_pixel_lands_within_a_logical_pixel_of_its_centre(desk: tuple,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    mutter, probe, scale, logical = desk
    for key, value in mutter.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DISPLAY", raising=False)
    from actions.geometry import to_desktop
    from actions.gnome.start import open_computer

    computer = open_computer(1, "mutter")
    try:
        shot = computer.screenshot()
        assert shot.size == (2560, 1600)
        # the backend's scale: physical per layout unit (1 in the physical layout, where mutter scales windows)
        assert shot.scale == pytest.approx(scale if logical else 1.0, abs=1e-3)
        w, h = shot.size
        settled(computer, probe, to_desktop((w // 2, h // 2), shot.monitor, shot.scale))
        xs, ys = (0, 1, w // 2, 1001, w - 2, w - 1), (0, 1, h // 2, 333, h - 2, h - 1)
        for point in [(x, y) for x in xs for y in ys]:
            mark = probe.mark()
            computer.click(to_desktop(point, shot.monitor, shot.scale), "left", 1)
            try:
                event = probe.wait_for(lambda e: e["e"] == "press" and e["n"] == 1, mark)  # not a double click's 2nd
            except AssertionError as missed:
                raise AssertionError(f"the click on {point} did not reach the window: {missed}") from None
            centre = ((point[0] + 0.5) / scale, (point[1] + 0.5) / scale)  # in the window's logical pixels
            assert abs(event["x"] - centre[0]) <= 1 and abs(event["y"] - centre[1]) <= 1, (point, event)
    finally:
        computer.close()


def settled(computer: object, probe: GnomeProbe, centre: tuple[int, int], tries: int = 5) -> None:
    """Click the centre until the window answers: a click while GTK is still making the window fullscreen
    (its sizes go 200x200, then with shadows, then the monitor's) can be lost, and that is not what this
    module measures."""
    for _ in range(tries):
        mark = probe.mark()
        computer.click(centre, "left", 1)  # type: ignore[attr-defined]
        try:
            probe.wait_for(lambda e: e["e"] == "press", mark, timeout=2)
            time.sleep(0.5)  # past the double-click time: the next click is a click of its own
            return
        except AssertionError:
            continue
    raise AssertionError(f"the probe window never answered a click in {tries} tries")
