"""Verified replay without a display: image matching, every verification path, the loop around it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps
from trace_helpers import shot_of, ui_image, write_trace

from actions.fake import FakeComputer
from actions.gate import Gate, OnScreen, RefuseConfirmer
from actions.geometry import Point, Screenshot, denormalize, normalize
from actions.schema import Action, parse_action
from agent.config import load_settings
from agent.replay.verify import intent_of, recorded_steps
from agent.run.loop import Agent, run_task
from agent.traces.lines import Outcome, StepLine
from agent.traces.store import TraceWriter, read_trace
from policies import imagematch as im
from policies.grounding import GroundingError
from policies.scripted.verified import RecordedStep, VerifyingReplayPolicy, VerifyOptions

SAVE, OPEN = (200, 120), (420, 300)


def step_for(action: dict, image: Image.Image, number: int = 1, intent: str = "the Save button") -> RecordedStep:
    """A RecordedStep the way agent.replay.verify builds one: 384 px of context around the target."""
    act: Action = parse_action(action)
    point = act.start_coordinate if act.action == "left_click_drag" else act.coordinate
    box = im.crop_box(point, 384, image.size)
    return RecordedStep(number, act, image.size, image.crop(box), (point[0] - box[0], point[1] - box[1]), intent)


def decide(policy: VerifyingReplayPolicy, image: Image.Image, done: int = 0):
    return policy.decide("task", shot_of(image), [None] * done)  # type: ignore[list-item]


RECORDED = ui_image(buttons={"Save": SAVE, "Open": OPEN})
CLICK_SAVE = {"action": "left_click", "coordinate": list(SAVE)}


def test_similarity_tolerates_brightness_but_not_a_different_place() -> None:
    a = im.gray(RECORDED)
    crop = a[72:168, 152:248]
    assert im.similarity(crop, crop) == pytest.approx(1.0)
    assert im.similarity(crop, np.clip(crop * 0.8 + 30, 0, 255)) > 0.99  # a hover highlight, a dimmed window
    assert im.similarity(crop, a[250:346, 20:116]) < 0.5
    flat = np.full((20, 20), 200.0)
    assert im.similarity(flat, flat + 3) > 0.9 and im.similarity(flat, flat - 150) == 0.0
    assert im.similarity(flat, crop[30:50, 38:58]) < 0.2  # the button's text where there was nothing


def test_find_locates_a_crop_and_reports_duplicates() -> None:
    image = im.gray(ui_image((1280, 800), {"Save": (900, 500)}))
    template = im.gray(RECORDED.crop((152, 72, 248, 168)))
    match = im.find(template, image)
    assert match is not None and (match.left + 48, match.top + 48) == (900, 500) and match.score > 0.95
    twins = im.gray(ui_image((1280, 800), {"Save": (300, 200), "Save ": (900, 500)}))
    button = im.gray(RECORDED.crop((158, 104, 242, 136)))  # just the button: the two copies are identical
    match = im.find(button, twins)
    assert match is not None and match.score - match.runner_up < 0.05


def test_crop_box_stays_inside_the_image() -> None:
    assert im.crop_box((5, 5), 96, (640, 400)) == (0, 0, 96, 96)
    assert im.crop_box((639, 399), 96, (640, 400)) == (544, 304, 640, 400)
    assert im.crop_box((50, 50), 500, (100, 80)) == (0, 0, 100, 80)


def test_same_screen_matches_and_plays_the_recorded_action() -> None:
    decision = decide(VerifyingReplayPolicy([step_for(CLICK_SAVE, RECORDED)]), RECORDED)
    assert decision.action.coordinate == SAVE and decision.meta["verify"]["result"] == "matched"
    end = decide(VerifyingReplayPolicy([step_for(CLICK_SAVE, RECORDED)]), RECORDED, done=1)
    assert end.action.action == "terminate" and end.action.status == "success"


def test_a_moved_widget_is_followed_and_every_point_moves_with_it() -> None:
    now = ui_image(buttons={"Save": (260, 170), "Open": (480, 350)})
    drag = {"action": "left_click_drag", "start_coordinate": list(SAVE), "coordinate": [300, 120]}
    decision = decide(VerifyingReplayPolicy([step_for(drag, RECORDED)]), now)
    check = decision.meta["verify"]
    assert check["result"] == "moved" and check["moved_by"] == [60, 50] and check["expected"] == list(SAVE)
    assert decision.action.start_coordinate == (260, 170) and decision.action.coordinate == (360, 170)


def test_a_screen_still_changing_is_compared_again_once_settled() -> None:
    busy = ui_image(buttons={"Open": OPEN})  # Save not drawn yet
    seen: list[Screenshot] = []

    def observe(shot: Screenshot) -> Screenshot:
        seen.append(shot)
        return shot_of(RECORDED)

    decision = decide(VerifyingReplayPolicy([step_for(CLICK_SAVE, RECORDED)], observe=observe), busy)
    assert len(seen) == 1 and decision.meta["verify"]["result"] == "settled"
    assert decision.meta["verify"]["score"] < 0.8 <= decision.meta["verify"]["settled_score"]


class ExampleModel:
    def __init__(self, answer: Point | None) -> None:
        self.answer, self.calls = answer, []

    def ground_example(self, target: str, example: Image.Image, shot: Screenshot) -> Point:
        self.calls.append((target, example.size))
        if self.answer is None:
            raise GroundingError(f"could not locate {target!r}")
        return self.answer

    def ground(self, target: str, shot: Screenshot) -> Point:  # pragma: no cover - ground_example wins
        raise AssertionError("ground_example should have been used")


def relooked(image: Image.Image, point: Point) -> Image.Image:
    copy = image.copy()
    box = (point[0] - 200, max(point[1] - 200, 0), point[0] + 200, point[1] + 200)
    copy.paste(ImageOps.invert(copy.crop(box)), box[:2])
    return copy


def test_a_target_that_looks_different_is_regrounded_with_the_recorded_crop() -> None:
    model = ExampleModel((333, 222))
    now = relooked(RECORDED, SAVE)
    decision = decide(VerifyingReplayPolicy([step_for(CLICK_SAVE, RECORDED)], grounder=model), now)
    assert model.calls == [("the Save button", (96, 96))]
    assert decision.action.coordinate == (333, 222)
    assert decision.meta["verify"]["result"] == "regrounded" and decision.meta["verify"]["regrounded"] == [333, 222]


def test_a_plain_grounder_gets_the_intent() -> None:
    class TextModel:
        def ground(self, target: str, shot: Screenshot) -> Point:
            return (10, 11) if target == "the Save button" else (0, 0)

    decision = decide(VerifyingReplayPolicy([step_for(CLICK_SAVE, RECORDED)], grounder=TextModel()),
                      relooked(RECORDED, SAVE))
    assert decision.action.coordinate == (10, 11)


@pytest.mark.parametrize("grounder", [None, ExampleModel(None)])
def test_without_a_usable_model_the_run_ends_saying_where_and_why(grounder: ExampleModel | None) -> None:
    decision = decide(VerifyingReplayPolicy([step_for(CLICK_SAVE, RECORDED, number=7)], grounder=grounder),
                      relooked(RECORDED, SAVE))
    assert decision.action.action == "terminate" and decision.action.status == "failure"
    reason = decision.meta["stop_reason"]
    assert reason.startswith("step 7 (left_click at [200, 120]) diverged: the screen around the target differs")
    assert ("no model is configured" if grounder is None else "could not find it either") in reason
    assert decision.meta["verify"]["result"] == "diverged"


def test_identical_twins_are_not_guessed_between() -> None:
    recorded = ui_image((640, 400), {"Save": SAVE})
    now = Image.new("RGB", (640, 400), (236, 236, 236))
    button = recorded.crop((150, 96, 250, 144))
    now.paste(button, (40, 250))
    now.paste(button, (300, 250))  # both near the expected place, and nothing else like them
    step = RecordedStep(1, parse_action(CLICK_SAVE), (640, 400), button, (50, 24), "Save")
    decision = decide(VerifyingReplayPolicy([step], VerifyOptions(crop_px=48)), now)
    assert decision.meta["verify"]["result"] == "diverged" and "several places" in decision.meta["stop_reason"]


def test_another_resolution_maps_points_through_normalized_coordinates() -> None:
    recorded = ui_image((640, 400), {"Save": SAVE})
    bigger = recorded.resize((1280, 800))
    decision = decide(VerifyingReplayPolicy([step_for(CLICK_SAVE, recorded)], VerifyOptions(enabled=False)), bigger)
    assert decision.action.coordinate == denormalize(normalize(SAVE, (640, 400)), (1280, 800)) == (401, 241)
    assert decision.meta["scaled_from"] == [640, 400]
    placed = ui_image((1280, 800), {"Save": (700, 500)})  # same pixel size, elsewhere in a bigger layout
    decision = decide(VerifyingReplayPolicy([step_for(CLICK_SAVE, recorded)]), placed)
    assert decision.action.coordinate == (700, 500) and decision.meta["verify"]["result"] == "moved"


def test_actions_without_a_target_are_not_verified() -> None:
    typed = RecordedStep(1, parse_action({"action": "type", "text": "hi"}), (640, 400), None)
    assert decide(VerifyingReplayPolicy([typed]), RECORDED).meta["verify"] == {"result": "skipped",
                                                                               "note": "no target"}


class Screens(FakeComputer):
    def __init__(self, image: Image.Image) -> None:
        super().__init__()
        self.image = image

    def screenshot(self) -> Screenshot:
        return shot_of(self.image)


def test_through_the_loop_the_trace_records_verification_and_the_reason(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "rec", "save", [(CLICK_SAVE, RECORDED, {}),
                                                   ({"action": "left_click", "coordinate": list(OPEN)}, RECORDED, {})])
    steps = recorded_steps(read_trace(trace), 96)
    assert [s.intent for s in steps] == ["the element that step 1 of the recording clicked",
                                         "the element that step 2 of the recording clicked"]
    now = ui_image(buttons={"Save": (260, 170)})  # Save moved, Open gone
    computer = Screens(now)
    agent = Agent(VerifyingReplayPolicy(steps), computer, Gate([OnScreen()]), RefuseConfirmer(),
                  TraceWriter(tmp_path / "out"), load_settings(None, {"settle.mode": "off"}))
    result = run_task("save", agent)
    agent.trace.close()
    assert result.status == "failure" and result.exit_code == 1
    assert result.reason.startswith("terminate: failure — step 2 (left_click at [420, 300]) diverged")
    assert computer.calls == [("click", (260, 170), "left", 1)]
    out = read_trace(tmp_path / "out")
    assert out.steps[0].policy["verify"]["moved_by"] == [60, 50]
    assert out.steps[0].normalized == {"coordinate": [round(260.5 / 640, 6), round(170.5 / 400, 6)]}


def _step(**fields: Any) -> StepLine:
    return StepLine(**{"index": 3, "action": {"action": "left_click"}, "outcome": Outcome("executed"), **fields})


def test_intent_prefers_a_script_target_then_model_prose() -> None:
    assert intent_of(_step(policy={"target": "the OK button"}), 3) == "the OK button"
    raw = 'I will open the File menu.\n<tool_call>\n{"name": "computer_use"}\n</tool_call>'
    assert intent_of(_step(raw_text=raw), 3) == "I will open the File menu."
    described = intent_of(_step(action={"action": "double_click"}), 3)
    assert described == "the element that step 3 of the recording double-clicked"


def test_a_recorded_screenshot_cut_short_by_a_crash_replays_that_step_unverified(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "rec", "save", [(CLICK_SAVE, RECORDED, {}),
                                                   ({"action": "left_click", "coordinate": list(OPEN)}, RECORDED, {})])
    png = trace / "step-0002.png"
    png.write_bytes(png.read_bytes()[:200])  # the writer was killed while encoding it
    first, second = recorded_steps(read_trace(trace), 96)
    assert first.context is not None and second.context is None
    decision = decide(VerifyingReplayPolicy([first, second]), RECORDED, done=1)
    assert decision.action.coordinate == OPEN
    assert decision.meta["verify"] == {"result": "skipped", "note": "no recorded screenshot"}
