"""The X server's own notice of drawing: a DAMAGE watch on the root window, for settling on events.

`DamageWatch` opens its own connection, asks for DAMAGE 1.1 (the server refuses the extension's
requests until the version is asked), and creates one Damage on the root window at the raw-rectangles
report level: every drawing anywhere on the screen, by any client, sends us its rectangle, without
our having to subtract anything. Pointer motion draws nothing here (a hardware or server-drawn cursor
is not damage). `arm()` forgets what was drawn so far, `sync()` is a round trip (the server has
processed everything sent to it before, the input included, and queued us the damage it caused),
`wait()` hands back the rectangles drawn since the last call, waiting for the first one up to a
timeout (an answer to `ping()`, actions.x11ping, on the same connection, also ends that wait; then
`answered()` says whether every application pinged has answered). Measured against Xvfb with Tk:
a button's hover highlight arrives 2-5 ms after the motion;
a Tk entry redraws the whole entry at every caret blink (so size alone cannot tell a caret apart;
agent.run.settle compares pixels before trusting a change).

Raises `DamageUnavailable` where the display cannot be opened or lacks the extension; the caller then
polls. Not for: deciding when the screen is settled (agent.run.settle), capturing (actions.capture).
"""

from __future__ import annotations

import select
from typing import Any

from actions.errors import DeskpilotError
from actions.x11ping import AppPing

Box = tuple[int, int, int, int]  # left, top, right, bottom in root-window (desktop) coordinates


class DamageUnavailable(DeskpilotError, RuntimeError):
    """This display offers no DAMAGE extension (or no display at all); settle by polling instead."""


class DamageWatch:
    """Every rectangle drawn on display `display` (None: $DISPLAY, read by Xlib), as it is drawn."""

    def __init__(self, display: str | None = None) -> None:
        try:
            from Xlib import display as xdisplay
            from Xlib.ext import damage
        except ImportError as exc:  # pragma: no cover - python-xlib is a core dependency on Linux
            raise DamageUnavailable(f"python-xlib is not installed: {exc}") from None
        try:
            self._d: Any = xdisplay.Display(display)
        except Exception as exc:  # no server, no permission
            raise DamageUnavailable(f"cannot open the X display for DAMAGE: {exc}") from None
        try:
            if not self._d.has_extension(damage.extname):
                raise DamageUnavailable("the X server offers no DAMAGE extension")
            self._d.damage_query_version()  # required before any other DAMAGE request
            self._damage = self._d.screen().root.damage_create(damage.DamageReportRawRectangles)
            self._d.sync()
        except DamageUnavailable:
            self._d.close()
            raise
        except Exception as exc:  # an X error on an odd server: poll instead
            self._d.close()
            raise DamageUnavailable(f"DAMAGE could not be set up: {exc}") from None
        self._drain()  # creating the Damage reports the whole screen once
        self._ping: AppPing | None = None

    def ping(self, skip: tuple[str, ...] = ()) -> bool:
        """Ping the applications under the pointer and with focus (actions.x11ping), but those whose WM_CLASS
        is in `skip`; False: not all of them can be asked, none was."""
        if self._ping is None:
            from Xlib.error import XError

            try:
                self._ping = AppPing(self._d)
            except XError:  # pragma: no cover - selecting SubstructureNotify on the root is always allowed
                return False
        return self._ping.send(skip)

    def answered(self) -> bool:
        """Whether all applications pinged last have answered (as far as `wait` has read)."""
        return self._ping is not None and self._ping.answered()

    def arm(self) -> None:
        """Forget everything drawn until now (a round trip, so 'now' includes what the server did)."""
        self._d.sync()
        self._drain()

    def sync(self) -> None:
        """A round trip: the server has processed all input sent before (by any client that synced)."""
        self._d.sync()

    def wait(self, timeout: float) -> list[Box]:
        """The rectangles drawn since the last call; none yet: wait up to `timeout` s for the first."""
        boxes = self._drain()
        if boxes or timeout <= 0:
            return boxes
        select.select([self._d], [], [], timeout)
        return self._drain()

    def close(self) -> None:
        try:
            self._d.damage_destroy(self._damage)
            self._d.close()
        except Exception:  # the server is gone already: nothing left to give back
            pass

    def _drain(self) -> list[Box]:
        d, boxes = self._d, []
        while d.pending_events():
            event = d.next_event()
            area = getattr(event, "area", None)
            if area is not None:  # DamageNotify
                boxes.append((area.x, area.y, area.x + area.width, area.y + area.height))
            elif self._ping is not None:  # an answer to a ping, or the root's other notices (ignored)
                self._ping.take(event)
        return boxes
