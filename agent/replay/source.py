"""What `deskpilot replay PATH` plays: a task script file, or the actions of a recorded trace.

From a trace, the steps that were carried out (executed, or skipped only by a dry run) are
replayed, ending with the recorded final action; denied, invalid and failed steps are not.
Not for: verifying the screen during replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agent.traces.store import TRACE_FILE, TraceError, read_trace
from policies.scripted.policy import ScriptedPolicy
from policies.scripted.script_file import load_script, parse_var


def load_replay(path: str | Path, var_args: Sequence[str] = ()) -> tuple[str, ScriptedPolicy]:
    """Return the task text and a scripted policy for a script file or a trace directory."""
    path = Path(path)
    if path.is_dir() or path.name == TRACE_FILE:
        if var_args:
            raise TraceError(f"{path}: --var applies to task scripts, not to traces")
        return _from_trace(path)
    if not path.exists():
        raise TraceError(f"{path}: no such file or directory")
    script = load_script(path, dict(parse_var(v) for v in var_args))
    return script.task, ScriptedPolicy(script.steps, source=str(path))


def _from_trace(path: Path) -> tuple[str, ScriptedPolicy]:
    trace = read_trace(path)
    steps = [action for _, action in trace.replayed()]
    return trace.header.task, ScriptedPolicy(steps, source=str(path))
