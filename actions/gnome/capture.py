"""Frames from a ScreenCast stream: one long-lived GStreamer pipeline from PipeWire into an appsink.

`pipewiresrc ! videoconvert ! video/x-raw,format=BGRx ! appsink`, started once and kept running:
mutter sends a frame when the screen changes, the sink keeps only the newest, and `grab` returns the
newest frame seen (a still screen sends nothing, so the last frame stays current). Since "no new frame"
is not "nothing changed" while the frames an input causes are still on their way, the computer calls
`expect_change` after input: the next `grab` waits for those frames to arrive and stop, or a while when
none comes (both scaled to how late frames come now) — so settle never takes a half-drawn state for a
still screen. The Screenshot's
monitor is the stream's place in the layout in physical pixels, its scale physical per logical pixel.
Not for: input, or setting up the stream (the mutter and portal modules do).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from actions.capture import CaptureError
from actions.geometry import Monitor, Screenshot
from actions.gnome.gst import import_gst

FIRST_FRAME_S = 10.0
NO_FRAME_S = 0.2  # after input, how long to wait for a frame at all (a pointer move over nothing sends none)
QUIET_S = 0.08  # after input, a frame followed by this long without another: the drawing is done
MAX_WAIT_S = 1.0  # after input, never wait longer (an animation keeps sending frames)
LATE_FACTOR = 4.0  # no frame within this many usual latencies: none is coming


class PipeWireCapture:
    """The stream `node` (on the PipeWire remote `fd`, or the default daemon when None) whose source
    covers `area` (x, y, width, height, logical) of the layout."""

    def __init__(self, node: int, area: tuple[int, int, int, int], fd: int | None = None) -> None:
        Gst, _GstApp = import_gst()
        self._gst = Gst
        source = f"pipewiresrc path={int(node)} always-copy=true do-timestamp=false"
        if fd is not None:
            source += f" fd={os.dup(fd)}"  # PipeWire takes this copy and closes it with the pipeline
        description = (f"{source} ! videoconvert ! video/x-raw,format=BGRx ! "
                       "appsink name=sink max-buffers=1 drop=true sync=false")
        self._pipeline = Gst.parse_launch(description)
        self._sink = self._pipeline.get_by_name("sink")
        self._area = area
        self._lock = threading.Lock()
        self._last: Screenshot | None = None
        self._expected: float | None = None
        self._latency = 0.03  # running estimate of input-to-frame latency, seconds
        if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self.close()
            raise CaptureError(f"the GStreamer pipeline for PipeWire node {node} would not start")

    def grab(self) -> Screenshot:
        with self._lock:
            if self._last is None:
                sample = self._sink.try_pull_sample(int(FIRST_FRAME_S * self._gst.SECOND))
                if sample is None:
                    raise CaptureError(f"no frame from the screen cast within {FIRST_FRAME_S:g} s")
                self._last = self._screenshot(sample)
            if self._expected is not None:
                self._frames_after(self._expected)
                self._expected = None
            sample = self._sink.try_pull_sample(0)
            if sample is not None:
                self._last = self._screenshot(sample)
            return self._last

    def expect_change(self) -> None:
        """Input was just sent: the next `grab` waits for the frames it causes (see the module's docstring)."""
        with self._lock:
            self._expected = time.monotonic()

    def _frames_after(self, since: float) -> None:
        """Pull the frames input at `since` causes until they stop. The waits scale with how late frames come
        now (a loaded machine delivers them later and further apart): no frame for max(NO_FRAME_S, 4x the
        usual input-to-frame latency) means none is coming; after a frame, max(QUIET_S, 1.5x this one's
        latency) without another means the drawing is done."""
        quiet = None
        while True:
            now = time.monotonic()
            if quiet is None:
                budget = since + max(NO_FRAME_S, LATE_FACTOR * self._latency) - now
            else:
                budget = min(quiet, since + MAX_WAIT_S - now)
            if budget <= 0:
                return
            sample = self._sink.try_pull_sample(int(budget * self._gst.SECOND))
            if sample is None:
                return
            self._last = self._screenshot(sample)
            if quiet is None:
                latency = time.monotonic() - since
                self._latency = 0.7 * self._latency + 0.3 * latency
                quiet = max(QUIET_S, 1.5 * latency)

    def frame_geometry(self) -> tuple[float, int, int]:
        """The newest frame's scale (physical per logical pixel), width and height, without pulling a frame."""
        with self._lock:
            shot = self._last
        if shot is None:
            shot = self.grab()
        return shot.scale, shot.monitor.width, shot.monitor.height

    def wait_frame(self, timeout: float) -> Screenshot | None:
        """The next new frame within `timeout` seconds, or None (for latency measurements)."""
        with self._lock:
            sample = self._sink.try_pull_sample(int(timeout * self._gst.SECOND))
            if sample is None:
                return None
            self._last = self._screenshot(sample)
            return self._last

    def _screenshot(self, sample: Any) -> Screenshot:
        caps = sample.get_caps().get_structure(0)
        width, height = caps.get_value("width"), caps.get_value("height")
        buffer = sample.get_buffer()
        data = buffer.extract_dup(0, buffer.get_size())
        stride = len(data) // height if height else 0
        if stride != width * 4:  # padded rows: keep the pixels only
            data = b"".join(data[r * stride: r * stride + width * 4] for r in range(height))
        x, y, logical_w, _logical_h = self._area
        scale = width / logical_w if logical_w else 1.0
        monitor = Monitor(round(x * scale), round(y * scale), width, height)
        return Screenshot(monitor=monitor, scale=scale, captured_at=time.time(), bgra=data)

    def close(self) -> None:
        self._pipeline.set_state(self._gst.State.NULL)
