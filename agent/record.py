"""`deskpilot record`: watch what a person does and write it as a normal, replayable trace.

Three threads: pynput's mouse and keyboard listeners (X11 RECORD: they hear input for every window
without grabbing it) turn each event into a typed `agent.gestures` event and put it on a queue; a
`FrameBuffer` thread captures the monitor every `record.frame_interval_ms`; the main thread feeds the
events to `Gestures` and writes every finished action with `TraceWriter` (policy "recorded",
outcome executed), then a final `terminate success` step with the last frame.

Why a continuously refreshed frame, and not a capture inside the event callback: by the time pynput
reports a press, the X server has already delivered it, so a capture then can show the press's
effect (a pushed button, an open menu). Each event instead takes the newest frame whose capture
began at least `MARGIN_S` before the event arrived — at most one interval plus the margin old,
never after the event. Input events also wake the capture thread at once (without blocking the
listener), so the frame after one action is fresh for the next.
Coordinates: pynput reports desktop coordinates; `geometry.from_desktop` makes them screen pixels
of the recorded monitor. Presses and wheel events outside that monitor are dropped and counted.
Not for: deciding what the events mean (agent.gestures) or replaying (agent.verify).
"""

from __future__ import annotations

import collections
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actions.capture import CaptureError, MssCapture
from actions.geometry import Monitor, Screenshot, from_desktop
from actions.keys import canonical_key
from actions.rules import parse_combo
from actions.schema import Terminate, action_to_json, normalized_points
from agent.config import Settings
from agent.gestures import Event, Gesture, GestureOptions, Gestures, KeyDown, KeyUp, Motion, Press, Release, Wheel
from agent.runner import EnvironmentProblem
from agent.trace import TraceError, TraceWriter, new_trace_dir

MARGIN_S = 0.015  # a frame must have begun this long before an event to show the screen before it
_PYNPUT_KEYS = {
    "ctrl_l": "ctrl", "ctrl_r": "ctrl", "alt_l": "alt", "alt_r": "alt", "shift_l": "shift", "shift_r": "shift",
    "cmd": "super", "cmd_l": "super", "cmd_r": "super", "page_up": "pageup", "page_down": "pagedown",
    "caps_lock": "capslock", "print_screen": "printscreen", "num_lock": "numlock", "scroll_lock": "scrolllock",
}


@dataclass(frozen=True)
class RecordResult:
    trace_dir: Path
    steps: int
    ignored: int
    reason: str


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
    """pynput listeners → `agent.gestures` events (screen coordinates, each with its before-frame)."""

    def __init__(self, frames: FrameBuffer, monitor: Monitor, scale: float, sink: queue.Queue[Event]) -> None:
        self.frames, self.monitor, self.scale, self.sink = frames, monitor, scale, sink
        self.ignored = 0
        self._listeners: list[Any] = []

    def start(self) -> None:
        try:
            from pynput import keyboard, mouse
        except ImportError as exc:  # pynput cannot reach an X server
            raise EnvironmentProblem(f"cannot listen to input: {str(exc).splitlines()[0]}") from None
        self._listeners = [
            mouse.Listener(on_move=self._move, on_click=self._click, on_scroll=self._scroll),
            keyboard.Listener(on_press=self._key_down, on_release=self._key_up),
        ]
        for listener in self._listeners:
            listener.start()
            listener.wait()

    def stop(self) -> None:
        for listener in self._listeners:
            listener.stop()
            listener.join(timeout=2)

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

    def _key_down(self, key: Any, *_: object) -> None:
        t, named = time.monotonic(), key_of(key)
        if named is None:
            self.ignored += 1
            return
        self.sink.put(KeyDown(t, named[0], named[1], self.frames.before(t)))
        self.frames.wake()

    def _key_up(self, key: Any, *_: object) -> None:
        named = key_of(key)
        if named is not None:
            self.sink.put(KeyUp(time.monotonic(), named[0]))


def key_of(key: Any) -> tuple[str, str | None] | None:
    """A pynput key → (canonical name or character, the text it types or None); None: not recordable."""
    name = getattr(key, "name", None)
    if name is None:  # a KeyCode: a character key
        char = getattr(key, "char", None)
        if not isinstance(char, str) or len(char) != 1 or not char.isprintable():
            return None
        return canonical_key(char), char
    if name == "space":
        return "space", " "
    try:
        return canonical_key(_PYNPUT_KEYS.get(name, name)), None
    except ValueError:  # media keys, alt_gr (which only composes characters), ...
        return None


def record(settings: Settings, out: str | Path | None = None, task: str = "", stop: threading.Event | None = None,
           display: str | None = None, announce: Callable[[str], None] = print) -> RecordResult:
    """Record until the stop key (or `stop` is set); return where the trace went."""
    stop = stop or threading.Event()
    frames = FrameBuffer(settings, display)
    monitor = frames.start()
    events: queue.Queue[Event] = queue.Queue()
    tap = InputTap(frames, monitor, settings.screen.scale, events)
    try:
        writer = _writer(settings, out)
    except BaseException:
        frames.stop()
        raise
    try:
        tap.start()
        writer.header(task=task, policy="recorded", source="record", config=settings.summary(),
                      screen=_geometry(monitor, settings.screen.scale))
        announce(f"recording {monitor.width}x{monitor.height} (monitor {settings.screen.monitor}); "
                 f"press {settings.record.stop_key} to stop")
        steps, reason = _pump(events, _gestures(settings), writer, stop, (monitor.width, monitor.height))
        steps += 1
        writer.step(steps, _final_record(), frames.latest())
        writer.end(status="success", reason=reason, steps=steps, answer=None, ignored_events=tap.ignored)
    finally:
        tap.stop()
        frames.stop()
        writer.close()
    return RecordResult(writer.dir, steps, tap.ignored, reason)


def _writer(settings: Settings, out: str | Path | None) -> TraceWriter:
    directory = Path(out) if out is not None else new_trace_dir(settings.trace.dir)
    try:
        return TraceWriter(directory, settings.trace.png_compress_level)
    except FileExistsError:
        raise TraceError(f"{directory}: already holds a trace; choose another --out") from None


def _gestures(settings: Settings) -> Gestures:
    r = settings.record
    return Gestures(GestureOptions(r.double_click_ms / 1000, r.drag_px, settings.executor.scroll_pixels_per_click,
                                   parse_combo(r.stop_key)))


def _pump(events: queue.Queue[Event], gestures: Gestures, writer: TraceWriter, stop: threading.Event,
          size: tuple[int, int]) -> tuple[int, str]:
    """Feed events to `gestures` and write each finished gesture, until the stop key or `stop`."""
    steps, started = 0, time.monotonic()
    while not gestures.stopped:
        if stop.is_set():
            done = _drain(events, gestures) + gestures.finish()
        else:
            try:
                done = gestures.feed(events.get(timeout=0.05))
            except queue.Empty:
                done = gestures.due(time.monotonic())
        for gesture in done:
            steps += 1
            writer.step(steps, _step_record(gesture, size, started), gesture.frame)
        if stop.is_set():
            return steps, "stopped by a signal"
    return steps, "stopped by the stop key"


def _drain(events: queue.Queue[Event], gestures: Gestures) -> list[Gesture]:
    done: list[Gesture] = []
    while True:
        try:
            done += gestures.feed(events.get_nowait())
        except queue.Empty:
            return done


def _step_record(g: Gesture, size: tuple[int, int], started: float) -> dict[str, Any]:
    return {
        "action": action_to_json(g.action), "verdict": None, "outcome": {"status": "executed", "detail": "recorded"},
        "feedback": "", "timings_ms": {"gesture": round((g.ended - g.started) * 1000, 2)}, "effect": None,
        "raw_text": None, **({"normalized": n} if (n := normalized_points(g.action, size)) else {}),
        "policy": {"recorded": {"at_s": round(g.started - started, 3)}},
    }


def _final_record() -> dict[str, Any]:
    return {"action": action_to_json(Terminate(status="success")), "verdict": None,
            "outcome": {"status": "final", "detail": "end of the recording"}, "feedback": "", "timings_ms": {},
            "effect": None, "raw_text": None}


def _geometry(monitor: Monitor, scale: float) -> dict[str, Any]:
    return {"monitor": monitor.to_json(), "scale": scale, "width": monitor.width, "height": monitor.height}


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM end the recording cleanly (the trace gets its end line)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def announce_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
