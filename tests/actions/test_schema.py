"""The action union: every action round-trips through the JSON the model writes; bad input is rejected."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from actions.keys import canonical_key
from actions.schema import ACTION_NAMES, ActionError, LeftClick, action_to_json, parse_action, points_of

EXAMPLES = [
    {"action": "key", "keys": ["ctrl", "s"]},
    {"action": "type", "text": "Grüße, 中文 😀"},
    {"action": "mouse_move", "coordinate": [10, 20]},
    {"action": "left_click", "coordinate": [1, 2]},
    {"action": "left_click"},
    {"action": "right_click", "coordinate": [3, 4]},
    {"action": "middle_click", "coordinate": [5, 6]},
    {"action": "double_click", "coordinate": [7, 8]},
    {"action": "triple_click"},
    {"action": "left_click_drag", "coordinate": [100, 200]},
    {"action": "left_click_drag", "coordinate": [100, 200], "start_coordinate": [1, 1]},
    {"action": "scroll", "pixels": -5},
    {"action": "scroll", "pixels": 3, "coordinate": [9, 9]},
    {"action": "hscroll", "pixels": 2, "coordinate": [9, 9]},
    {"action": "wait", "time": 0.5},
    {"action": "wait", "time": 2},
    {"action": "terminate", "status": "success"},
    {"action": "terminate", "status": "failure"},
    {"action": "answer", "text": "42"},
]


def test_examples_cover_the_whole_vocabulary() -> None:
    assert {e["action"] for e in EXAMPLES} == set(ACTION_NAMES)


@pytest.mark.parametrize("data", EXAMPLES, ids=lambda d: d["action"])
def test_round_trip_through_json(data: dict) -> None:
    text = json.dumps(data, ensure_ascii=False)
    action = parse_action(json.loads(text))
    assert action_to_json(action) == data
    assert json.dumps(action_to_json(action), ensure_ascii=False) == text  # the same JSON text: 2 stays 2, not 2.0
    assert parse_action(action_to_json(action)) == action


def test_actions_are_frozen() -> None:
    action = parse_action({"action": "left_click", "coordinate": [1, 2]})
    with pytest.raises(ValidationError, match="frozen"):
        action.coordinate = (3, 4)  # type: ignore[misc]
    assert isinstance(action, LeftClick) and hash(action)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"action": "rm_rf"}, "unknown action"),
        ("left_click", "JSON object"),
        ({"action": "left_click", "coordinate": [1]}, "coordinate"),
        ({"action": "left_click", "coordinate": [1, 2, 3]}, "coordinate"),
        ({"action": "mouse_move"}, "coordinate"),
        ({"action": "type", "text": ""}, "text"),
        ({"action": "key", "keys": []}, "keys"),
        ({"action": "key", "keys": ["hyperdrive"]}, "unknown key"),
        ({"action": "terminate", "status": "maybe"}, "status"),
        ({"action": "wait", "time": -1}, "time"),
        ({"action": "left_click", "coordinate": [1, 2], "button": "left"}, "button"),
    ],
)
def test_bad_actions_are_rejected_with_the_field(data: object, fragment: str) -> None:
    with pytest.raises(ActionError, match=fragment):
        parse_action(data)


def test_key_names_are_canonical() -> None:
    action = parse_action({"action": "key", "keys": ["Control_L", "Return"]})
    assert action.keys == ("ctrl", "enter")
    assert canonical_key("cmd") == "super" and canonical_key("PgDn") == "pagedown"
    assert canonical_key("A") == "a" and canonical_key("é") == "é"


def test_points_of_lists_every_coordinate() -> None:
    drag = parse_action({"action": "left_click_drag", "coordinate": [5, 6], "start_coordinate": [1, 2]})
    assert set(points_of(drag)) == {(5, 6), (1, 2)}
    assert points_of(parse_action({"action": "type", "text": "x"})) == ()
