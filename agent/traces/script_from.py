"""`deskpilot script-from TRACE`: a trace (recorded or run) as a task script, with literals as `{{vars}}`.

The script holds the steps a replay of the trace would play (`agent.traces.lines.REPLAYED`), in screen
coordinates, one flow-style line per step; a trailing `terminate success` is left out because a
script ends with it anyway. Each `--var name=literal` replaces that literal in every typed text with
`{{name}}` and puts the literal under `vars` as the default, so `deskpilot replay task.yaml --var
name=other` types something else. A literal that was never typed is an error, as is typed text that
already looks like a placeholder (a script would read it as one).
Not for: running the script (policies.scripted.script_file and the scripted policy do).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from actions.schema import Terminate, Type, action_to_json
from agent.traces.store import Trace, TraceError
from policies.scripted.script_file import ScriptError, parse_var

_PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}")


def script_from_trace(trace: Trace, var_args: Sequence[str] = ()) -> str:
    """The YAML text of a task script that replays `trace`."""
    variables = dict(parse_var(v) for v in var_args)
    steps = _replayed_steps(trace)
    for name, literal in variables.items():
        if not literal:
            raise ScriptError(f"--var {name}=: the literal must not be empty")
        if not any(step.get("action") == "type" and literal in step["text"] for step in steps):
            raise ScriptError(f"--var {name}={literal}: {literal!r} was never typed in {trace.dir}")
    steps = [_with_vars(step, variables) for step in steps]
    return _yaml(trace.header.task, variables, steps, f"from the trace {trace.dir}")


def _replayed_steps(trace: Trace) -> list[dict[str, Any]]:
    out = []
    for step, action in trace.replayed():
        if isinstance(action, Type) and _PLACEHOLDER.search(action.text):
            raise ScriptError(f"{trace.dir}: step {step.index} typed {action.text!r}, which a task script "
                              "would read as a {{placeholder}}")
        out.append(action_to_json(action))
    if out and out[-1] == action_to_json(Terminate(status="success")):
        out.pop()
    if not out:
        raise TraceError(f"{trace.dir}: the trace has no replayable steps")
    return out


def _with_vars(step: dict[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    if step.get("action") != "type":
        return step
    text = step["text"]
    for name, literal in sorted(variables.items(), key=lambda item: -len(item[1])):  # longest literal first
        text = text.replace(literal, "{{" + name + "}}")
    return {**step, "text": text}


def _yaml(task: str, variables: Mapping[str, str], steps: list[dict[str, Any]], origin: str) -> str:
    import yaml

    def dump(value: Any, flow: bool = True) -> str:
        return yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True, sort_keys=False,
                              width=10_000).strip().removesuffix("...").strip()

    lines = [f"# Task script made by `deskpilot script-from` {origin}.", f"task: {dump(task)}"]
    if variables:
        lines.append("vars:")
        lines += [f"  {name}: {dump(value)}" for name, value in variables.items()]
    lines.append("steps:")
    lines += [f"  - {dump(step)}" for step in steps]
    return "\n".join(lines) + "\n"
