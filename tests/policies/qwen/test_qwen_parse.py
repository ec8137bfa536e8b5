"""The model-output parser: lenient about form, strict about meaning, total (only ParseError)."""

from __future__ import annotations

import json
import time

import pytest

from actions.schema import (
    DoubleClick,
    HScroll,
    Key,
    LeftClick,
    LeftClickDrag,
    Scroll,
    Terminate,
    TripleClick,
    Type,
    Wait,
)
from policies.qwen.parse import ParseError, extract_arguments, parse_reply
from policies.qwen.resize import ModelFrame

FRAME = ModelFrame(1920, 1080, 1316, 728)  # 1080p at max_pixels 1280·28·28


def call(arguments: dict, name: str = "computer_use") -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": arguments})}\n</tool_call>'


CLICK = {"action": "left_click", "coordinate": [658, 364]}


@pytest.mark.parametrize(
    "text",
    [
        call(CLICK),
        "I should press OK.\n" + call(CLICK),  # a thought before
        "Thought: the dialog {modal} is open.\n" + call(CLICK),  # braces in the thought
        '⚗\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [658, 364]}}\n⚗',
        '📐{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [658, 364]}}📐',
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [658, 364]}}',
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [658, 364]',
        '{"action": "left_click", "coordinate": [658, 364]}',  # a bare arguments object
        '<tool_call>{"name": "computer_use", "arguments": "{\\"action\\": \\"left_click\\", '
        '\\"coordinate\\": [658, 364]}"}</tool_call>',  # arguments as a JSON string (OpenAI style)
        call({"action": "left_click", "coordinate": ["658", "364"]}),
        call({"action": "left_click", "coordinate": "[658, 364]"}),
        call({"action": "left_click", "coordinate": "(658,364)"}),
        call({"action": "left_click", "coordinate": [658.2, 363.8]}),
        call({"action": "left_click", "coordinate": [[658, 364]]}),
        call({"action": "left_click", "coordinate": {"x": 658, "y": 364}}),
        call({"action": "left_click", "x": 658, "y": 364}),
        call({"action": " Left Click ", "coordinate": [658, 364], "text": "", "junk": {"a": 1}}),
        call(CLICK) + "\n" + call({"action": "right_click", "coordinate": [1, 1]}),  # the first call wins
    ],
)
def test_every_form_of_the_same_click(text: str) -> None:
    parsed = parse_reply(text, FRAME)
    assert parsed.action == LeftClick(coordinate=(960, 540))
    assert parsed.model_action["action"] == "left_click"
    assert [round(v) for v in parsed.model_action["coordinate"]] == [658, 364]


@pytest.mark.parametrize(
    ("arguments", "action"),
    [
        ({"action": "key", "keys": ["ctrl", "c"]}, Key(keys=("ctrl", "c"))),
        ({"action": "key", "keys": "ctrl+c"}, Key(keys=("ctrl", "c"))),
        ({"action": "key", "keys": ["ctrl+shift+t"]}, Key(keys=("ctrl", "shift", "t"))),
        ({"action": "key", "keys": "['ctrl', 'c']"}, Key(keys=("ctrl", "c"))),
        ({"action": "key", "keys": "Return"}, Key(keys=("enter",))),
        ({"action": "key", "text": "Escape"}, Key(keys=("esc",))),
        ({"action": "key", "keys": ["ctrl", "+"]}, Key(keys=("ctrl", "+"))),
        ({"action": "type", "text": "héllo 中文"}, Type(text="héllo 中文")),
        ({"action": "type", "text": 42}, Type(text="42")),
        ({"action": "scroll", "pixels": "-5.4"}, Scroll(pixels=-5)),
        ({"action": "hscroll", "pixels": 3, "coordinate": [1316, 728]}, HScroll(pixels=3, coordinate=(1919, 1079))),
        ({"action": "wait", "time": "2"}, Wait(time=2.0)),
        ({"action": "terminate", "status": "SUCCESS"}, Terminate(status="success")),
        ({"action": "double_click"}, DoubleClick()),
        ({"action": "triple_click", "coordinate": [0, 0]}, TripleClick(coordinate=(0, 0))),
        ({"action": "left_click_drag", "start_coordinate": [0, 728], "coordinate": [658, 0]},
         LeftClickDrag(start_coordinate=(0, 1079), coordinate=(960, 0))),
    ],
)
def test_actions_and_their_malformed_variants(arguments: dict, action: object) -> None:
    assert parse_reply(call(arguments), FRAME).action == action


def test_model_space_is_kept_for_the_trace() -> None:
    parsed = parse_reply(call({"action": "left_click_drag", "start_coordinate": [10, 20.5], "coordinate": [30, 40]}),
                         FRAME)
    assert parsed.model_action == {"action": "left_click_drag", "coordinate": [30, 40], "start_coordinate": [10, 20.5]}
    assert parsed.action.coordinate == (44, 59) and parsed.action.start_coordinate == (15, 30)


def test_points_slightly_past_the_image_are_clamped() -> None:
    parsed = parse_reply(call({"action": "left_click", "coordinate": [1400, 790]}), FRAME)
    assert parsed.action.coordinate == (1919, 1079)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty answer"),
        ("I cannot help with that.", "no tool call"),
        (call({"action": "fly", "coordinate": [1, 2]}), "unknown action 'fly'"),
        (call({"coordinate": [1, 2]}), "names no action"),
        (call({"action": 7}), "action must be a string"),
        (call({"action": "mouse_move"}), "coordinate"),
        (call({"action": "left_click_drag"}), "coordinate"),
        (call({"action": "left_click", "coordinate": [1]}), "must be [x, y]"),
        (call({"action": "left_click", "coordinate": [1, 2, 3, 4]}), "must be [x, y]"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [NaN, 3]}}',
         "finite"),
        (call({"action": "left_click", "coordinate": ["inf", 3]}), "finite"),
        (call({"action": "left_click", "coordinate": "somewhere"}), "must be [x, y]"),
        (call({"action": "left_click", "coordinate": [5000, 3]}), "outside the 1316x728 screenshot"),
        (call({"action": "left_click", "coordinate": [-400, 3]}), "outside"),
        (call({"action": "left_click", "coordinate": [True, 3]}), "number"),
        (call({"action": "key", "keys": ["ctrl", "banana"]}), "unknown key"),
        (call({"action": "key", "keys": []}), "at least one key"),
        (call({"action": "key"}), "keys"),
        (call({"action": "type"}), "text"),
        (call({"action": "type", "text": {"a": 1}}), "text must be a string"),
        (call({"action": "terminate", "status": "maybe"}), "status"),
        (call({"action": "wait", "time": -1}), "time"),
        (call({"action": "scroll", "pixels": 10**400}), "out of range"),
        ('<tool_call>{"name": "computer_use", "arguments": [1, 2]}</tool_call>', "must be a JSON object"),
        ('<tool_call>{"name": "computer_use", "arguments": "not json"}</tool_call>', "not a JSON object"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "type", "text": "half a sen', "no tool call"),
        ("<tool_call>__import__('os').system('echo pwned')</tool_call>", "no tool call"),
    ],
)
def test_unusable_answers_raise_one_line_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_reply(text, FRAME)
    message = str(info.value)
    assert fragment in message and "\n" not in message and len(message) <= 300


def test_non_text_input_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        extract_arguments(None)  # type: ignore[arg-type]


def test_huge_hostile_answers_are_cheap() -> None:
    hostile = "{" * 50_000 + "[" * 50_000 + '"' * 1000
    started = time.perf_counter()
    with pytest.raises(ParseError):
        parse_reply(hostile, FRAME)
    with pytest.raises(ParseError):
        parse_reply("<tool_call>" + "[" * 100_000, FRAME)
    assert time.perf_counter() - started < 2.0
