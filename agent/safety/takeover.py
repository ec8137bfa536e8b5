"""Human takeover: notice input the agent did not produce, and pause the run.

Two witnesses. First the input devices (`agent.safety.devices`, XInput2): the agent injects through
XTest, as the "Virtual core XTEST" devices, so a press or motion from any other device (a person's
mouse, touchpad or keyboard) is a person's, whatever the agent is doing at that moment — typing 3,000
characters, dragging, waiting — and pauses the run at once. Second, for input that itself comes
through XTest (xdotool, a VNC viewer), the agent keeps a ledger of what it is doing (`InputLedger`):
the guarded executor marks each input call as busy (plus a grace period for events that arrive late)
and records where it leaves the pointer. The `TakeoverMonitor` hears every pointer and key event
(pynput's XRecord listeners) and calls any event the ledger cannot explain foreign: a key or button
pressed while the agent is not acting (a key while it clicks or drags somewhere counts: those type
no keys), or the pointer moving while the agent is not moving it (a `type`, a `key` or a click where
the pointer already is moves nothing) to anywhere but where the agent left it. Through XTest, a
button press, or a motion, within the grace after the agent's own pointer input is taken for the
agent's — but a motion excused only by that grace, not by its place, is checked again once the grace
has passed: if the pointer then rests anywhere but where the agent left it, a person moved it (the
grace must not hide a move that came just after the agent's own). A foreign event pauses the run
(`control.Pause`); only the resume hotkey,
SIGUSR1 or `Pause.resume` ends the pause. Key releases are ignored, so letting go of the resume
hotkey does not pause again; while a person answers a confirmation the monitor is `suspended`, and
just after (and after a resume) the ledger is `quiet`.
Not for: the kill switch (`agent.safety.hotkeys`) or deciding what the loop does while paused (`agent.safety.control`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from actions.geometry import Point
from agent.safety.control import Pause
from agent.safety.hotkeys import keep_listening

TOLERANCE_PX = 2


class InputLedger:
    """What input the agent itself is producing now, and where it left the pointer."""

    def __init__(self, grace_s: float = 0.15, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_s, self.clock = grace_s, clock
        self._lock = threading.Lock()
        self._busy = 0
        self._moving = 0  # busy calls that move the pointer (those given `pointer_after`)
        self._quiet_until = 0.0  # a person's answer or resume: every event is explained
        self._late_until = 0.0  # late events of the agent's own calls
        self._late_motion_until = 0.0  # late motion of the agent's own pointer moves
        self._late_keys_until = 0.0  # late key events: only calls that keep the pointer still type keys
        self._pointer: Point | None = None
        self._calls = 0  # executor calls finished so far

    @contextmanager
    def acting(self, pointer_after: Point | None = None) -> Iterator[None]:
        """Mark an executor call: its events (and late ones within the grace period) are ours."""
        moving = pointer_after is not None
        with self._lock:
            self._busy += 1
            self._moving += moving
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._moving -= moving
                self._calls += 1
                self._late_until = max(self._late_until, self.clock() + self.grace_s)
                if moving:
                    self._late_motion_until = max(self._late_motion_until, self.clock() + self.grace_s)
                    self._pointer = pointer_after
                else:
                    self._late_keys_until = max(self._late_keys_until, self.clock() + self.grace_s)

    def calls(self) -> int:
        """How many executor calls have finished: a change means the agent produced input in between."""
        with self._lock:
            return self._calls

    def busy(self) -> bool:
        """True while an executor call is under way."""
        with self._lock:
            return self._busy > 0

    def expect_pointer(self, point: Point | None) -> None:
        """Where the pointer is known to be now (at the start, after a person has answered)."""
        with self._lock:
            self._pointer = point

    def quiet(self, seconds: float) -> None:
        """Explain every event for the next `seconds` (e.g. the tail of a person's answer)."""
        with self._lock:
            self._quiet_until = max(self._quiet_until, self.clock() + seconds)

    def is_quiet(self) -> bool:
        """True while every event is explained (a person's answer, a resume): not even a device counts."""
        with self._lock:
            return self.clock() < self._quiet_until

    def explains_key(self) -> bool:
        """True if a key press now is the agent's own: a call that moves the pointer (a click somewhere, a
        drag) types no key, so neither it nor its grace explains one."""
        with self._lock:
            now = self.clock()
            return self._busy > self._moving or now < self._late_keys_until or now < self._quiet_until

    def explains_event(self) -> bool:
        """True if a button or wheel event now is the agent's own."""
        with self._lock:
            now = self.clock()
            return self._busy > 0 or now < self._late_until or now < self._quiet_until

    def explains_motion(self, x: int, y: int) -> bool:
        """True if the pointer moving to (x, y) now is the agent's own doing (typing moves nothing)."""
        with self._lock:
            now = self.clock()
            if self._moving > 0 or now < self._late_motion_until or now < self._quiet_until:
                return True
            return self._left_at(x, y)

    def only_by_grace(self, x: int, y: int) -> float | None:
        """Seconds left of the late-motion grace when that grace alone explains a motion to (x, y) now (the
        agent is not moving the pointer, no person's answer is being excused, and (x, y) is not where the
        agent left it); None otherwise."""
        with self._lock:
            now = self.clock()
            if self._moving > 0 or now < self._quiet_until or now >= self._late_motion_until or self._left_at(x, y):
                return None
            return self._late_motion_until - now

    def _left_at(self, x: int, y: int) -> bool:
        p = self._pointer
        return p is not None and abs(p[0] - x) <= TOLERANCE_PX and abs(p[1] - y) <= TOLERANCE_PX


class TakeoverMonitor:
    """Pauses the run on input the ledger cannot explain. Feed it events; `start` hears the mouse."""

    def __init__(self, pause: Pause, ledger: InputLedger, pointer: Callable[[], Point] | None = None) -> None:
        self.pause, self.ledger, self.pointer = pause, ledger, pointer
        self._suspended = 0
        self._mouse: Any = None
        self._devices: Any = None
        self._recheck: threading.Timer | None = None

    def on_move(self, x: int, y: int, *_: object) -> None:
        if self._ignoring():
            return
        if not self.ledger.explains_motion(int(x), int(y)):
            self.pause.pause(f"the pointer moved to ({int(x)}, {int(y)})")
            return
        left = self.ledger.only_by_grace(int(x), int(y))
        if left is not None and self.pointer is not None and (self._recheck is None or not self._recheck.is_alive()):
            self._recheck = threading.Timer(left + 0.01, self._where_it_rests)
            self._recheck.daemon = True
            self._recheck.start()

    def _where_it_rests(self) -> None:
        """After the grace: the pointer must rest where the agent left it (or be the agent's doing again)."""
        if self._ignoring() or self.pointer is None:
            return
        try:
            x, y = self.pointer()
        except Exception:  # the display is gone: nothing to judge
            return
        if not self.ledger.explains_motion(int(x), int(y)):
            self.pause.pause(f"the pointer moved to ({int(x)}, {int(y)})")

    def on_click(self, x: int, y: int, button: object, pressed: bool, *_: object) -> None:
        if pressed and not self._ignoring() and not self.ledger.explains_event():
            self.pause.pause(f"a mouse button was pressed at ({int(x)}, {int(y)})")

    def on_scroll(self, x: int, y: int, *_: object) -> None:
        if not self._ignoring() and not self.ledger.explains_event():
            self.pause.pause(f"the wheel turned at ({int(x)}, {int(y)})")

    def on_key(self, pressed: bool) -> None:
        if pressed and not self._ignoring() and not self.ledger.explains_key():
            self.pause.pause("a key was pressed")

    def on_person(self, what: str) -> None:
        """Input from a person's own device (`agent.safety.devices`): no time window explains it."""
        if not self._ignoring() and not self.ledger.is_quiet():
            self.pause.pause(what)

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Input in this block is the person's answer, not a takeover."""
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1
            self.ledger.quiet(self.ledger.grace_s)
            self._rebase()

    def start(self) -> None:
        """Listen to the pointer (pynput; needs the X display of this process)."""
        from pynput import mouse

        from agent.safety.hotkeys import start_listener

        self._rebase()
        self._mouse = mouse.Listener(on_move=keep_listening(self.on_move),
                                     on_click=keep_listening(self.on_click),
                                     on_scroll=keep_listening(self.on_scroll))
        start_listener(self._mouse)
        try:
            from agent.safety.devices import DeviceWatch

            devices = DeviceWatch(keep_listening(self.on_person))
            devices.start()
            self._devices = devices
        except Exception:  # no XInput2 here: the ledger alone judges (as for input through XTest)
            self._devices = None

    def stop(self) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
        if self._devices is not None:
            self._devices.stop()
            self._devices = None
        if self._mouse is not None:
            from agent.safety.hotkeys import stop_listener

            stop_listener(self._mouse)
            self._mouse = None

    def _ignoring(self) -> bool:
        return self._suspended > 0 or self.pause.paused

    def _rebase(self) -> None:
        if self.pointer is not None:
            try:
                self.ledger.expect_pointer(self.pointer())
            except Exception:  # no pointer to ask: any motion then counts as a person's
                self.ledger.expect_pointer(None)
