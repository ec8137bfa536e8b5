"""Replay that verifies: play recorded steps, checking the screen around each target first.

`VerifyingReplayPolicy` is a scripted policy over `RecordedStep`s: the agent layer reads the trace
and passes in each step's action, the recorded screen size and the recorded pixels around the point
the action targets (policies never read files). Before a step with a target it compares a
`crop_px` square there, and a square a third of that size (the target itself, where a different
label on a same-looking button shows), with the same places on the screen now
(`imagematch.similarity`): the square must reach `threshold`, the small one `max(threshold,
CENTER_MIN)`. If they differ:
1. it asks `observe` (the agent's settle) for the screen once it is still, and compares again;
2. it searches for the recorded square within `search_radius_px` of the expected place, then on
   the whole screen, and follows a unique good match (a moved widget) — every point of the action
   moves by the same offset, once the small square matches there too. A square that matches
   several places (a long text field) is tried again with 2× and 4× the context before giving up;
3. if a `grounder` is given (the model), it re-grounds the step's intent — shown the recorded
   square too when the grounder offers `ground_example` — and uses that point;
4. otherwise it ends the run: `terminate failure`, with `stop_reason` saying where and why.
What it did goes into the Decision's meta (`verify`), so the trace records it for every step.
After each step it checks the step's effect (`check_effect`): the box that changed between the step's
recorded screenshot and the next one (or the trace's end screenshot) must come to look like the
recording there (policies.scripted.effects: its shapes, and nearer the recorded result than the
recorded start on the pixels the recording changed), within the step's bound (`Effect.wait_s`:
twice the recorded gap plus settling), or the run ends `terminate failure` with a report saying
which step, where, and what is there instead.
A step with no screenshot after it (a trace from before end screenshots) is marked unchecked, never
claimed; the result goes into the next Decision's meta (`effect`).
On a screen of another size the recorded points are first mapped through their normalized
(0..1) coordinates; the recorded pixels keep their size (UI elements usually keep theirs).
Not for: reading traces or settling the screen (agent.replay.verify wires those in).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from actions.geometry import Point, Screenshot, denormalize, normalize
from actions.schema import Action, LeftClickDrag, Terminate, action_to_json, with_points
from policies import imagematch as im
from policies.base import Decision, StepRecord
from policies.grounding import Grounder, GroundingError
from policies.scripted.effects import Effect, look_at, missing

if TYPE_CHECKING:
    from PIL import Image

Observe = Callable[[Screenshot], Screenshot]  # wait until the screen is still; return it
CONTEXT = (1, 2, 4)  # template sides tried when searching, in multiples of crop_px
CENTER_MIN = 0.9  # the centre square must match at least this well (same widget hovered: ≥ 0.98 measured)


@runtime_checkable
class ExampleGrounder(Protocol):
    def ground_example(self, target: str, example: Image.Image, shot: Screenshot) -> Point:
        """Like `Grounder.ground`, also shown what the target looked like (a crop of a recording)."""


@dataclass(frozen=True)
class RecordedStep:
    number: int  # the step's index in the recorded trace
    action: Action  # in recorded screen coordinates
    screen: tuple[int, int]  # the recorded screen size
    context: Image.Image | None = field(default=None, repr=False)  # recorded pixels around the target
    anchor: Point = (0, 0)  # the target's position inside `context`
    intent: str = ""  # what the step meant, for re-grounding: a script target, model text, or a description
    effect: Effect | None = field(default=None, repr=False)  # None: no change recorded, or not checkable
    effect_note: str = ""  # why the effect cannot be checked ("" when it can, or nothing changed)


@dataclass(frozen=True)
class VerifyOptions:
    enabled: bool = True
    crop_px: int = 96  # side of the square compared around the target
    threshold: float = 0.8
    search_radius_px: int = 240
    margin: float = 0.05  # a match must beat the best match elsewhere by this much to be followed


@dataclass(frozen=True)
class Check:
    """What verification found for one step; `result` is matched|settled|moved|regrounded|diverged."""

    result: str
    expected: Point
    score: float
    settled_score: float | None = None
    match: im.Match | None = None
    match_point: Point | None = None
    offset: Point = (0, 0)
    regrounded: Point | None = None
    center: float | None = None  # similarity of the small square right at the target
    note: str = ""
    ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result": self.result, "expected": list(self.expected), "score": round(self.score, 3)}
        if self.settled_score is not None:
            out["settled_score"] = round(self.settled_score, 3)
        if self.center is not None:
            out["center"] = round(self.center, 3)
        if self.match is not None:
            out["match"] = {"score": round(self.match.score, 3), "runner_up": round(self.match.runner_up, 3),
                            "point": list(self.match_point or ())}
        if self.offset != (0, 0):
            out["moved_by"] = list(self.offset)
        if self.regrounded is not None:
            out["regrounded"] = list(self.regrounded)
        return {**out, **({"note": self.note} if self.note else {}), "ms": round(self.ms, 2)}


class VerifyingReplayPolicy:
    name = "replay"
    scripted = True

    def __init__(self, steps: Sequence[RecordedStep], options: VerifyOptions | None = None,
                 observe: Observe | None = None, grounder: Grounder | None = None, source: str = "",
                 look: Callable[[], Screenshot] | None = None) -> None:
        self.steps, self.options = tuple(steps), options or VerifyOptions()
        self.observe, self.grounder, self.source, self.look = observe, grounder, source, look

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        index = len(history)
        effect: dict[str, Any] = {}
        if index > 0 and self.options.enabled and index - 1 < len(self.steps):
            previous, before = self.steps[index - 1], history[-1]
            found = (before.decision.meta.get("verify") if before is not None else None) or {}
            effect, failure = self.check_effect(previous, shot, last=index >= len(self.steps), found=found)
            if failure:
                return Decision(action=Terminate(status="failure"),
                                meta={"replay_step": None, "effect": effect, "stop_reason": failure})
        if index >= len(self.steps):
            return Decision(action=Terminate(status="success"), meta={"replay_step": None, "effect": effect})
        step = self.steps[index]
        if isinstance(step.action, Terminate) and step.action.status == "success":
            return Decision(action=step.action, meta={"replay_step": step.number, "effect": effect})
        action = placed(step, shot.size)
        meta: dict[str, Any] = {"replay_step": step.number, **({"effect": effect} if effect else {})}
        if shot.size != step.screen:
            meta["scaled_from"] = list(step.screen)
        point = target_of(action)
        why = ("off" if not self.options.enabled else "no target" if point is None
               else "no recorded screenshot" if step.context is None else "")
        if why:
            return Decision(action=action, meta={**meta, "verify": {"result": "skipped", "note": why}})
        assert point is not None
        check = self.check(step, point, shot)
        meta["verify"] = check.to_json()
        if check.result == "diverged":
            reason = f"step {step.number} ({_describe(action)}) diverged: {check.note}"
            return Decision(action=Terminate(status="failure"), meta={**meta, "stop_reason": reason})
        return Decision(action=shifted(action, check.offset, shot.size), meta=meta)

    def check_effect(self, step: RecordedStep, shot: Screenshot, last: bool,
                     found: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
        """Wait (up to the step's bound) until the screen changed where and as it did in the recording
        (shifted as the step's target was, when it had moved). Returns what was found for the trace, and a
        failure report ("" when the effect came). `found`: what the check before the step found."""
        e, found = step.effect, found or {}
        if e is None:
            note = step.effect_note or "the recording shows no change after this step"
            if last and step.effect_note:
                note = f"the last step's effect could not be checked: {step.effect_note}"
            return {"step": step.number, "result": "unchecked" if step.effect_note else "no change", "note": note}, ""
        why = ("the screen size differs from the recording" if shot.size != step.screen else
               "its target was re-grounded: the screen looks different from the recording"
               if found.get("result") == "regrounded" else "")
        if why:
            return {"step": step.number, "result": "unchecked", "note": why}, ""
        dx, dy = found.get("moved_by") or (0, 0)
        box = (e.box[0] + dx, e.box[1] + dy, e.box[2] + dx, e.box[3] + dy)
        if box[0] < 0 or box[1] < 0 or box[2] > shot.size[0] or box[3] > shot.size[1]:
            return {"step": step.number, "result": "unchecked", "note": "its recorded effect lies off the screen"}, ""
        e = Effect(box, e.before, e.after, e.wait_s)
        started, threshold = time.perf_counter(), self.options.threshold
        while True:
            now = self.look() if self.look is not None else shot
            seen = look_at(e, im.gray(now.image.crop(e.box)))
            waited = time.perf_counter() - started
            if seen.happened(threshold):
                return {"step": step.number, "result": "as recorded", "score": round(seen.score, 3),
                        "ms": round(waited * 1000, 1)}, ""
            if waited >= e.wait_s or self.look is None:
                break
            time.sleep(0.05)
        return missing(step.number, _describe(step.action), e, seen, threshold)

    def check(self, step: RecordedStep, point: Point, shot: Screenshot) -> Check:
        started, o = time.perf_counter(), self.options
        assert step.context is not None
        templates = context_templates(step.context, step.anchor, o.crop_px)
        center = context_templates(step.context, step.anchor, max(o.crop_px // 3, 8))[0]
        spot = _Spot(templates[0], center, o.threshold)
        score, center_score = spot.at(point, shot)
        if spot.passes(score, center_score):
            return Check("matched", point, score, center=center_score, ms=_ms(started))
        settled = None
        if self.observe is not None:
            shot = self.observe(shot)
            settled, center_score = spot.at(point, shot)
            if spot.passes(settled, center_score):
                return Check("settled", point, score, settled, center=center_score, ms=_ms(started))
        image, first = im.gray(shot.image), None
        for template, anchor in templates:  # more context each time: a long text field is only unique in context
            match, note = self._search(template, image, (point[0] - anchor[0], point[1] - anchor[1]))
            found = None if match is None else (match.left + anchor[0], match.top + anchor[1])
            if match is not None and found is not None and not note:
                at = _score_at(center, found, shot)
                if at >= spot.center_threshold:
                    offset = (found[0] - point[0], found[1] - point[1])
                    return Check("moved", point, score, settled, match, found, offset, center=at, ms=_ms(started))
                note = f"its best match ({match.score:.2f}) differs right at the target ({at:.2f})"
            first = first or (match, found, note)
        assert first is not None
        note = (f"the screen around the target differs from the recording (similarity {score:.2f}, at the target "
                f"{center_score:.2f}{', also once the screen was still' if settled is not None else ''}); {first[2]}")
        failed = Check("diverged", point, score, settled, first[0], first[1], center=center_score, note=note)
        return self._reground(step, point, shot, failed, started)

    def _search(self, template: Any, image: Any, corner: Point) -> tuple[im.Match | None, str]:
        """A unique good match near `corner`, else on the whole screen; or the best found and why not."""
        o, (th, tw) = self.options, template.shape
        if im.flat(template):
            return None, "the recorded target area is featureless, so it cannot be searched for"
        r = o.search_radius_px
        x0, y0 = max(corner[0] - r, 0), max(corner[1] - r, 0)
        x1, y1 = max(corner[0] + tw + r, 0), max(corner[1] + th + r, 0)
        near = im.find(template, image[y0:y1, x0:x1]) if r > 0 else None
        if near is not None:
            near = im.Match(near.left + x0, near.top + y0, near.score, near.runner_up)
            if near.score >= o.threshold and near.score - near.runner_up >= o.margin:
                return near, ""
        best = im.find(template, image)
        if best is None:
            return near, "the recorded target does not fit on this screen"
        if best.score < o.threshold:
            return best, f"it was not found on the screen (best match {best.score:.2f} < {o.threshold})"
        if best.score - best.runner_up < o.margin:
            return best, f"it matches several places on the screen ({best.score:.2f} and {best.runner_up:.2f})"
        return best, ""

    def _reground(self, step: RecordedStep, point: Point, shot: Screenshot, failed: Check, started: float) -> Check:
        if self.grounder is None:
            return _replace(failed, note=failed.note + "; no model is configured to find it again "
                            "(replay.reground in the config, or --reground)", ms=_ms(started))
        try:
            if isinstance(self.grounder, ExampleGrounder) and step.context is not None:
                box = im.crop_box(step.anchor, self.options.crop_px, step.context.size)
                found = self.grounder.ground_example(step.intent, step.context.crop(box), shot)
            else:
                found = self.grounder.ground(step.intent, shot)
        except GroundingError as exc:
            return _replace(failed, note=f"{failed.note}; the model could not find it either: {exc}", ms=_ms(started))
        offset = (found[0] - point[0], found[1] - point[1])
        return _replace(failed, result="regrounded", regrounded=tuple(found), offset=offset,
                        note=f"re-grounded {step.intent!r}", ms=_ms(started))


def placed(step: RecordedStep, size: tuple[int, int]) -> Action:
    """The step's action on a `size` screen: unchanged on the recorded size, else via normalized points."""
    if size == step.screen:
        return step.action
    return with_points(step.action, lambda p: denormalize(normalize(p, step.screen), size))


def target_of(action: Action) -> Point | None:
    """The point whose surroundings are verified: a drag's start, else the action's coordinate."""
    if isinstance(action, LeftClickDrag):
        return action.start_coordinate
    return getattr(action, "coordinate", None)


def shifted(action: Action, offset: Point, size: tuple[int, int]) -> Action:
    if offset == (0, 0):
        return action
    w, h = size
    return with_points(action, lambda p: (min(max(p[0] + offset[0], 0), w - 1), min(max(p[1] + offset[1], 0), h - 1)))


def context_templates(context: Image.Image, anchor: Point, crop_px: int) -> list[tuple[Any, Point]]:
    """Gray crops of `context` around `anchor`, CONTEXT × crop_px wide, each with the anchor inside it."""
    out: list[tuple[Any, Point]] = []
    for scale in CONTEXT:
        box = im.crop_box(anchor, crop_px * scale, context.size)
        template = im.gray(context.crop(box))
        if out and template.shape == out[-1][0].shape:  # the context is no bigger: nothing new to try
            break
        out.append((template, (anchor[0] - box[0], anchor[1] - box[1])))
    return out


@dataclass(frozen=True)
class _Spot:
    """The two comparisons at one point: the crop_px square (≥ threshold) and the small centre square
    (≥ max(threshold, CENTER_MIN): a same-looking button with another label differs only there)."""

    square: tuple[Any, Point]
    center: tuple[Any, Point]
    threshold: float

    @property
    def center_threshold(self) -> float:
        return max(self.threshold, CENTER_MIN)

    def at(self, point: Point, shot: Screenshot) -> tuple[float, float]:
        return _score_at(self.square, point, shot), _score_at(self.center, point, shot)

    def passes(self, score: float, center: float) -> bool:
        return score >= self.threshold and center >= self.center_threshold


def _score_at(template: tuple[Any, Point], point: Point, shot: Screenshot) -> float:
    """Similarity of the template with the same place of `shot` (0 where it would leave the screen)."""
    pixels, anchor = template
    th, tw = pixels.shape
    x, y = point[0] - anchor[0], point[1] - anchor[1]
    if x < 0 or y < 0 or y + th > shot.size[1] or x + tw > shot.size[0]:
        return 0.0
    return im.similarity(pixels, im.gray(shot.image.crop((x, y, x + tw, y + th))))


def _replace(check: Check, **changes: Any) -> Check:
    from dataclasses import replace

    return replace(check, **changes)


def _describe(action: Action) -> str:
    data = action_to_json(action)
    where = data.get("start_coordinate") or data.get("coordinate")
    if where:
        return f"{data['action']} at {list(where)}"
    if data.get("keys"):
        return f"key {'+'.join(data['keys'])}"
    text = data.get("text")
    return f"type {text if len(text) <= 40 else text[:40] + '…'!r}" if isinstance(text, str) else data["action"]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
