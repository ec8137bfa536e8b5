"""The `Computer` protocol: the seam between deskpilot and a desktop.

Implementations (pyautogui, pynput, the test fake) fit it structurally; none needs to inherit.
Coordinates passed to the input methods are input-device coordinates in the virtual desktop
(see `geometry.to_desktop`); `None` means "where the pointer is now". Not for: deciding what to do
or whether it is allowed (policies and the gate), or mapping screen pixels (dispatch does).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from actions.geometry import Point, Screenshot

Button = Literal["left", "right", "middle"]


class Computer(Protocol):
    def screenshot(self) -> Screenshot: ...

    def move(self, to: Point) -> None: ...

    def click(self, at: Point | None, button: Button, count: int) -> None: ...

    def drag(self, start: Point | None, end: Point) -> None: ...

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        """Wheel clicks: dy > 0 up, dx > 0 right."""

    def type_text(self, text: str) -> None: ...

    def key(self, keys: tuple[str, ...]) -> None:
        """Press `keys` (canonical names, see actions.keys) together, then release in reverse."""

    def close(self) -> None: ...


class Keyboard(Protocol):
    """What an executor types and presses keys through (x11keyboard on X11, the library's own elsewhere)."""

    def type(self, text: str) -> None: ...

    def key(self, keys: tuple[str, ...]) -> None: ...

    def close(self) -> None: ...


class ScreenChanges(Protocol):
    """Notice of drawing on the screen as it happens (X11: actions.x11damage), for settling on events."""

    def arm(self) -> None:
        """Forget what was drawn so far: call before the input whose effect is to be waited for."""

    def sync(self) -> None:
        """A round trip to the server: the input sent before has been processed."""

    def wait(self, timeout: float) -> list[tuple[int, int, int, int]]:
        """Rectangles (left, top, right, bottom) drawn since the last call; none yet: wait up to `timeout` s."""

    def close(self) -> None: ...


@runtime_checkable
class WatchesScreen(Protocol):
    """A computer that can report drawing (settling then waits on events instead of polling captures)."""

    def screen_changes(self) -> ScreenChanges | None:
        """The watch (opened once, closed with the computer), or None where the display offers none."""
