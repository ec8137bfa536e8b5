"""Whose input it is, told by X input device: an XInput2 watch that calls every press and motion
from a device other than the core XTEST ones a person's.

The agent's executors (pyautogui, pynput) inject through XTest, so their events come from the
"Virtual core XTEST pointer" and "Virtual core XTEST keyboard" slave devices; a person's hands come
from real devices (a mouse, a touchpad, a keyboard), each a slave device of its own. XI2 raw events
name their source device and reach the root window whatever windows or grabs are in the way, so a
raw motion, button press or key press (not an autorepeat) from any other device is a person's, at
once: no time window, during long typing, drags and waits alike. Input that itself comes through
the core XTEST devices (xdotool, a VNC server's viewer) cannot be told from the agent's here; the
ledger in `agent.safety.takeover` judges that. python-xlib parses XI2 device events but not raw
ones, nor asks for XI 2.2, so the two structures it lacks are declared here.
Not for: deciding what a person's input means for the run (`agent.safety.takeover`).
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable
from typing import Any

SYNTHETIC = ("Virtual core XTEST pointer", "Virtual core XTEST keyboard")
KEY_REPEAT = 1 << 16  # XIKeyRepeat in a key event's flags
POLL_S = 0.05


class DeviceWatch:
    """Calls `on_person(what)` for each press or motion from a non-XTEST device (on its own thread)."""

    def __init__(self, on_person: Callable[[str], None], display: str | None = None) -> None:
        self.on_person, self.display_name = on_person, display
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._names: dict[int, str] = {}
        self._synthetic: set[int] = set()

    def start(self) -> None:
        """Connect, check XInput 2.2, select raw events; raises when the display has no XInput2."""
        from Xlib import display as xdisplay
        from Xlib.ext import xinput

        dpy = xdisplay.Display(self.display_name)
        try:
            if not dpy.has_extension(xinput.extname):
                raise RuntimeError("the X server has no XInput extension")
            opcode = dpy.display.get_extension_major(xinput.extname)
            version = _query_version(dpy, opcode)
            if (version.major_version, version.minor_version) < (2, 2):
                raise RuntimeError(f"XInput {version.major_version}.{version.minor_version} < 2.2")
            raw = _raw_event_struct()
            for event in (xinput.RawMotion, xinput.RawButtonPress, xinput.RawKeyPress):
                dpy.ge_add_event_data(opcode, event, raw)
            mask = xinput.RawMotionMask | xinput.RawButtonPressMask | xinput.RawKeyPressMask
            dpy.screen().root.xinput_select_events([(xinput.AllMasterDevices, mask),  # one event per input
                                                    (xinput.AllDevices, xinput.HierarchyChangedMask)])
            self._learn_devices(dpy)
            dpy.sync()
        except Exception:
            dpy.close()
            raise
        self._thread = threading.Thread(target=self._run, args=(dpy, opcode), daemon=True, name="takeover-devices")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None

    def _run(self, dpy: Any, opcode: int) -> None:
        from Xlib.ext import xinput

        try:
            while not self._stop.is_set():
                if not dpy.pending_events() and not select.select([dpy.fileno()], [], [], POLL_S)[0]:
                    continue
                while dpy.pending_events() and not self._stop.is_set():
                    event = dpy.next_event()
                    if getattr(event, "extension", None) != opcode:
                        continue
                    if event.evtype == xinput.HierarchyChanged:
                        self._learn_devices(dpy)
                    elif (what := self._persons(event, xinput)) is not None:
                        self.on_person(what)
        except Exception:  # the display went away: nothing more to watch
            pass
        finally:
            dpy.close()

    def _persons(self, event: Any, xinput: Any) -> str | None:
        """What the person did, or None when the event is the agent's kind (XTEST) or a key's autorepeat."""
        source = event.data.sourceid
        if source in self._synthetic:
            return None
        device = self._names.get(source, f"device {source}")
        if event.evtype == xinput.RawMotion:
            return f"the pointer moved ({device})"
        if event.evtype == xinput.RawButtonPress:
            return f"a mouse button was pressed ({device})"
        if event.data.flags & KEY_REPEAT:
            return None
        return f"a key was pressed ({device})"

    def _learn_devices(self, dpy: Any) -> None:
        from Xlib.ext import xinput

        devices = dpy.xinput_query_device(xinput.AllDevices).devices
        self._names = {d.deviceid: str(d.name) for d in devices}
        self._synthetic = {d.deviceid for d in devices if str(d.name) in SYNTHETIC}


def _query_version(dpy: Any, opcode: int) -> Any:
    from Xlib.protocol import rq

    class XIQueryVersion(rq.ReplyRequest):  # python-xlib's own always asks for 2.0
        _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(47), rq.RequestLength(),
                             rq.Card16("major_version"), rq.Card16("minor_version"))
        _reply = rq.Struct(rq.ReplyCode(), rq.Pad(1), rq.Card16("sequence_number"), rq.ReplyLength(),
                           rq.Card16("major_version"), rq.Card16("minor_version"), rq.Pad(20))

    return XIQueryVersion(display=dpy.display, opcode=opcode, major_version=2, minor_version=2)


def _raw_event_struct() -> Any:
    """xXIRawEvent after its generic-event header (the valuators that follow are not needed)."""
    from Xlib.protocol import rq

    return rq.Struct(rq.Card16("deviceid"), rq.Card32("time"), rq.Card32("detail"), rq.Card16("sourceid"),
                     rq.Card16("valuators_len"), rq.Card32("flags"), rq.Pad(4))
