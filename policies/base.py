"""The `Policy` protocol, the optional capabilities a policy may declare, and the values that cross it.

A policy sees the task, the current screenshot and the history of earlier steps, and returns a
`Decision`: one action in screen coordinates, or none with the reason (a malformed model answer
is the model's fault: it is recorded and shown to the model next turn, not raised).

What a policy may do beyond deciding is declared as small protocols here — `Interruptible` (it takes
the run's stop flag), `Closable` (it holds a model or a connection), `NeedsGrounder` (its steps name
targets a model must find) — and callers ask `isinstance(policy, Interruptible)`, never `hasattr`.
Not for: executing or reviewing actions.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

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


@runtime_checkable
class Interruptible(Protocol):
    """A policy whose `decide` can be cut short: the run sets `interrupt_event` to its stop flag, and the
    policy checks it while it works (between generated tokens), so a stop never waits for a whole answer."""

    interrupt_event: threading.Event | None


@runtime_checkable
class Closable(Protocol):
    """A policy (or grounder) that holds something to give back: a model in GPU memory, a connection."""

    def close(self) -> None: ...


@runtime_checkable
class NeedsGrounder(Protocol):
    """A policy whose steps name targets in words (`targets`); `with_grounder` gives it the model that
    finds them on the screen, and it cannot run without one."""

    targets: tuple[str, ...]

    def with_grounder(self, grounder: Any) -> Any: ...
