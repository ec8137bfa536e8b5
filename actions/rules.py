"""Gate rules on keys, places and windows: hotkey lists, protected regions, Enter into a terminal,
and an allow-list of applications. (Typed text: `actions.textrules`; off-screen points and the
gate itself: `actions.gate`.)

Each rule is built from plain values (the agent maps config onto them) and returns a `Verdict`
or None. A rule whose verdict is "allow" never objects (that is how config switches one off).
Window-aware rules ask a `WindowSource`; when it raises, the gate denies (fails closed).
Not for: deciding what the person is asked (the confirmer) or what a mode does (`gate.apply_mode`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from actions.gate import Decision, Verdict
from actions.geometry import Point, Screenshot, from_desktop, to_desktop
from actions.keys import canonical_key
from actions.lineedit import submits
from actions.schema import Action, Answer, Click, Key, LeftClickDrag, Terminate, Type, Wait, points_of
from actions.window import WindowInfo, WindowSource

Combo = frozenset[str]
NO_INPUT = Wait | Terminate | Answer  # actions that send nothing to the desktop


def parse_combo(text: str) -> Combo:
    """'ctrl+alt+Delete' → {'ctrl', 'alt', 'delete'}; order and spelling do not matter."""
    parts = [p.strip() for p in text.split("+")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(f"bad key combination {text!r}: use names joined by '+', like ctrl+alt+delete")
    return frozenset(canonical_key(p) for p in parts)


def format_combo(combo: Combo) -> str:
    order = {"ctrl": 0, "alt": 1, "shift": 2, "super": 3}
    return "+".join(sorted(combo, key=lambda k: (order.get(k, 9), k)))


class Hotkeys:
    """A `key` action that presses every key of a listed combination (extra keys too) gets `decision`."""

    def __init__(self, name: str, combos: Iterable[str | Combo], decision: Decision) -> None:
        self.name, self.decision = name, decision
        self.combos = tuple(c if isinstance(c, frozenset) else parse_combo(c) for c in combos)

    def check(self, action: Action, shot: Screenshot) -> Verdict | None:
        if not isinstance(action, Key) or self.decision == "allow":
            return None
        pressed = frozenset(action.keys)
        for combo in self.combos:
            if combo <= pressed:
                return Verdict(self.decision, self.name, f"{format_combo(combo)} is on the {self.name} list")
        return None


@dataclass(frozen=True)
class Region:
    """A rectangle of the captured screen, in screen pixels."""

    x: int
    y: int
    width: int
    height: int

    def contains(self, point: Point) -> bool:
        return self.x <= point[0] < self.x + self.width and self.y <= point[1] < self.y + self.height


class ProtectedRegions:
    """Pointer actions that touch a protected region get `decision`.

    A click without a coordinate lands where the pointer is, so the pointer is asked for then.
    """

    name = "protected_region"

    def __init__(self, regions: Sequence[Region], decision: Decision, windows: WindowSource) -> None:
        self.regions, self.decision, self.windows = tuple(regions), decision, windows

    def check(self, action: Action, shot: Screenshot) -> Verdict | None:
        if not self.regions or self.decision == "allow" or isinstance(action, Type | Key | NO_INPUT):
            return None
        points = list(points_of(action))
        if not points or (isinstance(action, LeftClickDrag) and action.start_coordinate is None):
            points.append(from_desktop(self.windows.pointer(), shot.monitor, shot.scale))
        for point in points:
            for r in self.regions:
                if r.contains(point):
                    return Verdict(self.decision, self.name, f"{list(point)} is inside {[r.x, r.y, r.width, r.height]}")
        return None


class TerminalEnter:
    """Enter while a terminal has focus gets `decision`: a key that submits a line (Enter, ctrl+j, ctrl+m,
    ctrl+o: `actions.lineedit.submits`) or a newline in typed text.

    Stricter than "Enter right after typing": after arrow-up, a bare Enter re-runs old commands.
    """

    name = "terminal_enter"

    def __init__(self, terminals: Iterable[str], decision: Decision, windows: WindowSource) -> None:
        self.terminals = frozenset(t.lower() for t in terminals)
        self.decision, self.windows = decision, windows

    def check(self, action: Action, shot: Screenshot) -> Verdict | None:
        if self.decision == "allow" or not _presses_enter(action):
            return None
        window = self.windows.focused()
        if window is not None and window.is_one_of(self.terminals):
            return Verdict(self.decision, self.name, f"Enter would run a command in {_describe(window)}")
        return None


class AppAllowList:
    """Input to a window whose application is not allowed (or cannot be told) gets `decision`.

    Pointer actions are checked against the window under each point they touch; keys and text
    against the focused window. An empty allow-list switches the rule off.
    """

    name = "app_allowlist"

    def __init__(self, allowed: Iterable[str], decision: Decision, windows: WindowSource) -> None:
        self.allowed = frozenset(a.lower() for a in allowed)
        self.decision, self.windows = decision, windows

    def check(self, action: Action, shot: Screenshot) -> Verdict | None:
        if not self.allowed or self.decision == "allow" or isinstance(action, NO_INPUT):
            return None
        for window in self._targets(action, shot):
            if window is None:
                return Verdict(self.decision, self.name, "no application window is there to receive the input")
            if not window.is_one_of(self.allowed):
                return Verdict(self.decision, self.name, f"{_describe(window)} is not in the allow-list")
        return None

    def _targets(self, action: Action, shot: Screenshot) -> list[WindowInfo | None]:
        if isinstance(action, Type | Key):
            return [self.windows.focused()]
        points = [to_desktop(p, shot.monitor, shot.scale) for p in points_of(action)]
        if isinstance(action, Click) and not points:
            return [self.windows.at(None)]
        if isinstance(action, LeftClickDrag) and action.start_coordinate is None:
            points.insert(0, None)
        return [self.windows.at(p) for p in points] if points else [self.windows.at(None)]


def _presses_enter(action: Action) -> bool:
    """Enter, Return, keypad Enter, ctrl+j/m/o (a terminal runs the line on each), or a newline typed."""
    if isinstance(action, Key):
        return submits(action.keys)
    return isinstance(action, Type) and ("\n" in action.text or "\r" in action.text)


def _describe(window: WindowInfo) -> str:
    name = "/".join(window.wm_class) or f"window {window.id:#x}"
    return f"{name} ({window.title})" if window.title else name

