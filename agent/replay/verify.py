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
from agent.config import Settings
from agent.errors import EnvironmentProblem
from agent.run.runner import RunReport, execute
from agent.traces.lines import Origin, StepLine
from agent.traces.store import Trace, TraceError, UnreadableScreenshot, load_screenshot, read_trace
from policies.base import Closable
from policies.grounding import Grounder, GroundingError
from policies.imagematch import crop_box
from policies.scripted.verified import (
    CONTEXT,
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


def recorded_steps(trace: Trace, crop_px: int) -> tuple[RecordedStep, ...]:
    """The replayable steps of `trace`, each with a crop of its recorded screenshot around its target."""
    screen, out = recorded_screen(trace), []
    for step, action in trace.replayed():
        number, point = step.index, target_of(action)
        context, anchor = _crop(trace.dir, step.screenshot, point, crop_px * CONTEXT[-1], screen)
        out.append(RecordedStep(number, action, screen, context, anchor, intent_of(step, number)))
    return tuple(out)


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
        from actions.capture import MssCapture
        from agent.run.settle import settle

        if self._capture is None:  # opened on the thread that runs the policy (mss handles are per thread)
            self._capture = MssCapture(self.settings.screen.monitor, self.settings.screen.scale)
        if self.settings.settle.mode == "off":
            return self._capture.grab()
        return settle(self._capture.grab, shot, self.settings.settle, effect_ms=0).shot  # no change expected

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
    steps = recorded_steps(trace, r.crop_px)
    if grounder is None and reground and verify:
        from agent.run.policy_factory import build_grounder

        grounder = LazyGrounder(lambda: build_grounder(settings))
    observer = SettleObserver(settings)
    options = VerifyOptions(verify, r.crop_px, r.match_threshold, r.search_radius_px)
    policy = VerifyingReplayPolicy(steps, options, observer, grounder if verify else None, str(path))
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
