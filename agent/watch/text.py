"""The text of the live view: one line per step, the counts at the end, colour or not.

`step_text(line, colour)` is what a person watching reads for one step: index, action (with its
target), verdict and rule, outcome, effect, timings and the first line of the model's thought.
`Counts` tallies steps the way the final summary names them. Pure functions over the trace's typed
lines (`agent.traces.lines`), shared by in-process runs, daemon clients and tests.
Not for: writing to a terminal or deciding when (agent.watch.view).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.traces.lines import StepLine

RESET, BOLD, DIM = "\x1b[0m", "\x1b[1m", "\x1b[2m"
RED, GREEN, YELLOW, BLUE, CYAN = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[36m"
GOOD = frozenset({"executed", "final", "allow", "matched", "settled", "success"})
BAD = frozenset({"denied", "deny", "failed", "invalid", "diverged", "failure", "error", "stuck"})
VERIFIED = frozenset({"matched", "settled", "moved", "regrounded"})
THOUGHT_CHARS = 100


@dataclass
class Counts:
    """Steps by what became of them. `failed`: an input call failed, the answer was unusable, or replay
    verification found the screen diverged. `confirmed`: a person allowed it when asked."""

    executed: int = 0
    denied: int = 0
    confirmed: int = 0
    failed: int = 0
    verified: int = 0

    def add(self, line: StepLine) -> None:
        status = line.outcome.status
        self.executed += status == "executed"
        self.denied += status == "denied"
        self.confirmed += line.verdict is not None and line.verdict.confirmation == "approved"
        self.failed += status in ("failed", "invalid") or line.verify.get("result") == "diverged"
        self.verified += line.verify.get("result") in VERIFIED

    def text(self) -> str:
        return (f"{self.executed} executed, {self.denied} denied, {self.confirmed} confirmed, "
                f"{self.failed} failed, {self.verified} verified")


def paint(text: str, colour: str, on: bool) -> str:
    return f"{colour}{text}{RESET}" if on and colour else text


def tone(word: str) -> str:
    """The colour of a status word: green for good, red for bad, yellow for the rest."""
    return GREEN if word in GOOD else RED if word in BAD else YELLOW


def action_text(action: Mapping[str, Any] | None, width: int = 60) -> str:
    """`left_click coordinate=[640,400]`: the action and its arguments (the target), cut to `width`."""
    data = dict(action or {"action": "(unusable answer)"})
    name = data.pop("action", "?")
    args = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, separators=(',', ':'))}" for k, v in data.items())
    args = args if len(args) <= width else args[: width - 3] + "..."
    return f"{name} {args}".rstrip()


def thought(line: StepLine) -> str:
    """The first non-empty line of the model's text (not the tool call), cut short; '' if none."""
    for raw in (line.raw_text or "").splitlines():
        text = raw.strip()
        if text and not text.startswith(("<tool_call>", "{", "</", "Action:")):
            return text if len(text) <= THOUGHT_CHARS else text[: THOUGHT_CHARS - 1] + "…"
    return ""


def step_text(line: StepLine, colour: bool = False) -> str:
    """`  3  left_click coordinate=[640,400]  allow  executed  changed  decide 12 · execute 30 ms`
    and, on a second line, the model's thought."""
    verdict, status = line.verdict, line.outcome.status
    decided = "-" if verdict is None else verdict.decision
    rule = "" if verdict is None or verdict.rule in ("", "default") else f" ({verdict.rule})"
    parts = [f"{line.index:>3}", paint(action_text(line.action), BOLD, colour),
             paint(decided, tone(decided), colour) + rule, paint(status, tone(status), colour)]
    if status in ("denied", "failed", "invalid") and line.outcome.detail:
        parts.append(line.outcome.detail[:120])
    check = line.verify.get("result")
    if check and check != "skipped":
        parts.append(paint(f"verify {check}", tone(str(check)), colour))
    if line.effect is not None:
        parts.append("changed" if line.effect.changed else "no visible change")
    timings = " · ".join(f"{k} {v:.0f}" for k, v in line.timings_ms.items() if isinstance(v, int | float))
    if timings:
        parts.append(paint(f"{timings} ms", DIM, colour))
    text = "  ".join(parts)
    if said := thought(line):
        text += "\n      " + paint(f"“{said}”", CYAN, colour)
    return text
