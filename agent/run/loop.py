"""The agent loop: observe → decide → gate → execute → settle → record, until an ending.

Endings are values (`Status`), never exceptions: success, failure, max_steps, max_time, denied,
cancelled, error, stuck. Every action passes the gate before the executor; a `confirm` verdict
goes to the confirmer, which refuses unless a person says yes. The policy is told what happened to
its last action through `StepRecord.feedback`. `Agent.control` (agent.safety.control) holds the brakes:
stop, takeover pause, time and rate limits; an action a takeover overtook is dropped, not a step,
and the screen is looked at again. Stuck detection lives in agent.run.stuck.
Not for: building the pieces (the CLI does) or writing files (the trace writer does).
"""

from __future__ import annotations

import threading
import time
from dataclasses import InitVar, dataclass, field
from typing import Any, Literal

from actions.computer import Computer, ScreenChanges
from actions.dispatch import Placement, perform
from actions.gate import Confirmer, Gate, Verdict
from actions.geometry import Screenshot
from actions.schema import Answer, Terminate, Wait, action_to_json, normalized_points, points_of
from agent.config import Settings
from agent.run.settle import SettleResult, hover_first, screen_changes, settle
from agent.run.stuck import StuckWatch
from agent.safety.control import Control, Hold
from agent.safety.guarded import Interrupted
from agent.traces.lines import Effect, EndLine, Origin, Screen, StepLine
from agent.traces.lines import Outcome as OutcomeLine
from agent.traces.store import TraceWriter
from policies.base import Decision, Outcome, Policy, StepRecord

Status = Literal["success", "failure", "max_steps", "max_time", "denied", "cancelled", "error", "stuck"]
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
    """The pieces one run needs. `stop` is set by signal handlers or the kill switch; `control` holds the
    brakes (given as `brakes`, or a `Control` on `stop` with the settings' limits)."""

    policy: Policy
    computer: Computer
    gate: Gate
    confirmer: Confirmer
    trace: TraceWriter
    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)
    brakes: InitVar[Control | None] = None
    control: Control = field(init=False)

    def __post_init__(self, brakes: Control | None) -> None:
        self.control = brakes or Control(self.stop, self.settings.safety)


@dataclass
class _Progress:
    """What the caller's error path needs of a loop that raised: the steps done, the last screen seen."""

    steps: int
    shot: Screenshot | None


def run_task(task: str, agent: Agent, origin: Origin | None = None) -> RunResult:
    shot, capture_ms = _look(agent)
    agent.trace.header((origin or Origin()).header(task, agent.policy.name, _geometry(shot)))
    progress = _Progress(0, shot)
    try:
        screen_changes(agent.computer, agent.settings.settle)  # settle.mode: events without them stops here
        result = _steps(task, agent, shot, capture_ms, progress)
    except KeyboardInterrupt:
        result = RunResult("cancelled", "interrupted (Ctrl-C)", progress.steps)
    except Exception as exc:  # the desktop or the policy broke: end the trace, report one line
        result = RunResult("error", _describe(exc), progress.steps)
    agent.trace.end(EndLine(status=result.status, reason=result.reason, steps=result.steps, answer=result.answer,
                            t=round(time.time(), 3)), _end_screen(agent, progress))
    return result


def _end_screen(agent: Agent, progress: _Progress) -> Screenshot | None:
    """The screen after the last step (replay verifies the last step's effect against it)."""
    if progress.shot is not None:
        return progress.shot
    try:
        return agent.computer.screenshot()
    except Exception:  # the display is gone: the trace ends without it, and says nothing false
        return None


def _steps(task: str, agent: Agent, shot: Screenshot, capture_ms: float, progress: _Progress) -> RunResult:
    """The loop proper; `progress` tracks the finished steps and the last screen for the caller."""
    limits, history, control = agent.settings.loop, [], agent.control
    watch = StuckWatch.for_policy(agent.settings.safety.stuck, agent.policy)
    seen = control.epoch
    result, index = RunResult("max_steps", f"reached the step limit ({limits.max_steps})", 0), 0
    while index < limits.max_steps:
        if (brake := control.before_step()) is not None:  # waits out a takeover; stop, time limit
            result = RunResult(brake[0], brake[1], index)
            break
        if control.epoch != seen:  # a person took over since the last look: look again
            (shot, capture_ms), seen = _look(agent), control.epoch
        timings = {"capture": round(capture_ms, 2)}
        try:
            with _timed(timings, "decide"):
                decision = agent.policy.decide(task, shot, history)
        except Exception as exc:  # a model server down after its retries, a failed grounding, ...
            if agent.stop.is_set():
                return RunResult("cancelled", "stopped by the user during the model call", index)
            return RunResult("error", f"the policy failed: {_describe(exc)}", index)
        step, settled = _act(index + 1, decision, shot, agent, timings, seen)
        if step is None:  # overtaken by a takeover: dropped (see the trace event), not a step
            continue
        index = progress.steps = index + 1
        progress.shot = None  # the screen after this step is not known until it is looked at
        step, stuck = watch.after(step, settled)
        agent.trace.step(_line(step, timings, settled, shot.size), shot)
        history.append(step)
        ending = _ending(step, history, agent) or stuck
        if ending is not None:
            progress.shot = settled.shot if settled is not None else None
            result = RunResult(ending[0], ending[1], index, _answer(step))
            break
        # the settled screen is the next observation: no extra capture
        shot, capture_ms = (settled.shot, 0.0) if settled is not None else _look(agent)
        progress.shot = shot
    return result


def _look(agent: Agent) -> tuple[Screenshot, float]:
    t0 = time.perf_counter()
    return agent.computer.screenshot(), (time.perf_counter() - t0) * 1000


def _act(
    index: int, decision: Decision, shot: Screenshot, agent: Agent, timings: dict[str, float], epoch: int
) -> tuple[StepRecord | None, SettleResult | None]:
    """Review and (maybe) execute one decision; return its record (None: overtaken) and the settling."""
    action = decision.action
    if action is None:
        feedback = f"Your last answer could not be used: {decision.error}. Answer with one tool call."
        return StepRecord(index, decision, None, Outcome("invalid", decision.error or ""), feedback), None
    dry_run = agent.settings.safety.dry_run
    with _timed(timings, "gate"):
        verdict = _review(action, shot, agent, ask=not dry_run)
    if verdict.decision == "deny" or (verdict.decision == "confirm" and not dry_run):
        feedback = f"The action was denied by the safety rule '{verdict.rule}': {verdict.reason}. Try another way."
        return StepRecord(index, decision, verdict, Outcome("denied", verdict.reason), feedback), None
    if isinstance(action, Terminate | Answer):
        return StepRecord(index, decision, verdict, Outcome("final")), None
    if dry_run:  # nothing runs, so nobody is asked; the trace says who would have been
        asked = "; it would need confirmation" if verdict.decision == "confirm" else ""
        return StepRecord(index, decision, verdict, Outcome("dry_run", f"not executed (dry run){asked}")), None
    if (hold := agent.control.before_action(action, epoch)) is not None:  # stop, takeover, rate limit
        return _held(index, decision, verdict, hold, agent)
    placement = Placement(shot.monitor, shot.scale, agent.settings.executor.scroll_pixels_per_click)
    try:
        changes = screen_changes(agent.computer, agent.settings.settle)  # None: settle by polling
        if changes is not None:
            changes.arm()  # drawing from here on is this action's (or its hover's)
        with _timed(timings, "hover"):  # point first: a hover highlight is not the action's effect
            hovered = hover_first(action, shot, agent.computer, placement, agent.settings.settle, agent.stop,
                                  changes)
        with _timed(timings, "execute"):
            perform(action, agent.computer, placement, agent.control.sleep)
    except Interrupted as exc:
        return _held(index, decision, verdict, Hold("interrupted", str(exc)), agent)
    except Exception as exc:  # an input call failed: our fault, the run ends with status error
        return StepRecord(index, decision, verdict, Outcome("failed", _describe(exc))), None
    if isinstance(action, Wait) and agent.stop.is_set():  # the wait was cut short: it did not run its course
        return _held(index, decision, verdict, Hold("cancelled", f"cancelled during the {action.time:g} s wait"), agent)
    settled = _settle(hovered or shot, agent, timings, changes)
    feedback = "" if settled is None or settled.changed else "The last action had no visible effect."
    return StepRecord(index, decision, verdict, Outcome("executed"), feedback), settled


def _review(action: Any, shot: Screenshot, agent: Agent, ask: bool = True) -> Verdict:
    """The gate's verdict, a confirm one put to the confirmer (unless `ask` is off: a dry run)."""
    return agent.gate.review(action, shot, agent.confirmer if ask else None)


def _held(index: int, decision: Decision, verdict: Verdict, hold: Hold,
          agent: Agent) -> tuple[StepRecord | None, None]:
    """The record of an allowed action that did not run: stopped, overtaken, over the rate or out of time.

    One overtaken by a takeover (or by the time limit) is dropped, not a step: its trace event keeps its verdict.
    """
    if hold.kind in ("interrupted", "max_time"):
        agent.trace.event(hold.kind, action=action_to_json(decision.action), verdict=verdict.to_json(),
                          detail=hold.reason)
        return None, None
    if hold.kind == "denied":
        denial = Verdict("deny", hold.rule, hold.reason)
        feedback = f"The action was denied by the safety rule '{hold.rule}': {hold.reason}."
        return StepRecord(index, decision, denial, Outcome("denied", hold.reason), feedback), None
    return StepRecord(index, decision, verdict, Outcome("failed", hold.reason)), None


def _settle(before: Screenshot, agent: Agent, timings: dict[str, float],
            changes: ScreenChanges | None = None) -> SettleResult | None:
    cfg = agent.settings.settle
    if cfg.mode == "off":
        return None
    left = agent.control.remaining()
    if left is not None:  # waiting for the screen must not outlast the run's time limit
        ms = int(left * 1000)
        cfg = cfg.model_copy(update={"timeout_ms": min(cfg.timeout_ms, ms), "fixed_ms": min(cfg.fixed_ms, ms)})
    result = settle(agent.computer.screenshot, before, cfg, agent.stop, changes=changes)
    timings["settle"] = round(result.ms, 2)
    return result


def _ending(step: StepRecord, history: list[StepRecord], agent: Agent) -> tuple[Status, str] | None:
    """Whether the run ends after this step, with which status and why."""
    action, outcome, limits = step.decision.action, step.outcome, agent.settings.loop
    if agent.stop.is_set() and outcome.status != "final":
        return "cancelled", outcome.detail if outcome.status == "failed" else "stopped by the user"
    if outcome.status == "final":
        if isinstance(action, Terminate):
            why = step.decision.meta.get("stop_reason")  # e.g. where and why a verified replay diverged
            status: Status = "success" if action.status == "success" else "failure"
            return status, f"terminate: {action.status}" + (f" — {why}" if why else "")
        return "success", "answered"
    if outcome.status == "failed":
        cancelled = agent.stop.is_set()
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


def _line(step: StepRecord, timings: dict[str, float], settled: SettleResult | None,
          size: tuple[int, int]) -> StepLine:
    d = step.decision
    effect = None if settled is None else Effect(settled.changed, settled.changed_box, settled.stable, settled.frames)
    return StepLine(
        index=step.index, action=action_to_json(d.action) if d.action is not None else None,
        outcome=OutcomeLine(step.outcome.status, step.outcome.detail),
        verdict=step.verdict,
        feedback=step.feedback, timings_ms=timings, effect=effect, raw_text=d.raw_text,
        normalized=normalized_points(d.action, size) if d.action is not None and points_of(d.action) else None,
        error=d.error or None, policy=d.meta or {})


def _geometry(shot: Screenshot) -> Screen:
    return Screen(shot.size[0], shot.size[1], shot.scale, shot.monitor.to_json())


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
