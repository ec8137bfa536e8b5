"""The safety gate: every action is reviewed here before it can reach an executor.

A gate is a list of rules. Each rule looks at the action and the screenshot it was chosen on and
returns a `Verdict` (allow / confirm / deny) or None for "no opinion". The strictest verdict wins
(deny > confirm > allow); with no opinion at all the action is allowed. The gate fails closed: a
rule that raises produces a deny verdict naming that rule. `confirm` verdicts go to a `Confirmer`;
the default one says no. Not for: executing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from actions.geometry import Screenshot
from actions.schema import Action, points_of

Decision = Literal["allow", "confirm", "deny"]
_RANK: dict[str, int] = {"allow": 0, "confirm": 1, "deny": 2}


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    rule: str
    reason: str = ""

    def to_json(self) -> dict[str, str]:
        return {"decision": self.decision, "rule": self.rule, "reason": self.reason}


class Rule(Protocol):
    name: str

    def check(self, action: Action, shot: Screenshot) -> Verdict | None: ...


class Confirmer(Protocol):
    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> bool:
        """True only if a person approved the action."""


class RefuseConfirmer:
    """The confirmer used where no person can be asked: every confirmation is refused."""

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> bool:
        return False


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

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)

    def review(self, action: Action, shot: Screenshot) -> Verdict:
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
