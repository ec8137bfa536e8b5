"""The safety gate: every action is reviewed here before it can reach an executor.

A gate is a list of rules. Each rule looks at the action and the screenshot it was chosen on and
returns a `Verdict` (allow / confirm / deny) or None for "no opinion". The strictest verdict wins
(deny > confirm > allow); with no opinion at all the action is allowed. The gate fails closed: a
rule that raises produces a deny verdict naming that rule. The confirm mode then applies
(`apply_mode`): "never" turns confirm into deny (never asking must not mean allowing risky
things), "always" asks about every action that sends input. `confirm` verdicts go to a
`Confirmer`; the default one says no. Rules with an `observe` method are told each final verdict
(text rules remember what was typed). Rules themselves: `actions.rules`, `actions.textrules`.
Not for: executing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from actions.geometry import Screenshot
from actions.schema import Action, points_of

Decision = Literal["allow", "confirm", "deny"]
ConfirmMode = Literal["never", "risky", "always"]
ConfirmOutcome = Literal["approved", "refused", "timed_out", "unavailable", "failed"]
_RANK: dict[str, int] = {"allow": 0, "confirm": 1, "deny": 2}
_NO_INPUT = ("wait", "terminate", "answer")


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    rule: str
    reason: str = ""
    confirmation: ConfirmOutcome | None = None  # set when a person was asked (or could not be)

    def to_json(self) -> dict[str, str]:
        data = {"decision": self.decision, "rule": self.rule, "reason": self.reason}
        return {**data, "confirmation": self.confirmation} if self.confirmation else data


@dataclass(frozen=True)
class Confirmation:
    """A confirmer's answer; true only when approved. `detail` says by whom or why not."""

    approved: bool
    outcome: ConfirmOutcome
    detail: str = ""

    def __bool__(self) -> bool:
        return self.approved


class Rule(Protocol):
    name: str

    def check(self, action: Action, shot: Screenshot) -> Verdict | None: ...


class Confirmer(Protocol):
    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> bool | Confirmation:
        """True (or an approved Confirmation) only if a person approved the action."""


class RefuseConfirmer:
    """The confirmer used where no person can be asked: every confirmation is refused."""

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> Confirmation:
        return Confirmation(False, "unavailable", "no one to ask (no terminal)")


def after_confirmation(verdict: Verdict, answer: bool | Confirmation) -> Verdict:
    """The final verdict once a person was asked: allow only on an explicit approval."""
    if not isinstance(answer, Confirmation):
        answer = Confirmation(answer is True, "approved" if answer is True else "refused")
    approved = answer.approved and answer.outcome == "approved"
    how = {"approved": "approved by the user", "refused": "refused by the user", "timed_out": "no answer in time",
           "unavailable": "no one could be asked", "failed": "asking failed"}[answer.outcome]
    detail = f"; {answer.detail}" if answer.detail else ""
    return Verdict("allow" if approved else "deny", verdict.rule, f"{verdict.reason} — {how}{detail}", answer.outcome)


def apply_mode(verdict: Verdict, action: Action, mode: ConfirmMode) -> Verdict:
    """Apply the confirm mode to the gate's verdict (see the module docstring)."""
    if mode == "never" and verdict.decision == "confirm":
        return Verdict("deny", verdict.rule, f"{verdict.reason} (confirm: never, so nobody is asked)")
    if mode == "always" and verdict.decision == "allow" and action.action not in _NO_INPUT:
        return Verdict("confirm", "confirm_always", "confirm: always asks before every action")
    return verdict


class OnScreen:
    """Deny any action whose coordinates fall outside the captured monitor."""

    name = "on_screen"

    def check(self, action: Action, shot: Screenshot) -> Verdict | None:
        for point in points_of(action):
            if not shot.contains(point):
                w, h = shot.size
                return Verdict("deny", self.name, f"point {list(point)} is outside the {w}x{h} screen")
        return None


class Gate:
    """Reviews actions against its rules; the strictest verdict wins; errors deny."""

    def __init__(self, rules: Sequence[Rule], confirm: ConfirmMode = "risky") -> None:
        self.rules = tuple(rules)
        self.confirm: ConfirmMode = confirm

    def review(self, action: Action, shot: Screenshot) -> Verdict:
        verdict = apply_mode(self._strictest(action, shot), action, self.confirm)
        for rule in self.rules:
            observe: Any = getattr(rule, "observe", None)
            if observe is not None:
                try:
                    observe(action, verdict)
                except Exception:  # memory for later checks; a failure here must not stop the review
                    pass
        return verdict

    def _strictest(self, action: Action, shot: Screenshot) -> Verdict:
        worst = Verdict("allow", "default", "no rule objected")
        for rule in self.rules:
            try:
                verdict = rule.check(action, shot)
            except Exception as exc:  # fail closed: a broken rule must never let an action through
                return Verdict("deny", getattr(rule, "name", type(rule).__name__), f"rule failed: {exc}")
            if verdict is not None and _RANK[verdict.decision] > _RANK[worst.decision]:
                worst = verdict
                if verdict.decision == "deny":
                    break
        return worst
