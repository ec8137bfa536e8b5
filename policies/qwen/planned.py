"""Planner + grounder: one model chooses the next action and names its target; another finds the target.

`PlannedPolicy.decide` asks the planner (any agent dialect, in-process or behind a server) for the
next action; when that action points somewhere, the planner's own words for the target — Qwen3-VL's
"Action:" line, UI-TARS's thought, the thought before a Qwen2.5-VL call (`Dialect.target_words`) —
go to the grounder (any dialect, also a grounding specialist), whose point replaces the planner's.
A planner answer that names no target keeps its own point (said in the trace meta). Both calls are
in the Decision's meta: `planner` (the planner's point and tokens) and `grounder` (target words, raw
text, timings, tokens, point). With `zoom`, the grounder grounds again on a crop around its first
point, scaled up to its pixel budget, and the second point is mapped back through the crop (`zoom`).
One model can fill both roles (the same backend, two dialect roles).
Not for: loading models (agent.run.policy_factory) or executing anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from actions.geometry import Point, Screenshot
from actions.schema import with_points
from policies.base import Decision, StepRecord
from policies.grounding import GroundingError
from policies.qwen.policy import QwenPolicy
from policies.qwen.zoom import ZoomOptions, ground_zoomed


class PlannedPolicy:
    name = "qwen+grounder"
    scripted = False

    def __init__(self, planner: QwenPolicy, grounder: QwenPolicy, zoom: ZoomOptions | None = None) -> None:
        self.planner, self.grounder, self.zoom = planner, grounder, zoom

    @property
    def interrupt_event(self) -> threading.Event | None:
        return self.planner.interrupt_event

    @interrupt_event.setter
    def interrupt_event(self, event: threading.Event | None) -> None:
        self.planner.interrupt_event = event
        self.grounder.interrupt_event = event

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        decision = self.planner.decide(task, shot, history)
        point = getattr(decision.action, "coordinate", None)
        if decision.action is None or point is None:
            return decision
        words = self.planner.dialect.target_words(decision.raw_text or "")
        if not words:
            return _with(decision, grounder={"skipped": "the planner named no target; its own point is used"})
        started = time.perf_counter()
        try:
            grounded, calls = self.ground_with_calls(words, shot)
        except GroundingError as exc:
            meta = {**decision.meta, "grounder": {"target": words, "error": str(exc)}}
            return Decision(None, decision.raw_text, f"the grounder could not find the target: {exc}", meta)
        action = with_points(decision.action, lambda p: grounded if p == point else p)
        record = {"target": words, "point": list(grounded), "calls": calls,
                  "ms": round((time.perf_counter() - started) * 1000, 2)}
        meta = {**decision.meta, "planner": {"point": list(point)}, "grounder": record}
        return Decision(action, decision.raw_text, decision.error, meta)

    def ground(self, target: str, shot: Screenshot) -> Point:
        return self.ground_with_calls(target, shot)[0]

    def ground_example(self, target: str, example: Any, shot: Screenshot) -> Point:
        """Replay's re-grounding with the recorded crop shown too (the grounder's own; no zoom)."""
        return self.grounder.ground_example(target, example, shot)

    def ground_with_calls(self, target: str, shot: Screenshot) -> tuple[Point, list[dict[str, Any]]]:
        """The grounder's point for `target` (zoomed when configured) and what each of its calls said."""
        calls: list[dict[str, Any]] = []

        def once(words: str, screen: Screenshot) -> Point:
            found = self.grounder.ground(words, screen)
            reply, frame = self.grounder.last_grounding or (None, None)
            if reply is not None:
                calls.append({"raw_text": reply.text, "timings_ms": reply.timings_ms, "model": list(frame.model),
                              "tokens": {"prompt": reply.prompt_tokens, "completion": reply.completion_tokens}})
            return found

        if self.zoom is None:
            return once(target, shot), calls
        return ground_zoomed(once, target, shot, self.zoom, self.grounder.options.max_pixels), calls

    def close(self) -> None:
        self.planner.close()
        if self.grounder.backend is not self.planner.backend:
            self.grounder.close()


def _with(decision: Decision, **meta: Any) -> Decision:
    return Decision(decision.action, decision.raw_text, decision.error, {**decision.meta, **meta})
