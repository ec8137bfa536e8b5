"""Whether a replayed step had its recorded effect, judged so that an unchanged screen can never pass.

An `Effect` is what a recorded step did to the screen. `look_at` compares the screen's pixels in its
box with the recorded start and result on the pixels the recording changed there (by more than
`EFFECT_LEVELS` gray levels), and the effect counts as happened only when both hold:
1. their structure matches the recorded result (`imagematch.similarity` ≥ the threshold); and
2. the screen now is nearer to the recorded result than to the recorded start (mean absolute gray
   difference).
Why only the changed pixels: the box is the bounding box of the change, and what lies inside it
unchanged is context, not the step's effect — a file list, a clock, a focus shade that differ between
the recording and the replay. Judged over the whole box, such context outweighed an effect that had
plainly happened (GTK's Save-As dialog fully drawn, 2 gray levels from the recording on the changed
pixels, 240 from the start, scored "looks like neither"); a context that matters is checked where it
matters, at the next step's target.
Why the second: similarity is a normalized correlation, blind to brightness and contrast, so a change
that only shades a region scores as "the same" both ways. Measured on GTK's Save-As dialog: the Save
button's pressed look (what an accepted Enter shows) against its normal look scores 0.82 ≥ 0.8, so a
swallowed Enter passed as "as recorded" and replay ended `success` with no file written.
`missing` words the report when an effect never comes. Not for: waiting or deciding (the verifying
replay policy, policies.scripted.verified) or reading traces (agent.replay.verify).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from policies import imagematch as im

if TYPE_CHECKING:
    from PIL import Image

EFFECT_LEVELS = 24  # gray levels a recorded pixel must change by to count as part of the step's effect


@dataclass(frozen=True)
class Effect:
    """What a recorded step did to the screen: the box that changed between its screenshot and the next
    one (or the end screenshot), the recorded pixels there before and after, and how long replay may
    wait for the same change (twice the recorded gap to the next step, plus settling)."""

    box: tuple[int, int, int, int]  # left, top, right, bottom in recorded screen pixels
    before: Image.Image = field(repr=False)
    after: Image.Image = field(repr=False)
    wait_s: float = 2.0


@dataclass(frozen=True)
class Seen:
    """One look at the effect's region, on the pixels the recording changed: `score`/`still` the similarity
    to the recorded result/start, `to_after`/`to_before` the mean gray distance to them."""

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
    if now.shape != after.shape or now.shape != before.shape:
        return Seen(0.0, 0.0, 255.0, 255.0)
    changed = np.abs(after - before) > EFFECT_LEVELS
    if not changed.any():  # recorded_effect never makes such an effect; compare every pixel then
        changed = np.ones(after.shape, dtype=bool)
    after, before, now = after[changed], before[changed], now[changed]
    return Seen(im.similarity(after, now), im.similarity(before, now),
                float(np.abs(now - after).mean()), float(np.abs(now - before).mean()))


def missing(number: int, action: str, e: Effect, seen: Seen, threshold: float) -> tuple[dict[str, Any], str]:
    """What the trace records, and the failure report, for an effect that never came (`action`: the step in words)."""
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
    report = (f"step {number} ({action}) did not have its recorded effect: the region "
              f"{where} should have changed as in the recording within {e.wait_s:.1f} s (similarity to the "
              f"recorded result {seen.score:.2f}, needed {threshold}, and nearer to the result than to the start); "
              f"on the screen now {now_is}")
    return {"step": number, "result": "missing", "score": round(seen.score, 3), "before": round(seen.still, 3),
            "to_result": round(seen.to_after, 1), "to_start": round(seen.to_before, 1), "box": list(e.box)}, report
