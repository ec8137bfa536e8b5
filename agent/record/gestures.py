"""Turn a person's raw input events into actions: clicks, double/triple clicks, drags, scrolls, typing.

`Gestures` is fed events in arrival order (screen coordinates, monotonic seconds, each carrying the
frame that was on screen just before it) and hands back finished `Gesture`s: one action each, with
the frame of its first event. Rules:
- press + release of one button within `drag_px` → a click; the next click of the same button
  within `double_click_s` and `drag_px` makes it a double, then a triple click (never more);
- a left press that moves further than `drag_px` before its release → `left_click_drag`;
- consecutive wheel events on one axis, near one spot, less than `WHEEL_GAP_S` apart → one
  `scroll`/`hscroll` with the summed amount (wheel clicks × `scroll_pixels_per_click`);
- printable keys (shift allowed) → one `type` action; backspace edits the text still being typed;
- a key with ctrl/alt/super held, or a non-printing key (enter, tab, esc, arrows, F-keys) → `key`;
  modifiers pressed alone are not recorded; the `stop` combination ends the recording.
A pending click or scroll waits for its time window (`due`) or the next event; `finish` flushes.
Not for: listening to devices or capturing frames (agent.record.recorder does both). Pure, so unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from actions.keys import MODIFIERS
from actions.schema import (
    MAX_TEXT,
    Action,
    DoubleClick,
    HScroll,
    Key,
    LeftClick,
    LeftClickDrag,
    MiddleClick,
    RightClick,
    Scroll,
    TripleClick,
    Type,
)

Button = Literal["left", "right", "middle"]
WHEEL_GAP_S = 1.0  # a pause longer than this starts a new scroll
WHEEL_SPOT_PX = 24  # the pointer moving further than this starts a new scroll
MOD_ORDER = ("ctrl", "alt", "shift", "super")
_CLICKS: dict[tuple[Button, int], type[Action]] = {
    ("left", 1): LeftClick, ("left", 2): DoubleClick, ("left", 3): TripleClick,
    ("right", 1): RightClick, ("middle", 1): MiddleClick,
}


@dataclass(frozen=True)
class Press:
    t: float
    x: int
    y: int
    button: Button
    frame: Any = None


@dataclass(frozen=True)
class Release:
    t: float
    x: int
    y: int
    button: Button


@dataclass(frozen=True)
class Motion:
    t: float
    x: int
    y: int


@dataclass(frozen=True)
class Wheel:
    t: float
    x: int
    y: int
    dx: int  # clicks, > 0 right
    dy: int  # clicks, > 0 up
    frame: Any = None


@dataclass(frozen=True)
class KeyDown:
    t: float
    key: str  # a canonical key name (actions.keys) or one printable character
    char: str | None = None  # the text the key produces, if it types any
    frame: Any = None


@dataclass(frozen=True)
class KeyUp:
    t: float
    key: str


Event = Press | Release | Motion | Wheel | KeyDown | KeyUp


@dataclass(frozen=True)
class Gesture:
    """One recorded action, the frame on screen before its first event, and when it happened."""

    action: Action
    frame: Any
    started: float
    ended: float


@dataclass(frozen=True)
class GestureOptions:
    double_click_s: float = 0.4
    drag_px: int = 5
    scroll_pixels_per_click: int = 1
    stop: frozenset[str] = frozenset({"ctrl", "alt", "shift", "e"})


@dataclass
class _Pending:
    """A gesture still growing: clicks (count), a scroll (amount), typed text, or a held button."""

    kind: str
    x: int
    y: int
    t0: float
    t1: float
    frame: Any
    button: Button = "left"
    count: int = 0
    amount: int = 0
    text: str = ""
    travel: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Gestures:
    def __init__(self, options: GestureOptions | None = None) -> None:
        self.options = options or GestureOptions()
        self.stopped = False
        self._mods: set[str] = set()
        self._held: _Pending | None = None  # a mouse button that is down
        self._click: _Pending | None = None
        self._wheel: _Pending | None = None
        self._text: _Pending | None = None

    def feed(self, event: Event) -> list[Gesture]:
        """Take one event; return the gestures it completed (in order)."""
        if self.stopped:
            return []
        match event:
            case Press():
                return self._press(event)
            case Release():
                return self._release(event)
            case Motion():
                if self._held is not None:
                    self._held.travel = max(self._held.travel, _dist(self._held, event.x, event.y))
                return []
            case Wheel():
                return self._scroll(event)
            case KeyDown():
                return self._key(event)
            case KeyUp():
                self._mods.discard(event.key)
                return []
        return []

    def due(self, now: float) -> list[Gesture]:
        """Gestures whose window has closed by `now` (a click no second click followed, a scroll)."""
        out: list[Gesture] = []
        if self._click is not None and self._held is None and now - self._click.t1 > self.options.double_click_s:
            out += self._flush_click()
        if self._wheel is not None and now - self._wheel.t1 > WHEEL_GAP_S:
            out += self._flush_wheel()
        return out

    def finish(self) -> list[Gesture]:
        """Everything still pending, in order (a button still held is dropped)."""
        self._held = None
        return self._flush_click() + self._flush_wheel() + self._flush_text()

    def _press(self, e: Press) -> list[Gesture]:
        out = self._flush_text() + self._flush_wheel()
        c = self._click
        if c is not None and not (c.button == e.button and e.t - c.t1 <= self.options.double_click_s
                                  and _dist(c, e.x, e.y) <= self.options.drag_px and c.count < 3):
            out += self._flush_click()
        self._held = _Pending("held", e.x, e.y, e.t, e.t, e.frame, e.button)
        return out

    def _release(self, e: Release) -> list[Gesture]:
        held, self._held = self._held, None
        if held is None or held.button != e.button:
            return []
        travel = max(held.travel, _dist(held, e.x, e.y))
        if held.button == "left" and travel > self.options.drag_px:
            drag = LeftClickDrag(start_coordinate=(held.x, held.y), coordinate=(e.x, e.y))
            return [*self._flush_click(), Gesture(drag, held.frame, held.t0, e.t)]
        c = self._click
        if c is None:
            self._click = c = _Pending("click", held.x, held.y, held.t0, e.t, held.frame, held.button)
        c.count, c.t1 = c.count + 1, e.t
        if c.count >= 3 or (c.button, c.count + 1) not in _CLICKS:  # nothing longer can follow
            return self._flush_click()
        return []

    def _scroll(self, e: Wheel) -> list[Gesture]:
        out = self._flush_text() + self._flush_click()
        axis = "h" if e.dx and not e.dy else "v"
        w = self._wheel
        if w is not None and (w.extra["axis"] != axis or e.t - w.t1 > WHEEL_GAP_S
                              or _dist(w, e.x, e.y) > WHEEL_SPOT_PX):
            out += self._flush_wheel()
        if self._wheel is None:
            self._wheel = _Pending("wheel", e.x, e.y, e.t, e.t, e.frame, extra={"axis": axis})
        self._wheel.amount += e.dx if axis == "h" else e.dy
        self._wheel.t1 = e.t
        return out

    def _key(self, e: KeyDown) -> list[Gesture]:
        if e.key in MODIFIERS:
            self._mods.add(e.key)
            return []
        if self._mods | {e.key.lower()} == self.options.stop:
            self.stopped = True
            return self.finish()
        out = self._flush_click() + self._flush_wheel()
        chording = bool(self._mods & {"ctrl", "alt", "super"})
        if e.char is not None and not chording:
            return out + self._typed(e)
        if e.key == "backspace" and not self._mods and self._text is not None and self._text.text:
            self._text.text, self._text.t1 = self._text.text[:-1], e.t
            return out
        keys = (*(m for m in MOD_ORDER if m in self._mods), e.key.lower() if len(e.key) == 1 else e.key)
        return [*out, *self._flush_text(), Gesture(Key(keys=keys), e.frame, e.t, e.t)]

    def _typed(self, e: KeyDown) -> list[Gesture]:
        assert e.char is not None
        out = self._flush_text() if self._text is not None and len(self._text.text) >= MAX_TEXT else []
        if self._text is None:
            self._text = _Pending("text", 0, 0, e.t, e.t, e.frame)
        self._text.text += e.char
        self._text.t1 = e.t
        return out

    def _flush_click(self) -> list[Gesture]:
        c, self._click = self._click, None
        if c is None or c.count == 0:
            return []
        cls = _CLICKS[(c.button, min(c.count, 3))]
        return [Gesture(cls(coordinate=(c.x, c.y)), c.frame, c.t0, c.t1)]

    def _flush_wheel(self) -> list[Gesture]:
        w, self._wheel = self._wheel, None
        if w is None or w.amount == 0:
            return []
        pixels = max(-10_000, min(10_000, w.amount * self.options.scroll_pixels_per_click))
        cls = HScroll if w.extra["axis"] == "h" else Scroll
        return [Gesture(cls(pixels=pixels, coordinate=(w.x, w.y)), w.frame, w.t0, w.t1)]

    def _flush_text(self) -> list[Gesture]:
        t, self._text = self._text, None
        if t is None or not t.text:
            return []
        return [Gesture(Type(text=t.text), t.frame, t.t0, t.t1)]


def _dist(p: _Pending, x: int, y: int) -> float:
    return float(max(abs(p.x - x), abs(p.y - y)))
