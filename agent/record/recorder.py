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
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from actions.geometry import Monitor
from actions.rules import parse_combo
from actions.schema import Terminate, action_to_json, normalized_points
from agent.config import Settings
from agent.errors import EnvironmentProblem
from agent.record.gestures import Event, Gesture, GestureOptions, Gestures
from agent.record.inputs import FrameBuffer, InputTap
from agent.traces.lines import EndLine, Header, Outcome, Screen, StepLine
from agent.traces.store import TraceError, TraceWriter, new_trace_dir


@dataclass(frozen=True)
class RecordResult:
    trace_dir: Path
    steps: int
    ignored: int
    reason: str
    lost: tuple[str, ...] = ()  # key presses that could not be read (named, never dropped silently)


def record(settings: Settings, out: str | Path | None = None, task: str = "", stop: threading.Event | None = None,
           display: str | None = None, announce: Callable[[str], None] = print) -> RecordResult:
    """Record until the stop key (or `stop` is set); return where the trace went."""
    if display is None:
        _refuse_without_x11(settings)
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
        writer.header(Header(task=task, policy="recorded", source="record", config=settings.summary(),
                             screen=_geometry(monitor, settings.screen.scale)))
        announce(f"recording {monitor.width}x{monitor.height} (monitor {settings.screen.monitor}); "
                 f"press {settings.record.stop_key} to stop")
        steps, reason = _pump(events, _gestures(settings), writer, stop, (monitor.width, monitor.height))
        steps += 1
        last = frames.latest()
        writer.step(_final_line(steps), last)
        writer.end(EndLine(status="success", reason=reason, steps=steps, extra={"ignored_events": tap.ignored,
                                                                                    "lost_keys": tap.lost}),
                   last)  # the screen after the last gesture: replay verifies the last step against it
        if tap.lost:
            announce(f"could not read {len(tap.lost)} key press(es), left out of the recording: "
                     + "; ".join(tap.lost[:10]) + (" ..." if len(tap.lost) > 10 else ""))
    finally:
        tap.stop()
        frames.stop()
        writer.close()
    return RecordResult(writer.dir, steps, tap.ignored, reason, tuple(tap.lost))


def _refuse_without_x11(settings: Settings) -> None:
    """Recording watches the user's own input; only X11 lets a client do that (Wayland compositors do not)."""
    import os

    from actions.backends import NoBackend, choose_backend

    try:
        backend = choose_backend(settings.screen.backend, os.environ)
    except NoBackend:
        backend = "wayland"
    if backend != "x11":
        raise EnvironmentProblem(f"recording needs X11: this {backend} session lets no client observe your input; "
                                 "record in an X11 session (the trace replays here), or write a task script")


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
            writer.step(_step_line(steps, gesture, size, started), gesture.frame)
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


def _step_line(index: int, g: Gesture, size: tuple[int, int], started: float) -> StepLine:
    return StepLine(index=index, action=action_to_json(g.action), outcome=Outcome("executed", "recorded"),
                    timings_ms={"gesture": round((g.ended - g.started) * 1000, 2)},
                    normalized=normalized_points(g.action, size) or None,
                    policy={"recorded": {"at_s": round(g.started - started, 3)}})


def _final_line(index: int) -> StepLine:
    return StepLine(index=index, action=action_to_json(Terminate(status="success")),
                    outcome=Outcome("final", "end of the recording"))


def _geometry(monitor: Monitor, scale: float) -> Screen:
    return Screen(monitor.width, monitor.height, scale, monitor.to_json())


def announce_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
