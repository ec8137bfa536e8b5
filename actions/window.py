"""Which application a window belongs to: the seam the window-aware gate rules look through.

`WindowSource` is a small protocol (focused window, window under a point, pointer position) so
the rules can be tested with fakes. `X11Windows` reads it from X11 with python-xlib (imported
lazily): the focused window from `_NET_ACTIVE_WINDOW` (or the input focus when no window manager
sets it), the window under a point by descending with XTranslateCoordinates, and a window's
application from the WM_CLASS of it or its nearest ancestor that has one. A lookup that fails
raises; the gate turns that into a deny (it fails closed).
`NoWindows` is for runs without a desktop (the fake computer): no window ever has focus.
Not for: moving or focusing windows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

from actions.geometry import Point

_MAX_DEPTH = 32


@dataclass(frozen=True)
class WindowInfo:
    """A top-level window: its X id, WM_CLASS (instance, class) and title."""

    id: int
    wm_class: tuple[str, ...]
    title: str = ""

    def is_one_of(self, classes: frozenset[str]) -> bool:
        """Whether the instance or class name (case-insensitive) is in `classes` (lowercase)."""
        return any(name.lower() in classes for name in self.wm_class)


class WindowSource(Protocol):
    def focused(self) -> WindowInfo | None:
        """The window keyboard input goes to, or None if no application window has focus."""

    def at(self, point: Point | None) -> WindowInfo | None:
        """The window under a desktop point (None: under the pointer), or None for the root."""

    def pointer(self) -> Point:
        """Where the pointer is, in desktop coordinates."""


class NoWindows:
    """A desktop without windows (fake computers in tests): nothing has focus or lies anywhere."""

    def focused(self) -> WindowInfo | None:
        return None

    def at(self, point: Point | None) -> WindowInfo | None:
        return None

    def pointer(self) -> Point:
        return (0, 0)


class UnavailableWindows:
    """Stands in when window information cannot be read at all: every lookup raises."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def focused(self) -> WindowInfo | None:
        raise RuntimeError(self.reason)

    def at(self, point: Point | None) -> WindowInfo | None:
        raise RuntimeError(self.reason)

    def pointer(self) -> Point:
        raise RuntimeError(self.reason)


class X11Windows:
    """Window information from an X server (its own connection; calls are serialized)."""

    def __init__(self, display: str | None = None) -> None:
        from Xlib import display as xdisplay

        self._display = xdisplay.Display(display)
        self._root = self._display.screen().root
        self._active = self._display.intern_atom("_NET_ACTIVE_WINDOW")
        self._lock = threading.Lock()

    def focused(self) -> WindowInfo | None:
        with self._lock:
            window = self._active_window() or self._input_focus()
            return None if window is None else self._info(window)

    def at(self, point: Point | None) -> WindowInfo | None:
        with self._lock:
            if point is None:
                reply = self._root.query_pointer()
                point = (reply.root_x, reply.root_y)
            return self._descend(point)

    def pointer(self) -> Point:
        with self._lock:
            reply = self._root.query_pointer()
            return (reply.root_x, reply.root_y)

    def close(self) -> None:
        self._display.close()

    def _active_window(self) -> Any:
        from Xlib import X

        prop = self._root.get_full_property(self._active, X.AnyPropertyType)
        if prop is None or not prop.value or not prop.value[0]:
            return None
        return self._display.create_resource_object("window", int(prop.value[0]))

    def _input_focus(self) -> Any:
        focus = self._display.get_input_focus().focus
        if isinstance(focus, int) or focus is None:  # None (0) or PointerRoot (1)
            return None if focus in (0, None) else self._pointer_child()
        # focus on the root window: keys go to the window under the pointer, as with PointerRoot
        return self._pointer_child() if focus == self._root else focus

    def _pointer_child(self) -> Any:
        child = self._root.query_pointer().child
        return None if isinstance(child, int) or not child else child

    def _descend(self, point: Point) -> WindowInfo | None:
        """Walk down from the root through the windows containing `point` to one with WM_CLASS."""
        window = self._root
        for _ in range(_MAX_DEPTH):
            child = window.translate_coords(self._root, *point).child
            if isinstance(child, int) or not child:
                return None
            if child.get_wm_class():
                return self._info(child)
            window = child
        return None

    def _info(self, window: Any) -> WindowInfo | None:
        """The WindowInfo of `window` or of its nearest ancestor that has a WM_CLASS."""
        for _ in range(_MAX_DEPTH):
            wm_class = window.get_wm_class()
            if wm_class:
                title = window.get_wm_name()
                return WindowInfo(window.id, tuple(wm_class), title if isinstance(title, str) else "")
            parent = window.query_tree().parent
            if isinstance(parent, int) or not parent or parent == self._root:
                return None
            window = parent
        return None
