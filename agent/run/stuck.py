"""Stuck detection: notice mechanically when a run is going round in circles.

Three patterns over the actions that were carried out (waits, denials and final answers are not
counted; any of those in between does not break a pattern either):
  * repeat — the same action (coordinates within `tolerance_px`) `repeat` times in a row,
  * ping-pong — A, B, A, B, … over `cycles` A-B pairs,
  * no change — `no_change` actions in a row after which the screen did not change.
Repeat and ping-pong only count when the screen is not making progress: the screens after those
actions show at most two distinct states (a counter that goes up on every click, a page that
scrolls further each time, is progress, not a loop). The first time a pattern is seen the policy
is told (the step's feedback); if one is seen again, the run ends with status stuck.
By default only model policies are watched: a task script repeats a click on purpose and ends by
itself (`safety.stuck.apply_to: all` watches scripts too).
Not for: judging whether the task succeeded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

from actions.geometry import Screenshot
from actions.schema import Action, Answer, Terminate, Wait, action_to_json
from agent.run.settle import SettleResult
from agent.safety.config import StuckSettings
from policies.base import StepRecord

_COUNTED = ("executed", "dry_run")


class StuckWatch:
    """Feed it every step (`after`); it may add a warning to the step, or say the run is stuck."""

    def __init__(self, settings: StuckSettings, enabled: bool = True) -> None:
        self.cfg, self.enabled = settings, enabled
        size = max(settings.repeat, 2 * settings.cycles, settings.no_change)
        self.recent: deque[tuple[Action, int | None, bool | None]] = deque(maxlen=size)
        self.warned = False

    @classmethod
    def for_policy(cls, settings: StuckSettings, policy: Any) -> StuckWatch:
        scripted = bool(getattr(policy, "scripted", False))
        return cls(settings, settings.apply_to == "all" or (settings.apply_to == "model" and not scripted))

    def after(self, step: StepRecord, settled: SettleResult | None) -> tuple[StepRecord, tuple[str, str] | None]:
        """The step (with a warning added the first time) and ("stuck", why) when the run must end."""
        action = step.decision.action
        if not self.enabled or action is None or step.outcome.status not in _COUNTED:
            return step, None
        if isinstance(action, Wait | Terminate | Answer):
            return step, None
        state = None if settled is None else fingerprint(settled.shot)
        self.recent.append((action, state, None if settled is None else settled.changed))
        reason = self.pattern()
        if reason is None:
            return step, None
        if self.warned:
            return step, ("stuck", reason)
        self.warned = True
        warning = (f"You seem to be stuck: {reason}. Do something different, or terminate with status "
                   "failure if the task cannot be done.")
        return replace(step, feedback=f"{step.feedback} {warning}".strip()), None

    def pattern(self) -> str | None:
        """A description of the loop the recent actions form, or None."""
        cfg, items = self.cfg, list(self.recent)
        if len(items) >= cfg.no_change and all(changed is False for _, _, changed in items[-cfg.no_change:]):
            return f"the last {cfg.no_change} actions had no visible effect"
        last = items[-cfg.repeat:]
        if len(last) == cfg.repeat and all(self.same(a, last[0][0]) for a, _, _ in last) and _no_progress(last):
            return f"the same action was repeated {cfg.repeat} times without progress"
        window = items[-2 * cfg.cycles:]
        if len(window) == 2 * cfg.cycles and _alternates(window, self.same) and _no_progress(window):
            return f"two actions alternated {cfg.cycles} times without progress"
        return None

    def same(self, a: Action, b: Action) -> bool:
        """Equal actions, allowing coordinates to differ by `tolerance_px`."""
        ja, jb = action_to_json(a), action_to_json(b)
        if ja.keys() != jb.keys():
            return False
        tol = self.cfg.tolerance_px
        for key, va in ja.items():
            vb = jb[key]
            if key in ("coordinate", "start_coordinate"):
                if abs(va[0] - vb[0]) > tol or abs(va[1] - vb[1]) > tol:
                    return False
            elif va != vb:
                return False
        return True


def fingerprint(shot: Screenshot) -> int:
    """A hash of every pixel (about 2 ms at 1080p): equal screens give equal fingerprints."""
    return hash(shot.pixels().tobytes())


def _no_progress(items: list[tuple[Action, int | None, bool | None]]) -> bool:
    states = [state for _, state, _ in items]
    return None in states or len(set(states)) <= 2


def _alternates(items: list[tuple[Action, int | None, bool | None]], same: Any) -> bool:
    a, b = items[0][0], items[1][0]
    if same(a, b):
        return False
    return all(same(action, a if i % 2 == 0 else b) for i, (action, _, _) in enumerate(items))
