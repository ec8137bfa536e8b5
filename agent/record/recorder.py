"""`deskpilot record`: watch what a person does and write it as a normal, replayable trace.

`agent.record.inputs` supplies the frames (`FrameBuffer`, refreshed every `record.frame_interval_ms`;
each event carries the newest frame taken before it) and the input events (`InputTap`, pynput);
here the main thread feeds the events to `agent.record.gestures.Gestures` and writes every finished action
with `TraceWriter` — policy "recorded", outcome executed, the before-frame as its screenshot, its
coordinates also normalized — then a final `terminate success` step with the last frame, until the
stop key (`record.stop_key`) or SIGINT/SIGTERM.
Not for: deciding what the events mean (agent.record.gestures) or replaying (agent.replay.verify).
"""

from __future__ import annotations

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

from actions.geometry import Monitor
from actions.rules import parse_combo
from actions.schema import Terminate, action_to_json, normalized_points
from agent.config import Settings
from agent.record.gestures import Event, Gesture, GestureOptions, Gestures
from agent.record.inputs import FrameBuffer, InputTap
from agent.traces.store import TraceError, TraceWriter, new_trace_dir


@dataclass(frozen=True)
class RecordResult:
    trace_dir: Path
    steps: int
    ignored: int
    reason: str


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
