"""`deskpilot replay TRACE` with verification: read the trace, wire in settling and the model, run it.

`recorded_steps` turns the replayable steps of a trace (`agent.traces.lines.REPLAYED`) into
`policies.scripted.verified.RecordedStep`s: the action, the recorded screen size, and a square of the step's
recorded screenshot around its target (4 × `replay.crop_px`: the widest context searched); a step
whose screenshot is missing or unreadable (cut short by a crash) replays unverified.
`replay_trace` runs them through the normal loop (`agent.run.runner.execute`) with a
`VerifyingReplayPolicy` whose `observe` waits for the screen to settle (`agent.run.settle`, on its own
capture) and whose grounder is the configured model, built only when a step first needs it
(`replay.reground` / `--reground`). `prepare_replay` gives the pieces to callers that run the
loop themselves (the daemon).
Not for: the comparison itself (policies.scripted.verified, policies.imagematch) or argument parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actions.geometry import Point, Screenshot
from actions.schema import Action, Terminate, Wait
from agent.config import Settings
from agent.errors import EnvironmentProblem
from agent.run.runner import RunReport, execute
from agent.traces.lines import Origin, StepLine
from agent.traces.store import Trace, TraceError, UnreadableScreenshot, load_screenshot, read_trace
from policies.base import Closable
from policies.grounding import Grounder, GroundingError
from policies.imagematch import crop_box
from policies.scripted.effects import EFFECT_LEVELS
from policies.scripted.verified import (
    CONTEXT,
    Effect,
    ExampleGrounder,
    RecordedStep,
    VerifyingReplayPolicy,
    VerifyOptions,
    target_of,
)

_VERBS = {"left_click": "clicked", "double_click": "double-clicked", "triple_click": "triple-clicked",
          "right_click": "right-clicked", "middle_click": "middle-clicked", "left_click_drag": "dragged",
          "scroll": "scrolled", "hscroll": "scrolled", "mouse_move": "pointed at"}


def recorded_screen(trace: Trace) -> tuple[int, int]:
    screen = trace.header.screen
    if screen is None:
        raise TraceError(f"{trace.dir}: the header does not say the screen size")
    return screen.width, screen.height


def recorded_steps(trace: Trace, crop_px: int, settle_s: float = 2.0) -> tuple[RecordedStep, ...]:
    """The replayable steps of `trace`, each with a crop of its recorded screenshot around its target and
    what it did to the screen (`recorded_effect`).
    A step followed by waits is checked against the screen after them (before the next step that acts):
    a wait is the person (or the script) letting the application finish, so what the screen showed during
    it can be a passing state (a completion popup, a button not yet enabled) that replay need not see."""
    screen, out = recorded_screen(trace), []
    replayed = trace.replayed()
    for i, (step, action) in enumerate(replayed):
        number, point = step.index, target_of(action)
        context, anchor = _crop(trace.dir, step.screenshot, point, crop_px * CONTEXT[-1], screen)
        waits, following = _after_waits(replayed, i)
        effect, note = (None, "") if isinstance(action, Terminate) else recorded_effect(
            trace, step, following, screen, settle_s, waits)
        out.append(RecordedStep(number, action, screen, context, anchor, intent_of(step, number), effect, note))
    return tuple(out)


def _after_waits(replayed: tuple[tuple[StepLine, Action], ...], i: int) -> tuple[tuple[StepLine, ...], StepLine | None]:
    """The waits right after `replayed[i]`, and the step after them (None when the trace ends with them)."""
    waits: list[StepLine] = []
    for step, action in replayed[i + 1:]:
        if not isinstance(action, Wait):
            return tuple(waits), step
        waits.append(step)
    return tuple(waits), None


def recorded_effect(trace: Trace, step: StepLine, following: StepLine | None, screen: tuple[int, int],
                    settle_s: float, waits: tuple[StepLine, ...] = ()) -> tuple[Effect | None, str]:
    """Where and how the screen changed from `step`'s screenshot to the screen after `waits` (the wait steps
    between `step` and `following`, the next step that acts): `following`'s screenshot, or the end
    screenshot when nothing follows; with the wait allowed for it: twice the recorded time from `step` to
    `following`, plus settling. (None, why) where that cannot be told; (None, "") where the recording
    shows no change."""
    import numpy as np

    after_path = trace.screenshot_after(waits[-1] if waits else step)
    if not step.screenshot or after_path is None:
        return None, "the trace has no screenshot after it (recorded before end screenshots)"
    try:
        before, after = load_screenshot(trace.dir / step.screenshot), load_screenshot(after_path)
    except UnreadableScreenshot as exc:
        return None, str(exc)
    if before.size != screen or after.size != screen:
        return None, "its screenshots do not have the recorded screen size"
    diff = np.abs(np.asarray(before.convert("L"), np.int16) - np.asarray(after.convert("L"), np.int16)) > EFFECT_LEVELS
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    if rows.size == 0 or (cols[-1] - cols[0] < 3 and rows[-1] - rows[0] < 64):  # nothing, or a caret blinking
        return None, ""
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    gap = sum(_gap_s(a, b) for a, b in zip((step, *waits), (*waits, following), strict=True))
    return Effect(box, before.crop(box), after.crop(box), 2 * gap + settle_s), ""


def _gap_s(step: StepLine, following: StepLine | None) -> float:
    """The recorded time from `step` to the next: a recording's timestamps, else the run's execute + settle."""
    at = step.policy.get("recorded") if isinstance(step.policy.get("recorded"), dict) else None
    later = following.policy.get("recorded") if following is not None else None
    if at and isinstance(later, dict) and isinstance(at.get("at_s"), int | float) and \
            isinstance(later.get("at_s"), int | float):
        return max(float(later["at_s"]) - float(at["at_s"]), 0.0)
    timings = step.timings_ms
    spent = sum(float(timings.get(k, 0) or 0) for k in ("hover", "execute", "settle")
                if isinstance(timings.get(k, 0), int | float))
    return spent / 1000 if spent else 1.0


def _crop(directory: Path, name: Any, point: Point | None, side: int, screen: tuple[int, int]) -> tuple[Any, Point]:
    if point is None or not isinstance(name, str) or not (directory / name).is_file():
        return None, (0, 0)
    try:
        image = load_screenshot(directory / name)
    except UnreadableScreenshot:  # cut short by a crash, or not a PNG
        return None, (0, 0)  # the step replays unverified: "no recorded screenshot"
    if image.size != screen:
        return None, (0, 0)
    box = crop_box(point, side, screen)
    return image.crop(box), (point[0] - box[0], point[1] - box[1])


def intent_of(step: StepLine, number: int) -> str:
    """What the step meant, in words a grounding model can use: a script target, model prose, or a description."""
    if step.target:
        return step.target
    prose = re.sub(r"<tool_call>.*?(</tool_call>|$)", "", step.raw_text or "", flags=re.S).strip()
    if prose:
        return prose[:300]
    verb = _VERBS.get(step.action_name, "used")
    return f"the element that step {number} of the recording {verb}"


class SettleObserver:
    """`observe` for the policy: waits until the screen is still (agent.run.settle) on its own capture."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._capture: Any = None

    def __call__(self, shot: Screenshot) -> Screenshot:
        from agent.run.settle import settle

        if self.settings.settle.mode == "off":
            return self.grab()
        return settle(self.grab, shot, self.settings.settle, effect_ms=0).shot  # no change expected

    def grab(self) -> Screenshot:
        """One capture now (the policy polls with it while waiting for a step's recorded effect)."""
        from agent.run.runner import build_capture

        if self._capture is None:  # opened on the thread that runs the policy (mss handles are per thread)
            self._capture = build_capture(self.settings)  # the session's backend: X11 or Wayland
        return self._capture.grab()

    def close(self) -> None:
        if self._capture is not None:
            self._capture.close()


class LazyGrounder:
    """The configured model as a grounder, built on first use (a replay that never diverges loads nothing)."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build, self._model = build, None

    def ground(self, target: str, shot: Screenshot) -> Point:
        return self._get().ground(target, shot)

    def ground_example(self, target: str, example: Any, shot: Screenshot) -> Point:
        model = self._get()
        if isinstance(model, ExampleGrounder):
            return model.ground_example(target, example, shot)
        return model.ground(target, shot)

    def close(self) -> None:
        if isinstance(self._model, Closable):
            self._model.close()

    def _get(self) -> Any:
        if self._model is None:
            try:
                self._model = self._build()
            except EnvironmentProblem as exc:
                raise GroundingError(f"no model can be used: {exc}") from None
        return self._model


@dataclass
class PreparedReplay:
    """What a verified replay of one trace needs: run `policy` on `task` with `origin`, then `close()`."""

    task: str
    policy: VerifyingReplayPolicy
    origin: Origin
    observer: SettleObserver
    grounder: Grounder | None

    def close(self) -> None:
        self.observer.close()
        if isinstance(self.grounder, LazyGrounder):
            self.grounder.close()


def prepare_replay(path: str | Path, settings: Settings, verify: bool | None = None, reground: bool | None = None,
                   grounder: Grounder | None = None) -> PreparedReplay:
    """The policy, task and header for replaying the trace at `path` (verifying unless `verify` is False)."""
    trace, r = read_trace(path), settings.replay
    verify = r.verify if verify is None else verify
    reground = r.reground if reground is None else reground
    steps = recorded_steps(trace, r.crop_px, settings.settle.timeout_ms / 1000)
    if grounder is None and reground and verify:
        from agent.run.policy_factory import build_grounder

        grounder = LazyGrounder(lambda: build_grounder(settings))
    observer = SettleObserver(settings)
    options = VerifyOptions(verify, r.crop_px, r.match_threshold, r.search_radius_px)
    policy = VerifyingReplayPolicy(steps, options, observer, grounder if verify else None, str(path), observer.grab)
    origin = Origin(source=str(path), replay={"verify": verify, "reground": policy.grounder is not None,
                                              "recorded_screen": list(recorded_screen(trace))})
    return PreparedReplay(trace.header.task, policy, origin, observer, grounder)


def replay_trace(path: str | Path, settings: Settings, verify: bool | None = None, reground: bool | None = None,
                 grounder: Grounder | None = None) -> RunReport:
    """Replay the trace at `path` through the loop on this desktop; see `prepare_replay`."""
    prepared = prepare_replay(path, settings, verify, reground, grounder)
    try:
        return execute(prepared.task, prepared.policy, settings, prepared.origin)
    finally:
        prepared.close()
