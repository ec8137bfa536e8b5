"""Replay's effect check (policies.scripted.effects) never passes a screen on which the step's effect did not
happen, even when the effect only shades a region (a button's pressed look: normalized correlation calls
that "the same"); and a step followed by waits is checked against the screen after them, so a passing
state recorded during the wait (a completion popup) need not come back."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PIL import Image, ImageDraw
from trace_helpers import shot_of, ui_image, write_trace

from agent.replay.verify import recorded_steps
from agent.traces.store import read_trace
from policies import imagematch as im
from policies.scripted.effects import look_at
from policies.scripted.verified import VerifyingReplayPolicy

FAST = {"timings_ms": {"execute": 40, "settle": 60}}  # a recorded gap of 0.1 s: a wait of 0.2 s + settling
BUTTON = (440, 330, 540, 370)


def dialog(fill: int) -> Image.Image:
    """A Save dialog whose Save button has background `fill` (233 normal, 200 pressed: a shade, as GTK draws it)."""
    out = ui_image()
    draw = ImageDraw.Draw(out)
    draw.rectangle((100, 60, 560, 390), fill="white", outline="black", width=2)
    draw.text((120, 80), "Save As", fill="black")
    draw.rectangle(BUTTON, fill=(fill,) * 3, outline=(150,) * 3)
    draw.text((472, 344), "Save", fill=(40,) * 3)
    return out


def after(meta: dict) -> SimpleNamespace:  # the history entry of a decided step
    return SimpleNamespace(decision=SimpleNamespace(meta=meta))


def policy_for(tmp: Path, steps: list, end: Image.Image | None, look) -> VerifyingReplayPolicy:
    trace = read_trace(write_trace(tmp / "trace", "save", steps, end_image=end))
    return VerifyingReplayPolicy(recorded_steps(trace, 96, settle_s=0.1), look=look)


def test_a_pressed_look_scores_as_the_same_by_correlation_alone() -> None:
    normal, pressed = (im.gray(dialog(f).crop(BUTTON)) for f in (233, 200))
    assert im.similarity(normal, pressed) >= 0.8  # why similarity alone let a swallowed Enter pass


def test_a_swallowed_enter_whose_effect_only_shades_the_button_fails_the_replay(tmp_path: Path) -> None:
    normal, pressed = dialog(233), dialog(200)
    steps = [({"action": "key", "keys": ["enter"]}, normal, FAST)]  # the end screenshot: the button pressed
    stuck = policy_for(tmp_path / "a", steps, pressed, look=lambda: shot_of(normal))
    decision = stuck.decide("save", shot_of(normal), [after({})])
    assert decision.action.status == "failure"
    report = decision.meta["stop_reason"]
    assert report.startswith("step 1 (key enter) did not have its recorded effect: the region [")
    assert "it still looks as it did before the step" in report and "gray levels from the recorded start" in report
    assert decision.meta["effect"]["result"] == "missing"
    ok = policy_for(tmp_path / "b", steps, pressed, look=lambda: shot_of(pressed))
    decision = ok.decide("save", shot_of(pressed), [after({})])
    assert decision.action.status == "success" and decision.meta["effect"]["result"] == "as recorded"


def test_a_step_followed_by_a_wait_is_checked_against_the_screen_after_the_wait(tmp_path: Path) -> None:
    typed, popup, done = dialog(233), dialog(233), dialog(233)
    for image in (typed, popup, done):
        ImageDraw.Draw(image).rectangle((120, 110, 540, 140), outline="gray", fill="white")
    for image in (popup, done):
        ImageDraw.Draw(image).text((126, 116), "/tmp/note.txt", fill="black")
    ImageDraw.Draw(popup).rectangle((120, 142, 540, 240), fill=(250,) * 3, outline="black")  # passes by
    steps = [({"action": "type", "text": "/tmp/note.txt"}, typed, FAST), ({"action": "wait", "time": 1}, popup, FAST),
             ({"action": "key", "keys": ["enter"]}, done, FAST), ({"action": "terminate", "status": "success"},
                                                                  dialog(200), {})]
    trace = read_trace(write_trace(tmp_path / "trace", "save", steps, end_image=dialog(200)))
    recorded = recorded_steps(trace, 96, settle_s=0.1)
    typing = recorded[0].effect
    assert typing is not None and typing.wait_s >= 2 * 0.2 + 0.1  # the gap runs to the Enter, across the wait
    seen = look_at(typing, im.gray(done.crop(typing.box)))
    assert seen.happened(0.8)  # the popup is not part of what typing must show
    policy = VerifyingReplayPolicy(recorded, look=lambda: shot_of(done))
    decision = policy.decide("save", shot_of(done), [after({})])
    assert decision.action.action == "wait" and decision.meta["effect"]["result"] == "as recorded"


def chooser(typed: bool, listing: tuple[str, ...], selected: int = 0) -> Image.Image:
    """A file chooser: a name entry at the top, the folder's listing (row `selected` highlighted) in the
    middle, a Save button at the bottom; typing the name fills the entry and enables Save (the two ends
    of the effect's box)."""
    out = dialog(233)
    draw = ImageDraw.Draw(out)
    draw.rectangle((120, 100, 540, 126), outline="gray", fill="white")
    if typed:
        draw.text((126, 108), "/tmp/note.txt", fill="black")
        draw.rectangle((450, 340, 530, 360), fill=(30, 90, 200))
    for row, name in enumerate(listing):
        shade = (40, 100, 200) if row == selected else (220,) * 3 if row % 2 else (255,) * 3
        draw.rectangle((120, 140 + 26 * row, 540, 160 + 26 * row), fill=shade)
        draw.text((126, 144 + 26 * row), name, fill="white" if row == selected else "black")
    return out


def test_context_inside_the_box_that_the_recording_did_not_change_does_not_count(tmp_path: Path) -> None:
    """Recorded: typing a name (entry filled, Save enabled) over a folder listing; replayed: the same
    effect over another listing (other files, other times, another row selected). The effect happened;
    the listing is context."""
    recorded = ("notes  16:29", "traces  16:29", "report.pdf  12:01", "a.txt  9:14", "b.txt  9:15", "todo  8:00")
    now_listing = ("notes  16:31", "traces  16:31", "photo.png  15:00", "x  1:00", "budget.ods  11:11", "z  2:22")
    steps = [({"action": "type", "text": "/tmp/note.txt"}, chooser(False, recorded), FAST),
             ({"action": "terminate", "status": "success"}, chooser(True, recorded), {})]
    trace = read_trace(write_trace(tmp_path / "trace", "save", steps, end_image=chooser(True, recorded)))
    typing = recorded_steps(trace, 96, settle_s=0.1)[0].effect
    assert typing is not None
    crop = typing.box
    replayed = im.gray(chooser(True, now_listing, selected=3).crop(crop))
    assert im.similarity(im.gray(typing.after), replayed) < 0.8  # over the whole box, the listing hid the effect
    assert look_at(typing, replayed).happened(0.8)
    untyped = look_at(typing, im.gray(chooser(False, now_listing, selected=3).crop(crop)))
    assert not untyped.happened(0.8) and untyped.looks_unchanged(0.8)  # and without the typing it did not
