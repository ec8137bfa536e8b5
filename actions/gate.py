"""The safety gate: every action is reviewed here before it can reach an executor.

A gate is a list of rules. Each rule looks at the action and the screenshot it was chosen on and
returns a `Verdict` (allow / confirm / deny) or None for "no opinion". The strictest verdict wins
(deny > confirm > allow); with no opinion at all the action is allowed. The gate fails closed: a
rule that raises, or answers anything but a well-formed `Verdict` or None, produces a deny verdict
naming that rule. The confirm mode then applies (`apply_mode`): "never" turns confirm into deny
(never asking must not mean allowing risky things), "always" asks about every action that sends
input. `confirm` verdicts go to a `Confirmer` (`Gate.review(..., confirmer)`); the default one
says no, and one that raises denies. Rules with an `observe` method are then told the final
verdict (text rules remember what was typed, so text a person refused is not remembered).
Rules themselves: `actions.rules`, `actions.textrules`.
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
    """Reviews actions against its rules; the strictest verdict wins; errors and malformed verdicts deny."""

    def __init__(self, rules: Sequence[Rule], confirm: ConfirmMode = "risky") -> None:
        self.rules = tuple(rules)
        self.confirm: ConfirmMode = confirm

    def review(self, action: Action, shot: Screenshot, confirmer: Confirmer | None = None) -> Verdict:
        """The verdict on `action`; with `confirmer`, a confirm verdict is put to it and its answer decides.

        Observing rules are told the final verdict, so text a person refused is not remembered as typed.
        """
        verdict = apply_mode(self._strictest(action, shot), action, self.confirm)
        if confirmer is not None and verdict.decision == "confirm":
            try:
                verdict = after_confirmation(verdict, confirmer.ask(action, verdict, shot))
            except Exception as exc:  # a broken confirmer must not let the action through
                verdict = Verdict("deny", verdict.rule, f"{verdict.reason} — confirmation failed: {exc}", "failed")
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
                verdict = _well_formed(rule.check(action, shot))
            except Exception as exc:  # fail closed: a broken rule must never let an action through
                return Verdict("deny", _name(rule), f"rule failed: {exc}")
            if verdict is not None and _RANK[verdict.decision] > _RANK[worst.decision]:
                worst = verdict
                if verdict.decision == "deny":
                    break
        return worst


def _well_formed(verdict: object) -> Verdict | None:
    """A rule's answer, if it is None or a proper `Verdict`; anything else raises (and so denies)."""
    if verdict is None:
        return None
    if (isinstance(verdict, Verdict) and isinstance(verdict.decision, str) and verdict.decision in _RANK
            and isinstance(verdict.rule, str) and isinstance(verdict.reason, str) and verdict.confirmation is None):
        return verdict
    raise TypeError(f"malformed verdict {_short(verdict)} (a rule returns a Verdict or None)")


def _name(rule: object) -> str:
    try:
        return str(getattr(rule, "name", "")) or type(rule).__name__
    except Exception:  # a name property that raises: the type will do
        return type(rule).__name__


def _short(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."
