"""Screen → input-device mapping over multi-monitor layouts and HiDPI scales, with fakes."""

from __future__ import annotations

import pytest

from actions.dispatch import Placement, perform
from actions.fake import FakeComputer
from actions.geometry import Monitor, from_desktop, to_desktop
from actions.schema import parse_action

# Two side-by-side monitors, the second one higher and to the right; a third one left of the
# primary at a negative offset, as XRandR layouts allow.
LAYOUT = {
    "primary": Monitor(0, 0, 1920, 1080),
    "right": Monitor(1920, -200, 2560, 1440),
    "left": Monitor(-1280, 0, 1280, 1024),
}


@pytest.mark.parametrize("name", sorted(LAYOUT))
@pytest.mark.parametrize("scale", [1.0, 1.25, 2.0])
def test_round_trip_of_every_corner(name: str, scale: float) -> None:
    m = LAYOUT[name]
    for point in [(0, 0), (m.width - 1, 0), (0, m.height - 1), (m.width - 1, m.height - 1), (m.width // 2, 7)]:
        back = from_desktop(to_desktop(point, m, scale), m, scale)
        assert abs(back[0] - point[0]) <= scale and abs(back[1] - point[1]) <= scale


@pytest.mark.parametrize("scale", [1.0, 1.25, 1.5, 1.75, 2.0, 3.0])
def test_every_pixel_maps_inside_its_own_monitor(scale: float) -> None:
    """At a HiDPI scale a monitor's last column and row must not land on the monitor beside it.
    Monitors sit at whole logical positions (as compositors place outputs); their pixels are those
    times the scale, as the Wayland captures give them."""
    logical = [(0, 0, 1280, 720), (1280, -100, 1440, 900), (-1024, 0, 1024, 768)]
    for lx, ly, lw, lh in logical:
        m = Monitor(round(lx * scale), round(ly * scale), round(lw * scale), round(lh * scale))
        box = (lx, ly, lx + lw, ly + lh)
        for point in [(x, y) for x in (0, 1, m.width - 2, m.width - 1) for y in (0, 1, m.height - 2, m.height - 1)]:
            x, y = to_desktop(point, m, scale)
            assert box[0] <= x < box[2] and box[1] <= y < box[3], (m, scale, point, (x, y))


def test_offsets_are_added_and_scale_divides() -> None:
    assert to_desktop((10, 20), LAYOUT["right"]) == (1930, -180)
    assert to_desktop((10, 20), LAYOUT["left"]) == (-1270, 20)
    assert to_desktop((200, 100), Monitor(0, 0, 3840, 2160), scale=2.0) == (100, 50)
    assert to_desktop((200, 100), Monitor(3840, 0, 3840, 2160), scale=2.0) == (2020, 50)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"action": "left_click", "coordinate": [100, 50]}, ("click", (2020, -150), "left", 1)),
        ({"action": "double_click", "coordinate": [0, 0]}, ("click", (1920, -200), "left", 2)),
        ({"action": "triple_click"}, ("click", None, "left", 3)),
        ({"action": "right_click", "coordinate": [1, 1]}, ("click", (1921, -199), "right", 1)),
        ({"action": "middle_click", "coordinate": [2, 2]}, ("click", (1922, -198), "middle", 1)),
        ({"action": "mouse_move", "coordinate": [5, 5]}, ("move", (1925, -195))),
        ({"action": "left_click_drag", "coordinate": [10, 10]}, ("drag", None, (1930, -190))),
        ({"action": "scroll", "pixels": -3, "coordinate": [0, 0]}, ("scroll", (1920, -200), 0, -3)),
        ({"action": "hscroll", "pixels": 2}, ("scroll", None, 2, 0)),
        ({"action": "type", "text": "é"}, ("type", "é")),
        ({"action": "key", "keys": ["ctrl", "c"]}, ("key", ("ctrl", "c"))),
    ],
)
def test_dispatch_maps_every_action_onto_the_right_monitor(data: dict, expected: tuple) -> None:
    fake = FakeComputer(monitor=LAYOUT["right"])
    perform(parse_action(data), fake, Placement(LAYOUT["right"]))
    assert fake.calls == [expected]


def test_dispatch_on_a_hidpi_monitor() -> None:
    m = Monitor(2560, 0, 5120, 2880)
    fake = FakeComputer(monitor=m, scale=2.0)
    perform(parse_action({"action": "left_click", "coordinate": [1000, 500]}), fake, Placement(m, 2.0))
    assert fake.calls == [("click", (1780, 250), "left", 1)]


def test_scroll_pixels_become_at_least_one_click() -> None:
    fake = FakeComputer()
    where = Placement(fake.monitor, 1.0, scroll_pixels_per_click=120)
    perform(parse_action({"action": "scroll", "pixels": -10}), fake, where)
    perform(parse_action({"action": "scroll", "pixels": 360}), fake, where)
    assert [c[3] for c in fake.calls] == [-1, 3]


def test_screenshot_must_match_its_monitor() -> None:
    from PIL import Image

    from actions.geometry import Screenshot

    with pytest.raises(ValueError, match="does not match"):
        Screenshot(Image.new("RGB", (10, 10)), Monitor(0, 0, 20, 10))
