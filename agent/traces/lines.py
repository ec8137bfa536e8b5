"""The lines of a trace as typed, frozen values: `Header`, `StepLine`, `EventLine`, `EndLine`.

A trace (`trace.jsonl`) is one header line, then step and event lines, then an end line. Every
writer builds these values and every reader gets them back: `to_json()` is the line as written,
`from_json(obj)` checks one parsed line and raises `LineError` with a one-line reason naming the
field (`read_trace` adds the file and line number). Unknown fields are kept in `extra` and written
back, so a newer writer's additions pass through older code.

Schema versions: 1 (before typed lines) and 2 (this module; adds the end line's `screenshot`, the
screen after the last step). Version 1 traces read as version 2 ones without that screenshot. The
README's "Trace format" section documents the fields.
Not for: files and threads (agent.traces.store) or what a step means (the loop decides).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from actions.errors import DeskpilotError
from actions.gate import ConfirmOutcome, Verdict
from actions.gate import Decision as GateDecision
from actions.schema import Action
from policies.base import Decision, OutcomeStatus, StepRecord
from policies.base import Outcome as PolicyOutcome

SCHEMA = "deskpilot.trace"
VERSION = 2
READABLE_VERSIONS = (1, 2)
# What replay plays: steps whose action ran (or, in a dry run, would have run), and the final one.
REPLAYED = frozenset({"executed", "dry_run", "final"})
_EMPTY: Mapping[str, Any] = {}


class LineError(DeskpilotError, ValueError):
    """A trace line that is not the shape its type says; the message is one line."""


@dataclass(frozen=True)
class Screen:
    """The captured monitor: its size in pixels, where it sits in the desktop, the HiDPI scale."""

    width: int
    height: int
    scale: float = 1.0
    monitor: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"monitor": dict(self.monitor), "scale": self.scale, "width": self.width, "height": self.height}

    @classmethod
    def from_json(cls, obj: Any, where: str = "screen") -> Screen:
        r = _Reader(obj, where)
        return cls(round(r.number("width", 0.0)), round(r.number("height", 0.0)), r.number("scale", 1.0),
                   r.obj("monitor") or {})


@dataclass(frozen=True)
class Header:
    """The first line: what was asked, by which policy, on which screen, from where."""

    task: str
    policy: str
    screen: Screen | None = None
    source: str | None = None  # a script or trace path; "record" for a person's recording
    model: Mapping[str, Any] | str | None = None  # what the model side was (never the API key); free-form
    replay: Mapping[str, Any] | None = None  # replay options: verify, reground, ...
    config: Mapping[str, Any] | None = None  # the settings summary
    daemon_task: str | None = None
    version: int = VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "header", "schema": SCHEMA, "version": self.version, "task": self.task,
                               "policy": self.policy}
        if self.screen is not None:
            out["screen"] = self.screen.to_json()
        for name in ("source", "model", "replay", "config", "daemon_task"):
            if (value := getattr(self, name)) is not None:
                out[name] = value
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, obj: Any) -> Header:
        r = _Reader(obj, "")
        if r.get("schema") != SCHEMA:
            raise LineError("no deskpilot trace header on the first line")
        version = r.int("version", 1)
        if version not in READABLE_VERSIONS:
            raise LineError(f"trace schema version {version} is newer than this deskpilot reads "
                            f"({', '.join(map(str, READABLE_VERSIONS))})")
        screen = r.obj("screen")
        return cls(task=r.str("task") or "", policy=r.str("policy") or "",
                   screen=None if screen is None else Screen.from_json(screen),
                   source=r.str("source"), model=r.get("model"), replay=r.obj("replay"), config=r.obj("config"),
                   daemon_task=r.str("daemon_task"), version=version,
                   extra=r.rest("type", "schema", "version", "task", "policy", "screen", "source", "model",
                                "replay", "config", "daemon_task"))


@dataclass(frozen=True)
class Origin:
    """What the caller of a run tells the header beside the task: where it came from, the model, replay
    options, the settings summary, the daemon's task id. `extra` holds fields a newer caller adds."""

    source: str | None = None
    model: Mapping[str, Any] | str | None = None
    replay: Mapping[str, Any] | None = None
    config: Mapping[str, Any] | None = None
    daemon_task: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def header(self, task: str, policy: str, screen: Screen | None) -> Header:
        return Header(task=task, policy=policy, screen=screen, source=self.source, model=self.model,
                      replay=self.replay, config=self.config, daemon_task=self.daemon_task, extra=self.extra)

    def with_(self, **changes: Any) -> Origin:
        return dataclasses.replace(self, **changes)


def verdict_from_json(obj: Any, where: str = "verdict") -> Verdict:
    """The gate's own `Verdict` back from its JSON form (a decision the gate never gives is refused)."""
    r = _Reader(obj, where)
    decision, confirmation = r.str("decision"), r.str("confirmation")
    if decision not in get_args(GateDecision):
        raise LineError(f"`{where}.decision` must be one of {', '.join(get_args(GateDecision))}")
    if confirmation is not None and confirmation not in get_args(ConfirmOutcome):
        raise LineError(f"`{where}.confirmation` must be one of {', '.join(get_args(ConfirmOutcome))}")
    return Verdict(decision, r.str("rule") or "", r.str("reason") or "", confirmation)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail}

    @classmethod
    def from_json(cls, obj: Any, where: str = "outcome") -> Outcome:
        r = _Reader(obj, where)
        return cls(r.str("status") or "", r.str("detail") or "")


@dataclass(frozen=True)
class Effect:
    """What settling saw after the action: whether and where the screen changed."""

    changed: bool
    box: tuple[int, int, int, int] | None = None
    stable: bool = True
    frames: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"changed": self.changed, "box": list(self.box) if self.box else None, "stable": self.stable,
                "frames": self.frames}

    @classmethod
    def from_json(cls, obj: Any, where: str = "effect") -> Effect:
        r = _Reader(obj, where)
        box = r.get("box")
        if box is not None and not (isinstance(box, list) and len(box) == 4
                                    and all(isinstance(v, int) and not isinstance(v, bool) for v in box)):
            raise LineError(f"`{where}.box` must be four integers or null")
        return cls(bool(r.get("changed")), tuple(box) if box else None, bool(r.get("stable", True)),
                   r.int("frames", 0))


@dataclass(frozen=True)
class StepLine:
    """One step: the action (its JSON form, as `actions.schema` reads it), the verdict, what happened."""

    index: int
    action: Mapping[str, Any] | None
    outcome: Outcome
    verdict: Verdict | None = None
    feedback: str = ""
    timings_ms: Mapping[str, Any] = field(default_factory=dict)
    effect: Effect | None = None
    raw_text: str | None = None
    normalized: Any = None  # the action's points on a 0-1 grid (export); absent for pointless actions
    error: str | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)  # the policy's notes: verify, target, stop_reason
    screenshot: str | None = None  # the screen the step was decided on (file name in the trace directory)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def action_name(self) -> str:
        return str((self.action or {}).get("action", ""))

    @property
    def replayed(self) -> bool:
        """Whether replay plays this step (its action ran, or would have in a dry run)."""
        return self.action is not None and self.outcome.status in REPLAYED

    @property
    def verify(self) -> Mapping[str, Any]:
        check = self.policy.get("verify")
        return check if isinstance(check, Mapping) else _EMPTY

    @property
    def target(self) -> str | None:
        target = self.policy.get("target")
        return target.strip() if isinstance(target, str) and target.strip() else None

    @property
    def stop_reason(self) -> str | None:
        reason = self.policy.get("stop_reason")
        return reason if isinstance(reason, str) and reason else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "step", "index": self.index, "action": None if self.action is None else dict(self.action),
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "outcome": self.outcome.to_json(), "feedback": self.feedback, "timings_ms": dict(self.timings_ms),
            "effect": None if self.effect is None else self.effect.to_json(), "raw_text": self.raw_text,
        }
        if self.normalized is not None:
            out["normalized"] = self.normalized
        if self.error:
            out["error"] = self.error
        if self.policy:
            out["policy"] = dict(self.policy)
        return {**out, "screenshot": self.screenshot, **self.extra}

    @classmethod
    def from_json(cls, obj: Any) -> StepLine:
        r = _Reader(obj, "")
        if "index" not in obj:
            raise LineError("a step line needs `index`")
        action, verdict, effect, policy = r.obj("action"), r.obj("verdict"), r.obj("effect"), r.obj("policy")
        if action is not None and not isinstance(action.get("action"), str):
            raise LineError("`action.action` must be a string")
        if policy is not None:
            _check_policy_notes(policy)
        timings = r.obj("timings_ms") or {}  # phase → ms; a reader formats what is not a number as text
        return cls(
            index=r.int("index"), action=action, outcome=Outcome.from_json(r.obj("outcome") or {}),
            verdict=None if verdict is None else verdict_from_json(verdict), feedback=r.str("feedback") or "",
            timings_ms=timings, effect=None if effect is None else Effect.from_json(effect),
            raw_text=r.str("raw_text"), normalized=r.get("normalized"), error=r.str("error"), policy=policy or {},
            screenshot=r.file_name("screenshot"),
            extra=r.rest("type", "index", "action", "verdict", "outcome", "feedback", "timings_ms", "effect",
                         "raw_text", "normalized", "error", "policy", "screenshot"))

    def history_record(self, action: Action | None) -> StepRecord:
        """The step as a policy's history holds it (export rebuilds the prompts a model saw)."""
        status = self.outcome.status
        known: OutcomeStatus = status if status in get_args(OutcomeStatus) else "executed"  # type: ignore[assignment]
        decision = Decision(action=action, raw_text=self.raw_text, error=self.error)
        return StepRecord(self.index, decision, None, PolicyOutcome(known, self.outcome.detail), self.feedback)

    def with_timing(self, phase: str, ms: float) -> StepLine:
        return dataclasses.replace(self, timings_ms={**self.timings_ms, phase: ms})


@dataclass(frozen=True)
class EventLine:
    """Something between steps: paused, resumed, kill, interrupted, max_time, confirm, ..."""

    event: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": "event", "event": self.event, **self.fields}

    @classmethod
    def from_json(cls, obj: Any) -> EventLine:
        r = _Reader(obj, "")
        event = r.str("event")
        if not event:
            raise LineError("an event line needs `event`")
        return cls(event, r.rest("type", "event"))


@dataclass(frozen=True)
class EndLine:
    """The last line: how the run ended and the screen after its last step (`screenshot`)."""

    status: str
    reason: str = ""
    steps: int = 0
    answer: str | None = None
    t: float | None = None  # wall-clock time (epoch seconds) the run ended
    screenshot: str | None = None
    screenshot_errors: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "end", "status": self.status, "reason": self.reason, "steps": self.steps,
                               "answer": self.answer}
        if self.t is not None:
            out["t"] = self.t
        if self.screenshot is not None:
            out["screenshot"] = self.screenshot
        if self.screenshot_errors:
            out["screenshot_errors"] = list(self.screenshot_errors)
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, obj: Any) -> EndLine:
        r = _Reader(obj, "")
        errors = r.get("screenshot_errors") or []
        if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
            raise LineError("`screenshot_errors` must be a list of strings")
        return cls(status=r.str("status") or "", reason=r.str("reason") or "", steps=r.int("steps", 0),
                   answer=r.str("answer"), t=r.number_or_none("t"), screenshot=r.file_name("screenshot"),
                   screenshot_errors=tuple(errors),
                   extra=r.rest("type", "status", "reason", "steps", "answer", "t", "screenshot",
                                "screenshot_errors"))


Line = Header | StepLine | EventLine | EndLine
_KINDS: dict[str, Any] = {"header": Header, "step": StepLine, "event": EventLine, "end": EndLine}


def line_from_json(obj: Any) -> Line | None:
    """One parsed line as its typed value; None for a line type this version does not know (skipped)."""
    if not isinstance(obj, dict):
        raise LineError(f"expected a JSON object, got {_kind(obj)}")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise LineError(f"`type` must be a string, not {_kind(kind)}")
    cls = _KINDS.get(kind)
    return None if cls is None else cls.from_json(obj)


def _check_policy_notes(policy: Mapping[str, Any]) -> None:
    r = _Reader(policy, "policy.")
    r.str("stop_reason"), r.str("target")
    if (check := r.obj("verify")) is not None:
        v = _Reader(check, "policy.verify.")
        v.str("result"), v.str("note")


class _Reader:
    """Typed field access on one JSON object; a wrong type is a `LineError` naming the field."""

    def __init__(self, obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            raise LineError(f"`{where.rstrip('.') or 'line'}` must be an object, not {_kind(obj)}")
        self.obj_, self.prefix = obj, where if not where or where.endswith(".") else where + "."

    def get(self, name: str, default: Any = None) -> Any:
        return self.obj_.get(name, default)

    def _fail(self, name: str, wanted: str, value: Any) -> LineError:
        return LineError(f"`{self.prefix}{name}` must be {wanted}, not {_kind(value)}")

    def str(self, name: str) -> str | None:
        value = self.obj_.get(name)
        if value is not None and not isinstance(value, str):
            raise self._fail(name, "a string or null", value)
        return value

    def int(self, name: str, default: int | None = None) -> int:
        value = self.obj_.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool):
            if name not in self.obj_ and default is None:
                raise LineError(f"a line needs `{self.prefix}{name}`")
            raise self._fail(name, "an integer", value)
        return value

    def int_or_none(self, name: str) -> int | None:
        return None if self.obj_.get(name) is None else self.int(name)

    def number(self, name: str, default: float) -> float:
        value = self.obj_.get(name, default)
        if value is None:
            return default
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._fail(name, "a number", value)
        try:  # json reads Infinity, NaN and 1e400; a reader rounding them (a screen's size) would crash
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            number = math.inf
        if not math.isfinite(number):
            raise LineError(f"`{self.prefix}{name}` must be a finite number, not {value!r:.40}")
        return number

    def number_or_none(self, name: str) -> float | None:
        return None if self.obj_.get(name) is None else self.number(name, 0.0)

    def file_name(self, name: str) -> str | None:
        """A file of the trace directory, named as the writer names them (`step-0001.png`): a path that
        leads elsewhere (`/dev/zero`, `../other/x.png`) would make the readers open files outside it."""
        value = self.str(name)
        if value and (value in (".", "..") or "/" in value or "\0" in value):  # "": none, as null
            raise LineError(f"`{self.prefix}{name}` must be a file name in the trace directory, not {value!r:.80}")
        return value

    def obj(self, name: str) -> dict[str, Any] | None:
        value = self.obj_.get(name)
        if value is not None and not isinstance(value, dict):
            raise self._fail(name, "an object or null", value)
        return value

    def rest(self, *known: str) -> dict[str, Any]:
        return {k: v for k, v in self.obj_.items() if k not in known}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)
