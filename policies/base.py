"""The `Policy` protocol and the values that cross it.

A policy sees the task, the current screenshot and the history of earlier steps, and returns a
`Decision`: one action in screen coordinates, or none with the reason (a malformed model answer
is the model's fault: it is recorded and shown to the model next turn, not raised).
Not for: executing or reviewing actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from actions.gate import Verdict
from actions.geometry import Screenshot
from actions.schema import Action

OutcomeStatus = Literal["executed", "dry_run", "denied", "invalid", "failed", "final"]


@dataclass(frozen=True)
class Decision:
    """A policy's answer. `action` is None when the answer could not be used (see `error`)."""

    action: Action | None
    raw_text: str | None = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What happened to a decided action: executed, skipped by dry run, denied, invalid, failed."""

    status: OutcomeStatus
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class StepRecord:
    """One finished step as later steps (and the policy) see it."""

    index: int
    decision: Decision
    verdict: Verdict | None
    outcome: Outcome
    feedback: str = ""


class Policy(Protocol):
    name: str
    #: True when the steps are fixed in advance (task scripts, traces): a denied or invalid
    #: step then ends the run, because the steps after it depend on it.
    scripted: bool

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision: ...
