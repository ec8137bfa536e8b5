"""Fuzzing the parser with hypothesis: more than 10,000 generated model outputs, most of them near misses.

Property: `parse_reply` raises nothing but `ParseError`, and whatever it returns is a schema action
(it survives the JSON round trip) whose every point lies inside the screen.
Two generators share one vocabulary of quirks: hypothesis strategies (shrinkable, 1,000 examples),
and a seeded generator (1,000 hypothesis-drawn seeds × 10 outputs), because drawing every choice
through hypothesis costs milliseconds per output.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.schema import ACTION_NAMES, action_to_json, parse_action, points_of
from policies.qwen.parse import ParseError, parse_reply
from policies.qwen.resize import ModelFrame, model_frame

FRAMES = [model_frame(w, h, 3136, m) for w, h, m in [
    (1920, 1080, 1_003_520), (1366, 768, 12_845_056), (1080, 1920, 401_408), (3440, 1440, 1_003_520),
    (5120, 2880, 2_007_040), (640, 480, 3136),
]]
SEEDS, BATCH = 1_000, 10  # 10,000 outputs from the seeded generator

ODD_NUMBERS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 10**30, -(10**30), 10**400, 0.5, -0.0, "nan", "inf",
               "-inf", "1e999", "", "12px", "0x10", " 7 ", "1_000", "3.9e2", True]
JUNK = [None, True, False, [], {}, [1], [[1, 2]], [1, 2, 3], {"a": 1}, {"x": 1}, {"x": 1, "y": "2"}, "x", "",
        "[1,2]", "(3, 4)", "one, two", 3.5, -7, ["ctrl", ["c"]], [[[]]], "🙂"]
KEY_NAMES = ["ctrl", "Control_L", "c", "+", ",", "Return", "enter", "PgDn", "cmd", "banana", "F13", "", " "]
NAMES = [*ACTION_NAMES, "Left Click", "LEFT_CLICK", "click", "tap", "swipe", "", "key ", None, 3, ["left_click"]]
STATUSES = ["success", "failure", "Success", "?", 1]
FIELDS = ("coordinate", "start_coordinate", "keys", "text", "pixels", "time", "status", "x", "y", "extra")
SHAPES = ("call", "bare", "string_args", "name_only")
OPENINGS = ("<tool_call>\n", "⚗", "📐", "", "<tool_call>")
CLOSINGS = ("\n</tool_call>", "⚗", "📐", "", "</tool_call>\n<tool_call>{}")
BEFORE = ("", "Thought: click it.\n", "{not json} ", "<tool_call>", "I see {a: 1}. ")
NOISE = list('ab Z9{}[]"\',:+-.⚗📐<>/\n中é')


def check(text: str, frame: ModelFrame) -> None:
    try:
        parsed = parse_reply(text, frame)
    except ParseError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    action = parsed.action
    assert parse_action(action_to_json(action)) == action  # a schema action, nothing else
    for x, y in points_of(action):
        assert 0 <= x < frame.screen_width and 0 <= y < frame.screen_height
    assert parsed.model_action["action"] == action.action


def render(args: dict[str, Any], shape: str, cut: float | None, ascii_only: bool, parts: tuple[str, ...]) -> str:
    """Wrap arguments as the model might: call or bare object, string arguments, cut off, odd tags."""
    obj: Any = {"call": {"name": "computer_use", "arguments": args}, "bare": args,
                "string_args": {"name": "computer_use", "arguments": json.dumps(args, default=str)},
                "name_only": {"name": "computer_use"}}[shape]
    body = json.dumps(obj, default=str, ensure_ascii=ascii_only)
    if cut is not None:  # cut off, as by max_new_tokens
        body = body[: int(len(body) * cut)]
    before, opening, closing, after = parts
    return before + opening + body + closing + after


# --- hypothesis strategies -------------------------------------------------------------------------
noise = st.text(alphabet=st.sampled_from(NOISE), max_size=10)
numbers = st.integers(-300, 3000) | st.floats(-300, 3000) | st.sampled_from(ODD_NUMBERS)
points = st.one_of(
    st.tuples(numbers, numbers).map(list),
    st.tuples(st.integers(-200, 6000), st.integers(-200, 6000)).map(lambda p: f"[{p[0]}, {p[1]}]"),
    st.sampled_from(JUNK),
)
keys = st.one_of(st.lists(st.sampled_from(KEY_NAMES), max_size=10),
                 st.lists(st.sampled_from(KEY_NAMES), min_size=1, max_size=4).map("+".join), st.sampled_from(JUNK))
STRATEGIES = {"coordinate": points, "start_coordinate": points, "keys": keys, "text": noise | st.sampled_from(JUNK),
              "pixels": numbers, "time": numbers, "status": st.sampled_from(STATUSES), "x": numbers, "y": numbers,
              "extra": st.sampled_from(JUNK)}


@st.composite
def outputs(draw: st.DrawFn) -> str:
    args: dict[str, Any] = {}
    if draw(st.integers(0, 9)):  # mostly with an action
        args["action"] = draw(st.sampled_from(NAMES))
    for name in draw(st.sets(st.sampled_from(FIELDS), max_size=4)):
        args[name] = draw(STRATEGIES[name])
    cut = draw(st.none() | st.floats(0, 1))
    parts = (draw(st.sampled_from(BEFORE)), draw(st.sampled_from(OPENINGS)), draw(st.sampled_from(CLOSINGS)),
             draw(noise))
    return render(args, draw(st.sampled_from(SHAPES)), cut, draw(st.booleans()), parts)


@settings(max_examples=1_000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(text=outputs() | noise, frame=st.sampled_from(FRAMES))
def test_structured_outputs(text: str, frame: ModelFrame) -> None:
    check(text, frame)


# --- the seeded generator ----------------------------------------------------------------------------
def random_value(rng: random.Random, field: str) -> Any:
    if field in ("coordinate", "start_coordinate"):
        kind = rng.randrange(4)
        if kind == 0:
            return [random_number(rng), random_number(rng)]
        if kind == 1:
            return f"[{rng.randint(-200, 6000)}, {rng.randint(-200, 6000)}]"
        return rng.choice(JUNK) if kind == 2 else {"x": random_number(rng), "y": random_number(rng)}
    if field == "keys":
        chosen = rng.choices(KEY_NAMES, k=rng.randrange(6))
        return rng.choice([chosen, "+".join(chosen), json.dumps(chosen), rng.choice(JUNK)])
    if field in ("pixels", "time", "x", "y"):
        return random_number(rng)
    if field == "status":
        return rng.choice(STATUSES)
    if field == "text":
        return rng.choice(["".join(rng.choices(NOISE, k=rng.randrange(12))), rng.choice(JUNK)])
    return rng.choice(JUNK)


def random_number(rng: random.Random) -> Any:
    kind = rng.randrange(3)
    return rng.randint(-300, 3000) if kind == 0 else rng.uniform(-300, 3000) if kind == 1 else rng.choice(ODD_NUMBERS)


def random_output(rng: random.Random) -> str:
    args: dict[str, Any] = {"action": rng.choice(NAMES)} if rng.randrange(10) else {}
    for field in rng.sample(FIELDS, rng.randrange(5)):
        args[field] = random_value(rng, field)
    cut = rng.random() if rng.randrange(6) == 0 else None
    after = "".join(rng.choices(NOISE, k=rng.randrange(6)))
    parts = (rng.choice(BEFORE), rng.choice(OPENINGS), rng.choice(CLOSINGS), after)
    return render(args, rng.choice(SHAPES), cut, rng.random() < 0.5, parts)


@settings(max_examples=SEEDS, deadline=None, database=None)
@given(seed=st.integers(0, 2**64 - 1))
def test_ten_thousand_seeded_outputs(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(BATCH):
        check(random_output(rng), rng.choice(FRAMES))


def test_the_generators_produce_accepted_answers_too() -> None:
    """Guard against a fuzz that only ever exercises rejections."""
    rng = random.Random(7)
    accepted = 0
    for _ in range(3000):
        try:
            parse_reply(random_output(rng), FRAMES[0])
            accepted += 1
        except ParseError:
            pass
    assert accepted >= 100
