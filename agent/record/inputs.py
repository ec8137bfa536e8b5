"""What the recorder listens to: the screen (`FrameBuffer`) and the person's input (`InputTap`).

Why a continuously refreshed frame, and not a capture inside the event callback: by the time pynput
reports a press, the X server has already delivered it, so a capture then can show the press's
effect (a pushed button, an open menu). `FrameBuffer` captures the monitor every
`record.frame_interval_ms` on its own thread, and each event takes the newest frame whose capture
began at least `MARGIN_S` before the event arrived — at most one interval plus the margin old, never
after the event. Input events also wake the capture thread at once (without blocking the listener),
so the frame after one action is fresh for the next.
`InputTap` runs pynput's mouse listener and our key listener (`agent.record.keytap`: each key read with
the keyboard mapping in force at that moment); both use X11 RECORD, hearing input for every window
without grabbing it. It turns each event into a typed `agent.record.gestures` event on a queue, in screen
coordinates of the recorded monitor (`geometry.from_desktop`); presses and wheel events outside that
monitor are dropped and counted, releases and moves are clamped to it; a key press that cannot be read
is counted and named (`lost`), never dropped silently.
Not for: deciding what the events mean (agent.record.gestures) or writing the trace (agent.record.recorder).
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Any

from actions.capture import CaptureError, MssCapture
from actions.geometry import Monitor, Screenshot, from_desktop
from agent.config import Settings
from agent.errors import EnvironmentProblem
from agent.record.gestures import Event, KeyDown, KeyUp, Motion, Press, Release, Wheel

MARGIN_S = 0.015  # a frame must have begun this long before an event to show the screen before it


class FrameBuffer:
    """The recent frames of one monitor: refreshed every `interval_s` and whenever `wake()` is called."""

    def __init__(self, settings: Settings, display: str | None = None, keep: int = 16) -> None:
        self._settings, self._display = settings, display
        self._interval = settings.record.frame_interval_ms / 1000
        self._frames: collections.deque[tuple[float, Screenshot]] = collections.deque(maxlen=keep)
        self._lock, self._wake, self._done = threading.Lock(), threading.Event(), threading.Event()
        self._ready = threading.Event()
        self._error: str | None = None
        self.monitor: Monitor | None = None
        self._thread = threading.Thread(target=self._run, name="record-frames", daemon=True)

    def start(self) -> Monitor:
        self._thread.start()
        self._ready.wait(10)
        if self.monitor is None:
            raise EnvironmentProblem(f"cannot capture the screen to record: {self._error or 'no first frame'}")
        return self.monitor

    def wake(self) -> None:
        self._wake.set()

    def before(self, t: float) -> Screenshot | None:
        """The newest frame begun at least MARGIN_S before `t` (else the oldest one kept)."""
        with self._lock:
            frames = list(self._frames)
        for started, shot in reversed(frames):
            if started <= t - MARGIN_S:
                return shot
        return frames[0][1] if frames else None

    def latest(self) -> Screenshot | None:
        with self._lock:
            return self._frames[-1][1] if self._frames else None

    def stop(self) -> None:
        self._done.set()
        self._wake.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        s = self._settings.screen
        try:  # mss handles are per thread: open it here
            capture = MssCapture(s.monitor, s.scale, self._display)
        except CaptureError as exc:
            self._error = str(exc)
            self._ready.set()
            return
        try:
            while not self._done.is_set():
                started = time.monotonic()
                shot = capture.grab()
                with self._lock:
                    self._frames.append((started, shot))
                if self.monitor is None:
                    self.monitor = capture.monitor
                    self._ready.set()
                self._wake.wait(self._interval)
                self._wake.clear()
        finally:
            capture.close()


class InputTap:
    """pynput listeners → `agent.record.gestures` events (screen coordinates, each with its before-frame)."""

    def __init__(self, frames: FrameBuffer, monitor: Monitor, scale: float, sink: queue.Queue[Event]) -> None:
        self.frames, self.monitor, self.scale, self.sink = frames, monitor, scale, sink
        self.ignored = 0
        self.lost: list[str] = []  # key presses that could not be read as a key or a character
        self._listeners: list[Any] = []

    def start(self) -> None:
        try:
            from pynput import mouse
        except ImportError as exc:  # pynput cannot reach an X server
            raise EnvironmentProblem(f"cannot listen to input: {str(exc).splitlines()[0]}") from None
        from agent.record.keytap import KeyTap

        keys = KeyTap(self._key_down, self._key_up)
        try:
            keys.start()
        except RuntimeError as exc:
            raise EnvironmentProblem(str(exc)) from None
        self._listeners = [keys, mouse.Listener(on_move=self._move, on_click=self._click, on_scroll=self._scroll)]
        self._listeners[1].start()
        self._listeners[1].wait()

    def stop(self) -> None:
        """Stop both listeners. pynput's X11 listener thread ends only at the next X event after
        `stop()`, so it is not waited for long (its threads are daemons)."""
        for listener in self._listeners:
            listener.stop()
        for listener in self._listeners[1:]:
            listener.join(timeout=0.1)

    def _point(self, x: float, y: float) -> tuple[int, int] | None:
        px, py = from_desktop((round(x), round(y)), self.monitor, self.scale)
        inside = 0 <= px < self.monitor.width and 0 <= py < self.monitor.height
        return (px, py) if inside else None

    def _clamped(self, x: float, y: float) -> tuple[int, int]:
        px, py = from_desktop((round(x), round(y)), self.monitor, self.scale)
        return min(max(px, 0), self.monitor.width - 1), min(max(py, 0), self.monitor.height - 1)

    def _move(self, x: float, y: float, *_: object) -> None:
        self.sink.put(Motion(time.monotonic(), *self._clamped(x, y)))

    def _click(self, x: float, y: float, button: Any, pressed: bool, *_: object) -> None:
        t, name = time.monotonic(), getattr(button, "name", "")
        if name not in ("left", "right", "middle"):
            return
        if not pressed:
            self.sink.put(Release(t, *self._clamped(x, y), name))
            self.frames.wake()
            return
        point = self._point(x, y)
        if point is None:
            self.ignored += 1
            return
        self.sink.put(Press(t, *point, name, self.frames.before(t)))
        self.frames.wake()

    def _scroll(self, x: float, y: float, dx: int, dy: int, *_: object) -> None:
        t, point = time.monotonic(), self._point(x, y)
        if point is None:
            self.ignored += 1
            return
        self.sink.put(Wheel(t, *point, int(dx), int(dy), self.frames.before(t)))
        self.frames.wake()

    def _key_down(self, named: tuple[str, str | None] | None, keycode: int, keysym: int) -> None:
        t = time.monotonic()
        if named is None:
            self.ignored += 1
            self.lost.append(describe_keysym(keycode, keysym))  # never dropped silently: the summary names it
            return
        self.sink.put(KeyDown(t, named[0], named[1], self.frames.before(t)))
        self.frames.wake()

    def _key_up(self, named: tuple[str, str | None]) -> None:
        self.sink.put(KeyUp(time.monotonic(), named[0]))


def describe_keysym(keycode: int, keysym: int) -> str:
    """A key press that could not be recorded, in words for the recorder's summary."""
    what = f"keysym 0x{keysym:x}" if keysym else "no keysym"
    return f"a key press with {what} (keycode {keycode})"
