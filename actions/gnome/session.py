"""What a GNOME remote-desktop session offers the computer, whichever way it was reached.

mutter's own D-Bus API and the xdg-desktop-portal both give: one screen-cast stream (a PipeWire node,
the remote to reach it on, its place in the layout), pointer and keyboard notifications, and maybe a
clipboard. `RemoteSession` is that seam; `mutter.MutterSession` and `portal.PortalSession` fit it.
Not for: the clipboard's logic (clipboard) or the action vocabulary (computer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

BUTTONS = {"left": 0x110, "right": 0x111, "middle": 0x112}  # evdev BTN_LEFT, BTN_RIGHT, BTN_MIDDLE
VERTICAL, HORIZONTAL = 0, 1


@dataclass(frozen=True)
class Stream:
    """A screen-cast stream: its PipeWire node, the remote's fd (None: the default daemon), and the
    area of the layout it shows (x, y, width, height in logical pixels)."""

    node: int
    area: tuple[int, int, int, int]
    fd: int | None = None
    handle: str = ""  # mutter's stream object path (absolute motion names it)


class Selection(Protocol):
    """A session's clipboard: mutter's RemoteDesktop selection calls, or the Clipboard portal's."""

    def enable(self, on_owner: Callable[[dict[str, Any]], None], on_transfer: Callable[[str, int], None]) -> None:
        ...

    def set(self, mime_types: list[str]) -> None: ...

    def write(self, serial: int) -> int:
        """An fd to write the data asked for by transfer `serial` into."""

    def write_done(self, serial: int, ok: bool) -> None: ...

    def read(self, mime_type: str) -> int:
        """An fd to read the current owner's data in `mime_type` from."""


class RemoteSession(Protocol):
    """Input calls with `wait=False` are sent without waiting for their reply; a burst ends with a waited call,
    whose reply means every event before it was handled (one connection's calls are handled in order)."""

    stream: Stream
    selection: Selection | None
    via: str  # "mutter" or "portal", for messages

    def motion(self, x: float, y: float, wait: bool = True) -> None:
        """Absolute motion to (x, y), pixels of the stream's frames."""

    def button(self, code: int, pressed: bool, wait: bool = True) -> None: ...

    def axis(self, axis: int, steps: int, wait: bool = True) -> None:
        """Discrete wheel steps: positive is down (VERTICAL) or right (HORIZONTAL)."""

    def keysym(self, sym: int, pressed: bool, wait: bool = True) -> None: ...

    def close(self) -> None: ...


def fd_number(value: Any) -> int:
    """A plain fd from what jeepney gives for an `h` argument (a FileDescriptor); the caller owns it."""
    take = getattr(value, "to_raw_fd", None)
    return int(take()) if take is not None else int(value)
