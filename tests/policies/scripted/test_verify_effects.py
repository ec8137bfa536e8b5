"""Replay verifies each step's effect: the region that changed after the recorded step must change
likewise, within twice the recorded gap plus settling; if it never does the run fails with a report.
A trace without a screenshot after its last step replays, and says that step could not be checked."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from PIL import Image, ImageDraw
from trace_helpers import shot_of, ui_image, write_trace

from agent.replay.verify import recorded_steps
from agent.traces.store import read_trace
from policies.scripted.verified import VerifyingReplayPolicy

FAST = {"timings_ms": {"execute": 40, "settle": 60}}  # a recorded gap of 0.1 s: a wait of 0.2 s + settling


def dialog(image: Image.Image) -> Image.Image:
    """`image` with a Save dialog holding a typed path."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle((120, 100, 520, 300), fill="white", outline="black", width=2)
    draw.text((140, 120), "Save As", fill="black")
    draw.rectangle((140, 160, 500, 190), outline="gray")
    draw.text((146, 166), "/tmp/note.txt", fill="black")
    return out


def policy_for(tmp: Path, steps: list, end: Image.Image | None, look) -> VerifyingReplayPolicy:
    trace = read_trace(write_trace(tmp / "trace", "save", steps, end_image=end))
    return VerifyingReplayPolicy(recorded_steps(trace, 96, settle_s=0.1), look=look)


def after(meta: dict) -> SimpleNamespace:  # the history entry of a decided step
    return SimpleNamespace(decision=SimpleNamespace(meta=meta))


def test_an_enter_the_dialog_swallowed_fails_the_replay_with_a_report(tmp_path: Path) -> None:
    open_, closed = dialog(ui_image()), ui_image()
    policy = policy_for(tmp_path, [({"action": "key", "keys": ["enter"]}, open_, FAST),
                                   ({"action": "terminate", "status": "success"}, closed, {})], closed,
                        look=lambda: shot_of(open_))  # the dialog stays: the Enter was swallowed
    started = time.perf_counter()
    decision = policy.decide("save", shot_of(open_), [after({})])
    assert decision.action.action == "terminate" and decision.action.status == "failure"
    report = decision.meta["stop_reason"]
    assert report.startswith("step 1 (key enter) did not have its recorded effect: the region [")
    assert "still looks as it did before the step" in report and "within 0.3 s" in report
    assert 0.3 <= time.perf_counter() - started < 2
    assert decision.meta["effect"]["result"] == "missing"


def test_a_late_effect_is_waited_for_within_the_recorded_bound(tmp_path: Path) -> None:
    open_, closed = dialog(ui_image()), ui_image()
    first: list[float] = []  # the app answers 0.15 s after replay first looks

    def look():
        first.append(first[0] if first else time.perf_counter())
        return shot_of(closed if time.perf_counter() - first[0] > 0.15 else open_)

    policy = policy_for(tmp_path, [({"action": "key", "keys": ["enter"]}, open_, FAST),
                                   ({"action": "terminate", "status": "success"}, closed, {})], closed, look=look)
    decision = policy.decide("save", shot_of(open_), [after({})])
    assert decision.action.status == "success" and decision.meta["effect"]["result"] == "as recorded"
    assert decision.meta["effect"]["ms"] >= 100


def test_the_last_step_is_checked_against_the_end_screenshot(tmp_path: Path) -> None:
    open_, closed = dialog(ui_image()), ui_image()
    steps = [({"action": "key", "keys": ["enter"]}, open_, FAST)]  # no terminate: the end screenshot follows
    ok = policy_for(tmp_path / "a", steps, closed, look=lambda: shot_of(closed))
    assert ok.decide("save", shot_of(closed), [after({})]).action.status == "success"
    stuck = policy_for(tmp_path / "b", steps, closed, look=lambda: shot_of(open_))
    assert stuck.decide("save", shot_of(open_), [after({})]).action.status == "failure"


def test_an_old_trace_without_an_end_screenshot_replays_and_never_claims_the_last_effect(tmp_path: Path) -> None:
    open_ = dialog(ui_image())
    policy = policy_for(tmp_path, [({"action": "key", "keys": ["enter"]}, open_, FAST)], None,
                        look=lambda: shot_of(open_))
    decision = policy.decide("save", shot_of(open_), [after({})])
    assert decision.action.status == "success"
    assert decision.meta["effect"]["result"] == "unchecked"
    assert decision.meta["effect"]["note"].startswith("the last step's effect could not be checked")


def test_a_moved_target_shifts_the_checked_region(tmp_path: Path) -> None:
    base = ui_image((800, 500))
    open_, closed = dialog(base), base
    moved_open = Image.new("RGB", (800, 500), (236, 236, 236))
    moved_open.paste(open_.crop((0, 0, 760, 470)), (40, 30))
    moved_closed = Image.new("RGB", (800, 500), (236, 236, 236))
    moved_closed.paste(closed.crop((0, 0, 760, 470)), (40, 30))
    policy = policy_for(tmp_path, [({"action": "left_click", "coordinate": [320, 200]}, open_, FAST),
                                   ({"action": "terminate", "status": "success"}, closed, {})], closed,
                        look=lambda: shot_of(moved_closed))
    decision = policy.decide("save", shot_of(moved_closed), [after({"verify": {"result": "moved",
                                                                              "moved_by": [40, 30]}})])
    assert decision.action.status == "success" and decision.meta["effect"]["result"] == "as recorded"
