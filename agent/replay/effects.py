"""Whether a replayed step had its recorded effect, told so that an unchanged screen can never pass.

`EffectCheckingReplay` is `policies.scripted.verified.VerifyingReplayPolicy` with its effect check
(`check_effect`) replaced by one that needs two things of the region the recorded step changed:
1. its structure matches the recorded result (`imagematch.similarity` ≥ the threshold), as before; and
2. on the pixels that changed in the recording (by more than `EFFECT_LEVELS` gray levels), the screen
   now is nearer to the recorded result than to the recorded start (mean absolute gray difference).
Why the second: similarity is a normalized correlation, blind to brightness and contrast, so a change
that only shades a region scores as "the same" both ways. Measured on GTK's Save-As dialog: the Save
button's pressed look (what an accepted Enter shows) against its normal look scores 0.82 ≥ 0.8, so a
swallowed Enter passed as "as recorded" and replay ended `success` with no file written.
The rest of the policy (targets checked before each step, moved widgets, re-grounding) is unchanged.
Not for: reading traces (agent.replay.verify) or comparing targets before a step (policies.scripted.verified).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from actions.geometry import Screenshot
from policies import imagematch as im
from policies.scripted.verified import Effect, RecordedStep, VerifyingReplayPolicy, _describe

EFFECT_LEVELS = 24  # gray levels a recorded pixel must change by to count as part of the step's effect
POLL_S = 0.05


@dataclass(frozen=True)
class Seen:
    """One look at the effect's region: `score`/`still` the similarity to the recorded result/start,
    `to_after`/`to_before` the mean gray distance to them on the pixels the recording changed."""

    score: float
    still: float
    to_after: float
    to_before: float

    def happened(self, threshold: float) -> bool:
        return self.score >= threshold and self.to_after < self.to_before

    def looks_unchanged(self, threshold: float) -> bool:
        return self.still >= threshold and self.to_before <= self.to_after


def look_at(effect: Effect, now: Any) -> Seen:
    """Compare the gray pixels `now` (the effect's box on the screen) with the recorded start and result."""
    import numpy as np

    after, before = im.gray(effect.after), im.gray(effect.before)
    changed = np.abs(after - before) > EFFECT_LEVELS
    if not changed.any():  # recorded_effect never makes such an effect; compare every pixel then
        changed = np.ones(after.shape, dtype=bool)
    to_after = float(np.abs(now - after)[changed].mean()) if now.shape == after.shape else 255.0
    to_before = float(np.abs(now - before)[changed].mean()) if now.shape == before.shape else 255.0
    return Seen(im.similarity(after, now), im.similarity(before, now), to_after, to_before)


class EffectCheckingReplay(VerifyingReplayPolicy):
    """The verifying replay policy, with the effect check described in the module doc."""

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
            time.sleep(POLL_S)
        return _missing(step, e, seen, threshold)


def _missing(step: RecordedStep, e: Effect, seen: Seen, threshold: float) -> tuple[dict[str, Any], str]:
    where = f"[{e.box[0]}, {e.box[1]}, {e.box[2] - e.box[0]}, {e.box[3] - e.box[1]}] (x, y, w, h)"
    distances = f"mean difference on the changed pixels {seen.to_before:.0f} gray levels from the recorded start, " \
                f"{seen.to_after:.0f} from the recorded result"
    if seen.looks_unchanged(threshold):
        now_is = f"it still looks as it did before the step ({distances}): the step had no effect"
    elif seen.score >= threshold:
        now_is = f"its shapes match the recorded result but not its shading ({distances})"
    else:
        now_is = (f"it looks like neither the recording before the step (similarity {seen.still:.2f}) nor after it "
                  f"({distances})")
    report = (f"step {step.number} ({_describe(step.action)}) did not have its recorded effect: the region "
              f"{where} should have changed as in the recording within {e.wait_s:.1f} s (similarity to the "
              f"recorded result {seen.score:.2f}, needed {threshold}, and nearer to the result than to the start); "
              f"on the screen now {now_is}")
    return {"step": step.number, "result": "missing", "score": round(seen.score, 3), "before": round(seen.still, 3),
            "to_result": round(seen.to_after, 1), "to_start": round(seen.to_before, 1), "box": list(e.box)}, report
