"""The scripted policy: plays a fixed list of actions (a task script or a recorded trace).

It goes through the same loop as a model policy, so the gate, the executor and the trace are
exercised exactly as in a model run. Its position is derived from the history length, so it holds
no hidden state. After the last step it ends the run with `terminate success`.
A step that names a target (`policies.grounding.Targeted`) is grounded on the current screenshot
by the `grounder` (the model policy); the point goes into the Decision's meta. A script with
targets and no grounder raises ScriptError before its first step.
"""

from __future__ import annotations

from collections.abc import Sequence

from actions.geometry import Screenshot
from actions.schema import Action, ActionError, Terminate
from policies.base import Decision, StepRecord
from policies.grounding import Grounder, GroundingError, Targeted
from policies.scripted.script_file import ScriptError


class ScriptedPolicy:
    name = "scripted"
    scripted = True

    def __init__(self, steps: Sequence[Action | Targeted], source: str = "", grounder: Grounder | None = None) -> None:
        self.steps = tuple(steps)
        self.source = source
        self.grounder = grounder

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets the script names, in step order (empty when it needs no grounder)."""
        return tuple(step.target for step in self.steps if isinstance(step, Targeted))

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        index = len(history)
        if index == 0 and self.targets and self.grounder is None:
            raise ScriptError(f"{self.source or 'the script'}: it names targets ({self.targets[0]!r}, ...) but no "
                              "model is configured to find them on the screen")
        if index < len(self.steps):
            step = self.steps[index]
            if isinstance(step, Targeted):
                return self._grounded(step, index + 1, shot)
            return Decision(action=step, meta={"script_step": index + 1})
        return Decision(action=Terminate(status="success"), meta={"script_step": None})

    def with_grounder(self, grounder: Grounder) -> ScriptedPolicy:
        """The same script, with targets grounded by `grounder`."""
        return ScriptedPolicy(self.steps, self.source, grounder)

    def _grounded(self, step: Targeted, number: int, shot: Screenshot) -> Decision:
        meta = {"script_step": number, "target": step.target}
        assert self.grounder is not None
        try:
            point = self.grounder.ground(step.target, shot)
            action = step.resolve(point)
        except (GroundingError, ActionError) as exc:
            return Decision(action=None, error=f"step {number}: {exc}", meta=meta)
        return Decision(action=action, meta={**meta, "grounded": list(point)})
