"""The scripted policy: plays a fixed list of actions (a task script or a recorded trace).

It goes through the same loop as a model policy, so the gate, the executor and the trace are
exercised exactly as in a model run. Its position is derived from the history length, so it holds
no hidden state. After the last step it ends the run with `terminate success`.
"""

from __future__ import annotations

from collections.abc import Sequence

from actions.geometry import Screenshot
from actions.schema import Action, Terminate
from policies.base import Decision, StepRecord


class ScriptedPolicy:
    name = "scripted"
    scripted = True

    def __init__(self, steps: Sequence[Action], source: str = "") -> None:
        self.steps = tuple(steps)
        self.source = source

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        index = len(history)
        if index < len(self.steps):
            return Decision(action=self.steps[index], meta={"script_step": index + 1})
        return Decision(action=Terminate(status="success"), meta={"script_step": None})
