"""Task scripts: YAML or JSON files of steps in the action vocabulary, with `{{var}}` placeholders.

```yaml
task: Say hello            # optional
vars: {name: World}        # optional defaults, overridden by --var name=value
steps:
  - {action: left_click, coordinate: [120, 80]}
  - {action: type, text: "Hello {{name}}"}
  - {action: left_click, target: "the Save button"}   # grounded by the model at run time
```
A script is checked whole before anything runs: every placeholder must have a value, every
step must be a valid action, and every variable given (`--var`) must be one the script has (in
`vars` or a placeholder: a typo such as `--var nmae=Foo` is an error listing them); otherwise
`ScriptError` names the file, the step and the reason.
Not for: running the steps (the scripted policy and the loop do).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actions.errors import DeskpilotError
from actions.files import MiB, check_expansion, read_input_text
from actions.schema import Action, ActionError, parse_action
from policies.grounding import TARGET_KEY, Targeted

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_TOP_KEYS = {"task", "vars", "steps"}
MAX_SCRIPT_BYTES = 16 * MiB  # a script of loop.max_steps (10 000) steps is well under 1 MiB
MAX_SCRIPT_VALUES = 1_000_000  # values once YAML aliases are expanded: 10 000 steps of a few dozen each
Step = Action | Targeted  # a Targeted step names what to click; a grounder finds where at run time


class ScriptError(DeskpilotError, ValueError):
    """A task script that cannot run; the message is one line naming file, step and reason."""


@dataclass(frozen=True)
class TaskScript:
    path: str
    task: str
    steps: tuple[Step, ...]


def load_script(path: str | Path, overrides: Mapping[str, str] | None = None, known_only: bool = True) -> TaskScript:
    """Read, fill and validate a task script; raise ScriptError on any problem.

    `known_only`: an override naming no variable of the script is an error (off for callers that
    offer many values, of which a script uses some: the demo's widget centres)."""
    path = Path(path)
    data = _read(path)
    if not isinstance(data, dict):
        raise ScriptError(f"{path}: a task script must be a mapping with a 'steps' list")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScriptError(f"{path}: unknown top-level key {sorted(unknown)[0]!r} (allowed: task, vars, steps)")
    values = _vars(path, data.get("vars"), overrides or {})
    if known_only:
        _known(path, data, overrides or {})
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ScriptError(f"{path}: 'steps' must be a non-empty list")
    task = data.get("task", "")
    if not isinstance(task, str):
        raise ScriptError(f"{path}: 'task' must be a string")
    actions = tuple(_step(path, i, step, values) for i, step in enumerate(steps, start=1))
    return TaskScript(path=str(path), task=_fill(task, values, f"{path}: task"), steps=actions)


def _read(path: Path) -> Any:
    try:  # bounded: a FIFO or /dev/zero named as the script is refused, not read (actions.files)
        text = read_input_text(path, MAX_SCRIPT_BYTES)
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScriptError(f"{path}: not UTF-8 text") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml and json raise several types; all mean "not parseable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise ScriptError(f"{path}: not valid {kind}: {first}") from None
    try:  # the checks below walk the whole tree: YAML aliases must not multiply it (a "billion laughs")
        check_expansion(data, MAX_SCRIPT_VALUES)
    except ValueError as exc:
        raise ScriptError(f"{path}: not a task script: {exc}") from None
    return data


def _vars(path: Path, defaults: Any, overrides: Mapping[str, str]) -> dict[str, str]:
    if defaults is None:
        defaults = {}
    if not isinstance(defaults, dict):
        raise ScriptError(f"{path}: 'vars' must be a mapping of names to values")
    values = {str(k): str(v) for k, v in defaults.items()}
    values.update(overrides)
    return values


def _known(path: Path, data: dict[str, Any], overrides: Mapping[str, str]) -> None:
    defaults = data.get("vars") or {}
    names = {str(k) for k in defaults} | set(_PLACEHOLDER.findall(json.dumps(data, default=str)))
    unknown = sorted(set(overrides) - names)
    if unknown:
        have = ", ".join(sorted(names)) if names else "none"
        raise ScriptError(f"{path}: --var {unknown[0]}: the script has no variable {unknown[0]!r} (its variables: "
                          f"{have})")


def _step(path: Path, index: int, step: Any, values: Mapping[str, str]) -> Step:
    where = f"{path}: step {index}"
    if not isinstance(step, dict):
        raise ScriptError(f"{where}: a step must be a mapping like {{action: left_click, coordinate: [x, y]}}")
    filled = _fill_tree(step, values, where)
    try:
        return Targeted.from_step(filled) if TARGET_KEY in filled else parse_action(filled)
    except ActionError as exc:
        raise ScriptError(f"{where}: {exc}") from None


def _fill_tree(node: Any, values: Mapping[str, str], where: str) -> Any:
    if isinstance(node, str):
        return _fill(node, values, where)
    if isinstance(node, list):
        return [_fill_tree(item, values, where) for item in node]
    if isinstance(node, dict):
        return {key: _fill_tree(value, values, where) for key, value in node.items()}
    return node


def _fill(text: str, values: Mapping[str, str], where: str) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ScriptError(f"{where}: missing variable {name!r} (give it in 'vars' or with --var {name}=...)")
        return values[name]

    return _PLACEHOLDER.sub(sub, text)


def parse_var(text: str) -> tuple[str, str]:
    """Parse a `--var NAME=VALUE` argument."""
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ScriptError(f"--var {text!r}: expected NAME=VALUE with NAME a plain identifier")
    return name, value
