"""Screen capture with mss: one chosen monitor, physical pixels, its virtual-desktop geometry.

Not for: resizing for a model (policies) or writing images (the trace recorder).
mss is imported lazily because it connects to the X server.
"""

from __future__ import annotations

import time
from typing import Any

from actions.errors import DeskpilotError
from actions.geometry import Monitor, Screenshot


class CaptureError(DeskpilotError, RuntimeError):
    """The screen could not be captured (no display, or no such monitor)."""


def one_scale(scales: list[float]) -> float:
    """The scale the monitors `scales` share, for monitor 0 (all joined into one image); a CaptureError
    naming the monitors to pick instead when they differ (one image pixel would be two sizes)."""
    distinct = sorted({round(scale, 4) for scale in scales})
    if len(distinct) > 1:
        raise CaptureError(f"monitor 0 joins the monitors into one image only when they share one scale; these have "
                           f"{', '.join(f'{s:g}' for s in distinct)}: set screen.monitor to one of 1..{len(scales)}")
    return scales[0]


class MssCapture:
    """Captures monitor `index` (mss numbering: 1 = first monitor, 0 = all of them joined)."""

    def __init__(self, index: int = 1, scale: float = 1.0, display: str | None = None) -> None:
        try:
            import mss
        except ImportError as exc:  # pragma: no cover - mss is a core dependency
            raise CaptureError("mss is not installed: pip install mss") from exc
        kwargs: dict[str, Any] = {"display": display} if display else {}
        try:
            self._sct = mss.MSS(**kwargs) if hasattr(mss, "MSS") else mss.mss(**kwargs)
        except Exception as exc:  # mss raises ScreenShotError or OSError without a display
            raise CaptureError(f"cannot open the display for capture: {exc}") from None
        monitors = self._sct.monitors
        if not 0 <= index < len(monitors):
            raise CaptureError(f"monitor {index} does not exist; this display has {len(monitors) - 1}")
        raw = monitors[index]
        self.monitor = Monitor(raw["left"], raw["top"], raw["width"], raw["height"])
        self.scale = scale
        self._display = display
        self._changes: Any = None  # the DAMAGE watch, opened on first use; False: this display has none

    def grab(self) -> Screenshot:
        """Capture the monitor; the raw BGRX buffer is kept as is (no conversion here)."""
        m = self.monitor
        shot = self._sct.grab({"left": m.left, "top": m.top, "width": m.width, "height": m.height})
        return Screenshot(monitor=m, scale=self.scale, captured_at=time.time(), bgra=shot.raw)

    def screen_changes(self) -> Any:
        """A DAMAGE watch on this display (actions.x11damage), opened once; None where it has none."""
        if self._changes is None:
            from actions.x11damage import DamageUnavailable, DamageWatch

            try:
                self._changes = DamageWatch(self._display)
            except DamageUnavailable:
                self._changes = False
        return self._changes or None

    def close(self) -> None:
        if self._changes:
            self._changes.close()
        self._sct.close()
