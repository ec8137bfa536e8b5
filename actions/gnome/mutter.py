"""mutter's own remote desktop: a RemoteDesktop session linked to a ScreenCast session, over D-Bus.

`org.gnome.Mutter.RemoteDesktop.CreateSession`, then a ScreenCast session carrying its SessionId,
`RecordMonitor` on the chosen monitor's connector (cursor hidden, as mss leaves it out on X11; for
`screen.monitor: 0`, `RecordArea` on the layout's bounding box, as mss's monitor 0), and
`Start`: the stream's `PipeWireStreamAdded` signal gives the PipeWire node. No dialog: mutter trusts
every client of the session bus (headless mutter, CI, kiosks; a real GNOME session asks through the
portal instead, see `portal`). Catch (WAYLAND.md): the first event of each virtual device is dropped,
so a throwaway motion and Shift go first. Not for: capture or the clipboard's logic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actions.capture import CaptureError, one_scale
from actions.gnome.bus import Bus, GnomeUnavailable
from actions.gnome.session import Stream, fd_number

RD_NAME, RD_PATH = "org.gnome.Mutter.RemoteDesktop", "/org/gnome/Mutter/RemoteDesktop"
SC_NAME, SC_PATH = "org.gnome.Mutter.ScreenCast", "/org/gnome/Mutter/ScreenCast"
RD_SESSION, SC_SESSION = "org.gnome.Mutter.RemoteDesktop.Session", "org.gnome.Mutter.ScreenCast.Session"
SC_STREAM = "org.gnome.Mutter.ScreenCast.Stream"
DC_NAME, DC_PATH = "org.gnome.Mutter.DisplayConfig", "/org/gnome/Mutter/DisplayConfig"
CURSOR_HIDDEN = 0


def connectors(bus: Bus) -> list[tuple[str, int, int]]:
    """The monitors' connectors with their logical positions, in mss order (left to right, top to bottom)."""
    try:
        _serial, _monitors, logical, _props = bus.call(DC_NAME, DC_PATH, DC_NAME, "GetCurrentState")
    except GnomeUnavailable as exc:
        raise GnomeUnavailable(f"cannot read mutter's monitors (DisplayConfig): {exc}") from None
    found = [(specs[0][0], x, y) for x, y, _scale, _transform, _primary, specs, _p in logical if specs]
    return sorted(found, key=lambda c: (c[1], c[2]))


def layout_box(bus: Bus) -> tuple[int, int, int, int]:
    """The bounding box of all monitors in mutter's layout coordinates (left, top, width, height), for
    monitor 0; a CaptureError when they have different scales in the logical layout (one stream pixel
    would be two sizes there)."""
    try:
        _serial, monitors, logical, props = bus.call(DC_NAME, DC_PATH, DC_NAME, "GetCurrentState")
    except GnomeUnavailable as exc:
        raise GnomeUnavailable(f"cannot read mutter's monitors (DisplayConfig): {exc}") from None
    modes = {spec[0]: next((m for m in modes if m[6].get("is-current", ("b", False))[1]), None)
             for spec, modes, _props in monitors}
    physical = props.get("layout-mode", ("u", 1))[1] == 2  # else logical: sizes are the mode over the scale
    boxes, scales = [], []
    for x, y, scale, _transform, _primary, specs, _p in logical:
        mode = modes.get(specs[0][0]) if specs else None
        if mode is None:
            continue
        divide = 1.0 if physical else scale
        boxes.append((x, y, x + round(mode[1] / divide), y + round(mode[2] / divide)))
        scales.append(scale)
    if not physical:
        one_scale(scales)
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    return left, top, max(b[2] for b in boxes) - left, max(b[3] for b in boxes) - top


def start_stream(bus: Bus, monitor: int, remote_desktop: str | None,
                 start: Callable[[], Any] | None = None) -> tuple[str, Stream]:
    """A ScreenCast session recording monitor `monitor` (1-based; 0: the area of all of them), linked to
    `remote_desktop`'s session id when given, started (by `start`, else the screen cast's own Start):
    its path and its stream."""
    monitors = connectors(bus)
    if not 0 <= monitor <= len(monitors):
        raise CaptureError(f"monitor {monitor} does not exist; mutter has {len(monitors)} monitor(s) "
                           "(0 joins them all)")
    props: dict[str, Any] = {}
    if remote_desktop is not None:
        session_id = bus.get_property(RD_NAME, remote_desktop, RD_SESSION, "SessionId")
        props["remote-desktop-session-id"] = ("s", session_id)
    hidden = {"cursor-mode": ("u", CURSOR_HIDDEN)}
    box = layout_box(bus) if monitor == 0 else None
    (cast,) = bus.call(SC_NAME, SC_PATH, SC_NAME, "CreateSession", "a{sv}", props)
    if box is not None:
        (stream,) = bus.call(SC_NAME, cast, SC_SESSION, "RecordArea", "iiiia{sv}", *box, hidden)
    else:
        (stream,) = bus.call(SC_NAME, cast, SC_SESSION, "RecordMonitor", "sa{sv}", monitors[monitor - 1][0], hidden)
    begin = start or (lambda: bus.call(SC_NAME, cast, SC_SESSION, "Start"))
    added = bus.wait_signal(begin, path=stream, interface=SC_STREAM, member="PipeWireStreamAdded")
    if box is not None:  # an area stream has no position or size parameters: it is the area asked for
        return cast, Stream(node=int(added.body[0]), area=box, handle=stream)
    params = bus.get_property(SC_NAME, stream, SC_STREAM, "Parameters")
    (x, y), (w, h) = params["position"][1], params["size"][1]
    return cast, Stream(node=int(added.body[0]), area=(x, y, w, h), handle=stream)


def require_remote_desktop(bus: Bus) -> None:
    """GnomeUnavailable (one line) unless mutter's RemoteDesktop service is on `bus`."""
    if not bus.has_name(RD_NAME):
        raise GnomeUnavailable("mutter's RemoteDesktop service (org.gnome.Mutter.RemoteDesktop) is not on the "
                               "session bus: is this a GNOME Wayland session?")


class MutterSession:
    """Input and one monitor's stream through mutter's RemoteDesktop + ScreenCast."""

    via = "mutter"

    def __init__(self, bus: Bus, monitor: int = 1) -> None:
        self._bus = bus
        require_remote_desktop(bus)
        (self._path,) = bus.call(RD_NAME, RD_PATH, RD_NAME, "CreateSession")
        try:
            _cast, self.stream = start_stream(bus, monitor, self._path, lambda: self._rd("Start"))
        except Exception:
            self.close()
            raise
        self.selection = MutterSelection(bus, self._path)
        # each virtual device drops its first event (WAYLAND.md): spend it on ones that change nothing
        self._rd("NotifyPointerMotionRelative", "dd", 0.0, 0.0)
        self.keysym(0xFFE1, True)
        self.keysym(0xFFE1, False)

    def _rd(self, method: str, signature: str = "", *args: Any) -> tuple[Any, ...]:
        return self._bus.call(RD_NAME, self._path, RD_SESSION, method, signature, *args)

    def _notify(self, wait: bool, method: str, signature: str, *args: Any) -> None:
        if wait:
            self._rd(method, signature, *args)
        else:
            self._bus.send(RD_NAME, self._path, RD_SESSION, method, signature, *args)

    def motion(self, x: float, y: float, wait: bool = True) -> None:
        self._notify(wait, "NotifyPointerMotionAbsolute", "sdd", self.stream.handle, float(x), float(y))

    def button(self, code: int, pressed: bool, wait: bool = True) -> None:
        self._notify(wait, "NotifyPointerButton", "ib", code, pressed)

    def axis(self, axis: int, steps: int, wait: bool = True) -> None:
        self._notify(wait, "NotifyPointerAxisDiscrete", "ui", axis, steps)

    def keysym(self, sym: int, pressed: bool, wait: bool = True) -> None:
        self._notify(wait, "NotifyKeyboardKeysym", "ub", sym, pressed)

    def close(self) -> None:
        try:
            self._rd("Stop")
        except Exception:  # already closed by mutter, or mutter is gone
            pass


class ScreenCastOnly:
    """A stream without input (replay's observer captures on a session of its own)."""

    def __init__(self, bus: Bus, monitor: int = 1) -> None:
        self._bus = bus
        self._path, self.stream = start_stream(bus, monitor, None)

    def close(self) -> None:
        try:
            self._bus.call(SC_NAME, self._path, SC_SESSION, "Stop")
        except Exception:  # already closed
            pass


class MutterSelection:
    """The clipboard calls of a mutter RemoteDesktop session."""

    def __init__(self, bus: Bus, path: str) -> None:
        self._bus, self._path = bus, path

    def _call(self, method: str, signature: str = "", *args: Any) -> tuple[Any, ...]:
        return self._bus.call(RD_NAME, self._path, RD_SESSION, method, signature, *args)

    def enable(self, on_owner: Callable[[dict[str, Any]], None], on_transfer: Callable[[str, int], None]) -> None:
        self._bus.subscribe(lambda m: on_owner({k: v[1] for k, v in m.body[0].items()}),
                            path=self._path, interface=RD_SESSION, member="SelectionOwnerChanged")
        self._bus.subscribe(lambda m: on_transfer(m.body[0], m.body[1]),
                            path=self._path, interface=RD_SESSION, member="SelectionTransfer")
        self._call("EnableClipboard", "a{sv}", {})

    def set(self, mime_types: list[str]) -> None:
        self._call("SetSelection", "a{sv}", {"mime-types": ("as", mime_types)} if mime_types else {})

    def write(self, serial: int) -> int:
        return fd_number(self._call("SelectionWrite", "u", serial)[0])

    def write_done(self, serial: int, ok: bool) -> None:
        self._call("SelectionWriteDone", "ub", serial, ok)

    def read(self, mime_type: str) -> int:
        return fd_number(self._call("SelectionRead", "s", mime_type)[0])
