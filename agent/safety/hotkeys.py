"""Global hotkeys (kill, resume) and a feed of every key event, from one pynput keyboard listener.

pynput's X11 listener uses the RECORD extension, so it hears keys whichever window has focus,
without grabbing them. Combinations are written as in config (`ctrl+alt+shift+k`, see
`actions.rules.parse_combo`) and converted to pynput's spelling here. Callbacks run on the
listener thread and must be quick; an exception in one is swallowed (pynput would otherwise stop
listening, which would silently disarm the kill switch).
Not for: deciding what a hotkey does (`agent.safety.assemble` binds them) or telling whose input a key was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from actions.keys import MODIFIERS
from actions.rules import Combo

_PYNPUT_NAMES = {
    "ctrl": "ctrl", "alt": "alt", "shift": "shift", "super": "cmd", "pageup": "page_up", "pagedown": "page_down",
    "capslock": "caps_lock", "printscreen": "print_screen", "numlock": "num_lock", "scrolllock": "scroll_lock",
}


def pynput_combo(combo: Combo) -> str:
    """{'ctrl', 'alt', 'k'} → '<ctrl>+<alt>+k' (pynput.keyboard.HotKey.parse syntax)."""
    parts = []
    for key in sorted(combo, key=lambda k: (k not in MODIFIERS, len(k) == 1, k)):
        parts.append(key if len(key) == 1 else f"<{_PYNPUT_NAMES.get(key, key)}>")
    return "+".join(parts)


class KeyboardWatch:
    """Runs `bindings[combo]()` when a combination is pressed, and `on_key(pressed)` for every key."""

    def __init__(self, bindings: Mapping[Combo, Callable[[], None]],
                 on_key: Callable[[bool], None] | None = None) -> None:
        self.bindings, self.on_key = dict(bindings), on_key
        self._listener: Any = None
        self._hotkeys: list[Any] = []

    def start(self) -> None:
        from pynput import keyboard

        self._hotkeys = [keyboard.HotKey(keyboard.HotKey.parse(pynput_combo(c)),
                                         keep_listening(fn))
                         for c, fn in self.bindings.items()]
        self._listener = keyboard.Listener(on_press=keep_listening(self._press),
                                           on_release=keep_listening(self._release))
        start_listener(self._listener)

    def stop(self) -> None:
        if self._listener is not None:
            stop_listener(self._listener)
            self._listener = None

    def _press(self, key: Any, *_: object) -> None:
        if self.on_key is not None:
            self.on_key(True)
        canonical = self._listener.canonical(key) if key is not None else None
        for hotkey in self._hotkeys:
            hotkey.press(canonical)

    def _release(self, key: Any, *_: object) -> None:
        if self.on_key is not None:
            self.on_key(False)
        canonical = self._listener.canonical(key) if key is not None else None
        for hotkey in self._hotkeys:
            hotkey.release(canonical)


def start_listener(listener: Any, timeout: float = 3.0) -> None:
    """Start a pynput listener and wait until it hears events. pynput's own wait() blocks forever
    when the listener thread dies first (no RECORD extension, lost display); this one raises."""
    listener.start()
    ready = threading.Event()
    threading.Thread(target=lambda: (listener.wait(), ready.set()), daemon=True, name="listener-ready").start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.01):
        if not listener.is_alive() or time.monotonic() > deadline:
            listener.stop()
            raise RuntimeError("the input listener did not start (is the X RECORD extension available?)")


def stop_listener(listener: Any) -> None:
    """Stop a pynput listener now. On X11 its stop() only takes effect at the next input event
    (the RECORD context is disabled on the blocked connection), so disable it on pynput's other
    connection as pynput itself does on exit; fall back to a bounded join."""
    listener.stop()
    try:
        listener._display_stop.record_disable_context(listener._context)
        listener._display_stop.flush()
    except Exception:  # not X11, or pynput internals changed: the join below is bounded
        pass
    listener.join(timeout=0.5)


def keep_listening(callback: Callable[..., None]) -> Callable[..., None]:
    """pynput stops a listener whose callback raises; a hotkey or takeover listener must go on."""

    def call(*args: object) -> None:
        try:
            callback(*args)
        except Exception:
            pass

    return call
