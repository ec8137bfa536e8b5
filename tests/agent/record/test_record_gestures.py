"""Recording without a display: raw input events → actions (agent.record.gestures), pynput keys → names."""

from __future__ import annotations

import pytest

from actions.schema import action_to_json
from agent.record.gestures import Gesture, GestureOptions, Gestures, KeyDown, KeyUp, Motion, Press, Release, Wheel
from agent.record.keytap import name_of

OPTS = GestureOptions(double_click_s=0.4, drag_px=5, scroll_pixels_per_click=1,
                      stop=frozenset({"ctrl", "alt", "shift", "e"}))


def run(events: list, options: GestureOptions = OPTS) -> list[dict]:
    g, out = Gestures(options), []
    for event in events:
        out += g.due(event.t)
        out += g.feed(event)
    out += g.finish()
    return [action_to_json(x.action) for x in out]


def click(t: float, x: int, y: int, button: str = "left", frame: object = None) -> list:
    return [Press(t, x, y, button, frame), Release(t + 0.03, x, y, button)]


def keys(t: float, text: str) -> list:
    out = []
    for i, ch in enumerate(text):
        name = "space" if ch == " " else ch.lower()
        out += [KeyDown(t + i * 0.05, name, ch), KeyUp(t + i * 0.05 + 0.02, name)]
    return out


def test_single_double_and_triple_clicks() -> None:
    events = [*click(0.0, 10, 10), *click(1.0, 50, 50), *click(1.15, 51, 50), *click(2.0, 90, 90),
              *click(2.1, 90, 91), *click(2.2, 90, 90)]
    assert run(events) == [
        {"action": "left_click", "coordinate": [10, 10]},
        {"action": "double_click", "coordinate": [50, 50]},
        {"action": "triple_click", "coordinate": [90, 90]},
    ]


def test_clicks_too_far_apart_in_time_or_space_stay_single() -> None:
    events = [*click(0.0, 10, 10), *click(0.6, 10, 10), *click(0.7, 40, 10)]
    assert [a["action"] for a in run(events)] == ["left_click"] * 3


def test_a_fourth_quick_click_starts_a_new_click() -> None:
    events = [*click(0.0, 5, 5), *click(0.1, 5, 5), *click(0.2, 5, 5), *click(0.3, 5, 5)]
    assert [a["action"] for a in run(events)] == ["triple_click", "left_click"]


def test_right_and_middle_clicks_are_not_merged() -> None:
    events = [*click(0.0, 5, 5, "right"), *click(0.1, 5, 5, "right"), *click(0.2, 7, 7, "middle")]
    assert [a["action"] for a in run(events)] == ["right_click", "right_click", "middle_click"]


def test_drag_beyond_the_threshold() -> None:
    events = [Press(0.0, 100, 100, "left"), Motion(0.05, 103, 100), Motion(0.1, 160, 120),
              Release(0.2, 200, 120, "left")]
    assert run(events) == [{"action": "left_click_drag", "coordinate": [200, 120], "start_coordinate": [100, 100]}]


def test_jitter_below_the_threshold_is_a_click_at_the_press_point() -> None:
    events = [Press(0.0, 100, 100, "left"), Motion(0.05, 103, 102), Release(0.1, 102, 101, "left")]
    assert run(events) == [{"action": "left_click", "coordinate": [100, 100]}]


def test_wheel_events_are_summed_per_axis_and_spot() -> None:
    events = [Wheel(0.0, 50, 50, 0, -1), Wheel(0.05, 50, 51, 0, -1), Wheel(0.1, 51, 50, 0, -1),
              Wheel(0.3, 51, 50, 1, 0), Wheel(0.35, 51, 50, 1, 0), Wheel(0.5, 300, 300, 0, 2),
              Wheel(3.0, 300, 300, 0, 1)]
    assert run(events, GestureOptions(scroll_pixels_per_click=10)) == [
        {"action": "scroll", "pixels": -30, "coordinate": [50, 50]},
        {"action": "hscroll", "pixels": 20, "coordinate": [51, 50]},
        {"action": "scroll", "pixels": 20, "coordinate": [300, 300]},
        {"action": "scroll", "pixels": 10, "coordinate": [300, 300]},
    ]


def test_typing_is_merged_and_backspace_edits_it() -> None:
    events = [*keys(0.0, "Helo"), KeyDown(0.5, "backspace"), KeyUp(0.52, "backspace"), *keys(0.6, "lo World")]
    assert run(events) == [{"action": "type", "text": "Hello World"}]


def test_shifted_characters_are_text_and_shortcuts_are_keys() -> None:
    events = [KeyDown(0.0, "shift"), KeyDown(0.01, "a", "A"), KeyUp(0.02, "a"), KeyDown(0.03, "1", "!"),
              KeyUp(0.04, "shift"), KeyDown(0.1, "ctrl"), KeyDown(0.11, "s", "s"), KeyUp(0.12, "s"),
              KeyUp(0.13, "ctrl"), KeyDown(0.2, "enter"), KeyDown(0.3, "shift"), KeyDown(0.31, "tab"),
              KeyUp(0.32, "shift"), KeyDown(0.4, "ctrl"), KeyDown(0.41, "shift"), KeyDown(0.42, "T", "T")]
    assert run(events) == [
        {"action": "type", "text": "A!"},
        {"action": "key", "keys": ["ctrl", "s"]},
        {"action": "key", "keys": ["enter"]},
        {"action": "key", "keys": ["shift", "tab"]},
        {"action": "key", "keys": ["ctrl", "shift", "t"]},
    ]


def test_lone_modifiers_are_not_recorded() -> None:
    assert run([KeyDown(0.0, "shift"), KeyUp(0.1, "shift"), KeyDown(0.2, "ctrl"), KeyUp(0.3, "ctrl")]) == []


def test_the_stop_combination_ends_recording_and_is_not_recorded() -> None:
    g = Gestures(OPTS)
    out: list[Gesture] = []
    for e in [*keys(0.0, "ab"), KeyDown(1.0, "ctrl"), KeyDown(1.01, "alt"), KeyDown(1.02, "shift"),
              KeyDown(1.03, "e", "E"), *keys(2.0, "zz")]:
        out += g.feed(e)
    assert g.stopped and [action_to_json(x.action) for x in out] == [{"action": "type", "text": "ab"}]


def test_an_action_keeps_the_frame_of_its_first_event() -> None:
    g = Gestures(OPTS)
    done = g.feed(Press(0.0, 1, 1, "left", "frame-a")) + g.feed(Release(0.01, 1, 1, "left"))
    done += g.feed(Press(0.1, 1, 1, "left", "frame-b")) + g.feed(Release(0.11, 1, 1, "left"))
    done += g.feed(KeyDown(0.5, "x", "x", "frame-c")) + g.feed(KeyDown(0.6, "y", "y", "frame-d")) + g.finish()
    assert [(x.action.action, x.frame) for x in done] == [("double_click", "frame-a"), ("type", "frame-c")]


def test_a_pending_click_is_flushed_when_its_window_closes() -> None:
    g = Gestures(OPTS)
    g.feed(Press(0.0, 1, 1, "left"))
    g.feed(Release(0.05, 1, 1, "left"))
    assert g.due(0.3) == [] and [x.action.action for x in g.due(0.5)] == ["left_click"]


@pytest.mark.parametrize(("keysym", "expected"), [
    (0x61, ("a", "a")),
    (0x41, ("a", "A")),
    (0xE9, ("é", "é")),
    (0x01000000 | ord("Ł"), ("Ł", "Ł")),
    (0, None),
    (0x20, ("space", " ")),
    (0xFFE3, ("ctrl", None)),
    (0xFFEB, ("super", None)),
    (0xFF56, ("pagedown", None)),
    (0xFF0D, ("enter", None)),
    (0xFFC2, ("f5", None)),
    (0x1008FF14, None),  # XF86AudioPlay
])
def test_keysyms_become_canonical_names(keysym: int, expected: object) -> None:
    assert name_of(keysym) == expected
