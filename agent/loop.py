"""The agent loop: observe → decide → gate → execute → settle → record, until an ending.

Endings are values (`Status`), never exceptions: success, failure, max_steps, denied, cancelled,
error (and stuck, from stuck detection). Every action passes the gate before the executor; a
`confirm` verdict goes to the confirmer, which refuses unless a person says yes. The policy is
told what happened to its last action through `StepRecord.feedback`.
Not for: building the pieces (the CLI does) or writing files (the trace writer does).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from actions.computer import Computer
from actions.dispatch import Placement, perform
from actions.gate import Confirmer, Gate, Verdict
from actions.geometry import Screenshot
from actions.schema import Answer, Terminate, action_to_json
from agent.config import Settings
from agent.settle import SettleResult, settle
from agent.trace import TraceWriter
from policies.base import Decision, Outcome, Policy, StepRecord

Status = Literal["success", "failure", "max_steps", "denied", "cancelled", "error", "stuck"]
EXIT_CODES: dict[str, int] = {"success": 0, "cancelled": 3}  # everything else: 1


@dataclass(frozen=True)
class RunResult:
    status: Status
    reason: str
    steps: int
    answer: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)


@dataclass
class Agent:
    """The pieces one run needs. `stop` is set by signal handlers or the kill switch."""

    policy: Policy
    computer: Computer
    gate: Gate
    confirmer: Confirmer
    trace: TraceWriter
    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)


def run_task(task: str, agent: Agent, header: dict[str, Any] | None = None) -> RunResult:
    limits, history = agent.settings.loop, []
    shot, t0 = agent.computer.screenshot(), time.perf_counter()
    capture_ms = (time.perf_counter() - t0) * 1000
    agent.trace.header(task=task, policy=agent.policy.name, screen=_geometry(shot), **(header or {}))
    result = RunResult("max_steps", f"reached the step limit ({limits.max_steps})", 0)
    for index in range(1, limits.max_steps + 1):
        if agent.stop.is_set():
            result = RunResult("cancelled", "stopped by the user before the model call", index - 1)
            break
        timings = {"capture": round(capture_ms, 2)}
        with _timed(timings, "decide"):
            decision = agent.policy.decide(task, shot, history)
        step, settled = _act(index, decision, shot, agent, timings)
        agent.trace.step(index, _record(step, timings, settled), shot)
        history.append(step)
        ending = _ending(step, history, agent)
        if ending is not None:
            result = RunResult(ending[0], ending[1], index, _answer(step))
            break
        if settled is not None:  # the settled screen is the next observation: no extra capture
            shot, capture_ms = settled.shot, 0.0
        else:
            t0 = time.perf_counter()
            shot = agent.computer.screenshot()
            capture_ms = (time.perf_counter() - t0) * 1000
    agent.trace.end(status=result.status, reason=result.reason, steps=result.steps, answer=result.answer)
    return result


def _act(
    index: int, decision: Decision, shot: Screenshot, agent: Agent, timings: dict[str, float]
) -> tuple[StepRecord, SettleResult | None]:
    """Review and (maybe) execute one decision; return its record and how the screen settled."""
    action = decision.action
    if action is None:
        feedback = f"Your last answer could not be used: {decision.error}. Answer with one tool call."
        return StepRecord(index, decision, None, Outcome("invalid", decision.error or ""), feedback), None
    with _timed(timings, "gate"):
        verdict = _review(action, shot, agent)
    if verdict.decision != "allow":
        feedback = f"The action was denied by the safety rule '{verdict.rule}': {verdict.reason}. Try another way."
        return StepRecord(index, decision, verdict, Outcome("denied", verdict.reason), feedback), None
    if isinstance(action, Terminate | Answer):
        return StepRecord(index, decision, verdict, Outcome("final")), None
    if agent.settings.safety.dry_run:
        return StepRecord(index, decision, verdict, Outcome("dry_run", "not executed (dry run)")), None
    if agent.stop.is_set():
        return StepRecord(index, decision, verdict, Outcome("failed", "cancelled before the action")), None
    placement = Placement(shot.monitor, shot.scale, agent.settings.executor.scroll_pixels_per_click)
    try:
        with _timed(timings, "execute"):
            perform(action, agent.computer, placement)
    except Exception as exc:  # an input call failed: our fault, the run ends with status error
        return StepRecord(index, decision, verdict, Outcome("failed", _describe(exc))), None
    settled = _settle(shot, agent, timings)
    feedback = "" if settled is None or settled.changed else "The last action had no visible effect."
    return StepRecord(index, decision, verdict, Outcome("executed"), feedback), settled


def _review(action: Any, shot: Screenshot, agent: Agent) -> Verdict:
    verdict = agent.gate.review(action, shot)
    if verdict.decision != "confirm":
        return verdict
    try:
        approved = agent.confirmer.ask(action, verdict, shot)
    except Exception as exc:  # a broken confirmer must not let the action through
        return Verdict("deny", verdict.rule, f"confirmation failed: {exc}")
    return Verdict("allow" if approved else "deny", verdict.rule,
                   f"{verdict.reason} — {'approved' if approved else 'not approved'} by the user")


def _settle(before: Screenshot, agent: Agent, timings: dict[str, float]) -> SettleResult | None:
    cfg = agent.settings.settle
    if not cfg.enabled:
        return None
    result = settle(agent.computer.screenshot, before, cfg.interval_ms / 1000, cfg.stable_frames,
                    cfg.timeout_ms / 1000, cfg.change_threshold)
    timings["settle"] = round(result.ms, 2)
    return result


def _ending(step: StepRecord, history: list[StepRecord], agent: Agent) -> tuple[Status, str] | None:
    """Whether the run ends after this step, with which status and why."""
    action, outcome, limits = step.decision.action, step.outcome, agent.settings.loop
    if outcome.status == "final":
        if isinstance(action, Terminate):
            return ("success" if action.status == "success" else "failure"), f"terminate: {action.status}"
        return "success", "answered"
    if outcome.status == "failed":
        cancelled = "FailSafe" in outcome.detail or agent.stop.is_set()
        return ("cancelled", outcome.detail) if cancelled else ("error", f"action failed: {outcome.detail}")
    if outcome.status == "denied":
        denials = sum(1 for s in history if s.outcome.status == "denied")
        if agent.policy.scripted or denials >= limits.max_denials:
            return "denied", f"step {step.index} denied by rule '{step.verdict.rule}': {outcome.detail}"
    if outcome.status == "invalid":
        run = 0
        for s in reversed(history):
            if s.outcome.status != "invalid":
                break
            run += 1
        if agent.policy.scripted or run >= limits.max_consecutive_errors:
            return "error", f"{run} unusable answer(s) in a row; last: {outcome.detail}"
    return None


def _record(step: StepRecord, timings: dict[str, float], settled: SettleResult | None) -> dict[str, Any]:
    d = step.decision
    effect = None if settled is None else {
        "changed": settled.changed, "box": settled.changed_box, "stable": settled.stable, "frames": settled.frames
    }
    return {
        "action": action_to_json(d.action) if d.action is not None else None,
        "verdict": step.verdict.to_json() if step.verdict else None,
        "outcome": step.outcome.to_json(),
        "feedback": step.feedback,
        "timings_ms": timings,
        "effect": effect,
        "raw_text": d.raw_text,
        **({"error": d.error} if d.error else {}),
        **({"policy": d.meta} if d.meta else {}),
    }


def _geometry(shot: Screenshot) -> dict[str, Any]:
    return {"monitor": shot.monitor.to_json(), "scale": shot.scale, "width": shot.size[0], "height": shot.size[1]}


def _answer(step: StepRecord) -> str | None:
    return step.decision.action.text if isinstance(step.decision.action, Answer) else None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0]


class _timed:
    """Context manager adding the elapsed ms of its block to `timings[name]`."""

    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = round((time.perf_counter() - self.started) * 1000, 2)
