"""The shape of a trace's lines, checked once as `agent.traces.store.read_trace` reads them.

The readers (report, export, replay, script-from) use a handful of fields of each line. This module
checks that each line is a JSON object, that its `type` is a string, and that the fields the readers
use have the types they expect where present (a nested object may be null or missing), so that no
reader meets a list where it expects an object. Unknown fields and unknown line types pass: newer
writers may add them. `problem` returns a one-line reason; `read_trace` adds the file and line number.
Not for: reading files (agent.traces.store), or checking that an action is one the schema accepts (replay
and export parse each action with `actions.schema` and say which step is wrong).
"""

from __future__ import annotations

from typing import Any

_NONE = type(None)
_STR = (str, _NONE)
_NUMBER = (int, float, _NONE)
_OBJECT: dict[str, Any] = {}  # an object (or null), its fields unchecked
# field → the types it may have (None: null), or a nested spec: an object (or null) with those fields.
_HEADER: dict[str, Any] = {
    "schema": (str,),
    "task": _STR,
    "screen": {"width": _NUMBER, "height": _NUMBER, "scale": _NUMBER, "monitor": _OBJECT},
    "replay": _OBJECT,
}
_STEP: dict[str, Any] = {
    "index": (int,),
    "action": {"action": (str,), "pixels": _NUMBER},
    "verdict": _OBJECT,
    "outcome": {"status": _STR, "detail": _STR},
    "policy": {"verify": {"result": _STR, "note": _STR}, "stop_reason": _STR, "target": (str, _NONE)},
    "raw_text": _STR,
    "error": _STR,
    "feedback": _STR,
    "timings_ms": _OBJECT,
    "screenshot": _STR,
}
_END: dict[str, Any] = {"status": _STR}
_EVENT: dict[str, Any] = {"event": (str,)}
SPECS = {"header": _HEADER, "step": _STEP, "end": _END, "event": _EVENT}
REQUIRED = {"header": ("schema",), "step": ("index",), "event": ("event",)}


def problem(record: Any) -> str:
    """Why one parsed line of a trace cannot be used by the readers; "" when it can."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {_kind(record)}"
    kind = record.get("type")
    if not isinstance(kind, str):
        return f"`type` must be a string, not {_kind(kind)}"
    missing = [name for name in REQUIRED.get(kind, ()) if name not in record]
    if missing:
        return f"a {kind} line needs `{missing[0]}`"
    return _fields(record, SPECS.get(kind, {}), "")


def _fields(obj: dict[str, Any], spec: dict[str, Any], prefix: str) -> str:
    for name, allowed in spec.items():
        if name not in obj:
            continue
        value, where = obj[name], prefix + name
        if isinstance(allowed, dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                return f"`{where}` must be an object or null, not {_kind(value)}"
            found = _fields(value, allowed, where + ".")
            if found:
                return found
        elif (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            return f"`{where}` must be {_names(allowed)}, not {_kind(value)}"
    return ""


def _names(allowed: tuple[type, ...]) -> str:
    words = {str: "a string", int: "an integer", float: "a number", _NONE: "null"}
    names = list(dict.fromkeys(words[t] for t in allowed if not (t is int and float in allowed)))
    return " or ".join(names)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)
