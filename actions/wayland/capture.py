"""Screen capture on wlroots: the screencopy protocol into a shared-memory buffer.

One output per capture, in physical pixels; the Screenshot's monitor is the output's place in the
layout in physical pixels and its scale the output's scale, so `to_desktop` yields the compositor's
logical coordinates. The buffer is kept between captures of the same size. The cursor is left out
of the frame (as mss leaves it out on X11), so a moving pointer never reads as a changing screen.
`screen.monitor: 0` (`JoinedCapture`, as mss's monitor 0 on X11): every output captured and laid on
one canvas, the layout's bounding box in physical pixels (parts no output covers stay black). Only
where the outputs share one scale: with two, one screenshot pixel would be two sizes, so the line
says which monitor to pick instead. `capture_for` makes the one the monitor number asks for.
Not for: input (the computer), or which outputs exist (the connection).
"""

from __future__ import annotations

import mmap
import os
import time
from typing import Any

from actions.capture import CaptureError, one_scale
from actions.geometry import Monitor, Screenshot
from actions.wayland.client import Connection, Output

_XRGB8888, _ARGB8888 = 1, 0  # wl_shm formats; both are B, G, R, X/A bytes in memory
_Y_INVERT = 1


class ScreencopyCapture:
    def __init__(self, conn: Connection, output: Output) -> None:
        from pywayland.protocol.wayland import WlShm

        from actions.wayland.generated.wlr_screencopy_unstable_v1 import ZwlrScreencopyManagerV1

        self._conn, self._output = conn, output
        self._manager = conn.bind("zwlr_screencopy_manager_v1", ZwlrScreencopyManagerV1, 1)
        self._shm = conn.bind("wl_shm", WlShm, 1)
        self._buffer: tuple[tuple[int, int, int, int], Any, mmap.mmap, Any] | None = None
        scale = output.width / output.logical[2]  # physical per logical pixel (fractional scales too)
        self.monitor = Monitor(round(output.x * scale), round(output.y * scale), output.width, output.height)
        self.scale = scale

    def grab(self) -> Screenshot:
        frame = self._manager.capture_output(0, self._output.proxy)
        state: dict[str, Any] = {}
        frame.dispatcher["buffer"] = lambda _f, fmt, w, h, stride: state.__setitem__("buffer", (fmt, w, h, stride))
        frame.dispatcher["flags"] = lambda _f, flags: state.__setitem__("flags", flags)
        frame.dispatcher["ready"] = lambda _f, *_t: state.__setitem__("done", True)
        frame.dispatcher["failed"] = lambda _f: state.__setitem__("done", False)
        display = self._conn.display
        display.roundtrip()  # the buffer event comes at once
        if "buffer" not in state:
            frame.destroy()
            raise CaptureError("the compositor sent no screencopy buffer description")
        wl_buffer, data = self._shm_buffer(state["buffer"])
        frame.copy(wl_buffer)
        deadline = time.monotonic() + 5.0
        while "done" not in state:
            if time.monotonic() > deadline:
                frame.destroy()
                raise CaptureError("screencopy timed out after 5 s")
            display.dispatch(block=True)
        frame.destroy()
        if not state["done"]:
            raise CaptureError("the compositor failed the screencopy")
        return self._screenshot(state, data)

    def _screenshot(self, state: dict[str, Any], data: mmap.mmap) -> Screenshot:
        _fmt, width, height, stride = state["buffer"]
        raw = bytes(data[: stride * height])
        if stride != width * 4 or state.get("flags", 0) & _Y_INVERT:
            rows = [raw[r * stride: r * stride + width * 4] for r in range(height)]
            raw = b"".join(reversed(rows) if state.get("flags", 0) & _Y_INVERT else rows)
        monitor = self.monitor
        if (width, height) != (monitor.width, monitor.height):  # the output changed mode: follow it
            monitor = self.monitor = Monitor(monitor.left, monitor.top, width, height)
        return Screenshot(monitor=monitor, scale=self.scale, captured_at=time.time(), bgra=raw)

    def _shm_buffer(self, spec: tuple[int, int, int, int]) -> tuple[Any, mmap.mmap]:
        if self._buffer is not None and self._buffer[0] == spec:
            return self._buffer[1], self._buffer[2]
        fmt, width, height, stride = spec
        if fmt not in (_XRGB8888, _ARGB8888):
            raise CaptureError(f"unsupported screencopy format {fmt:#x} (want XRGB8888 or ARGB8888)")
        self._release()
        size = stride * height
        fd = os.memfd_create("deskpilot-screencopy")
        try:
            os.ftruncate(fd, size)
            data = mmap.mmap(fd, size)
            pool = self._shm.create_pool(fd, size)
        finally:
            os.close(fd)
        wl_buffer = pool.create_buffer(0, width, height, stride, fmt)
        pool.destroy()
        self._buffer = (spec, wl_buffer, data, None)
        return wl_buffer, data

    def _release(self) -> None:
        if self._buffer is not None:
            self._buffer[1].destroy()
            self._buffer[2].close()
            self._buffer = None

    def close(self) -> None:
        self._release()


class JoinedCapture:
    """All outputs on one canvas: `screen.monitor: 0`. The outputs must share one scale."""

    def __init__(self, conn: Connection) -> None:
        self._parts = [ScreencopyCapture(conn, output) for output in conn.outputs]
        try:
            self.scale = one_scale([part.scale for part in self._parts])
        except CaptureError:
            self.close()
            raise
        left, top, width, height = conn.layout()
        self.monitor = Monitor(round(left * self.scale), round(top * self.scale), round(width * self.scale),
                               round(height * self.scale))

    def grab(self) -> Screenshot:
        import numpy as np

        m = self.monitor
        canvas = np.zeros((m.height, m.width), dtype=np.uint32)  # BGRX words; black where no output is
        for part in self._parts:
            shot = part.grab()
            x, y = shot.monitor.left - m.left, shot.monitor.top - m.top
            pixels = shot.pixels()[: m.height - y, : m.width - x]  # an output rounded a pixel past the box
            canvas[y:y + pixels.shape[0], x:x + pixels.shape[1]] = pixels
        return Screenshot(monitor=m, scale=self.scale, captured_at=time.time(), bgra=canvas.tobytes())

    def close(self) -> None:
        for part in self._parts:
            part.close()


def capture_for(conn: Connection, monitor: int) -> ScreencopyCapture | JoinedCapture:
    """The capture `screen.monitor` asks for: 0 all outputs joined, 1.. one output (ordered by layout)."""
    outputs = conn.outputs
    if monitor == 0:
        return JoinedCapture(conn)
    if not 1 <= monitor <= len(outputs):
        raise CaptureError(f"monitor {monitor} does not exist; this compositor has {len(outputs)} output(s) "
                           "(0 joins them all)")
    return ScreencopyCapture(conn, outputs[monitor - 1])


class WlrootsCapture:
    """Capture only, on a connection of its own (replay's observer captures from the policy's thread)."""

    def __init__(self, monitor: int = 1, display: str | None = None) -> None:
        from actions.wayland.client import connect

        self._conn = connect(display)
        try:
            self._capture = capture_for(self._conn, monitor)
        except Exception:
            self._conn.close()
            raise

    def grab(self) -> Screenshot:
        return self._capture.grab()

    def close(self) -> None:
        self._capture.close()
        self._conn.close()
