"""Round trips past the X server: wait until the window manager, or the focused application, has handled
everything sent before.

XSync only proves the server has processed our requests; other clients work through their event queues
at their own pace. After a keyboard mapping change this matters: every client gets a MappingNotify,
and a window manager re-reads the keymap and re-grabs all its key bindings (openbox: 50-100 ms per
change, one round trip per grab), while its synchronous click-to-focus button grab holds the next
click until it is done (measured in Chromium under openbox: 70-100 ms later per mapping change,
1.5 s after 20 per-character changes). Waiting here, once per batch of changes, puts that cost in the
typing action instead of the application's reaction to the next click.

* `window_manager()`: asks the EWMH window manager for the frame extents of an unmapped window of
  ours (`_NET_REQUEST_FRAME_EXTENTS`); it answers by setting `_NET_FRAME_EXTENTS`, in event order, so
  the answer proves it has handled every event before the request. No such manager: nothing to wait for.
* `application()`: sends `_NET_WM_PING` to the toplevel holding the keyboard focus, when it takes part
  in that protocol (Chromium, GTK and Qt do; Tk 8.6 does not); its answer proves it has handled what
  was sent before: the key events, the mapping change.

Both are bounded by a timeout and say whether an answer came. Not for: keyboard mapping logic.
"""

from __future__ import annotations

import itertools
import select
import time
from typing import Any

WM_TIMEOUT_S = 2.0
APP_TIMEOUT_S = 1.0


class RoundTrips:
    def __init__(self, display: Any) -> None:
        from Xlib import X

        self._d = display
        self._root = display.screen().root
        self._window = self._root.create_window(0, 0, 1, 1, 0, X.CopyFromParent, event_mask=X.PropertyChangeMask)
        self._atom = {name: display.intern_atom(name) for name in (
            "_NET_SUPPORTED", "_NET_SUPPORTING_WM_CHECK", "_NET_REQUEST_FRAME_EXTENTS", "_NET_FRAME_EXTENTS",
            "WM_PROTOCOLS", "_NET_WM_PING")}
        self._serial = itertools.count(1)
        self.wm_answers = True  # False once a manager that claims the protocol has let a request time out

    def window_manager(self, timeout: float = WM_TIMEOUT_S) -> bool:
        """Wait until the window manager has handled every event sent before; False: none to wait for."""
        from Xlib import X
        from Xlib.protocol import event

        if not self.wm_answers or not self._wm_supports_frame_extents():
            return False
        self._window.delete_property(self._atom["_NET_FRAME_EXTENTS"])
        ask = event.ClientMessage(window=self._window, client_type=self._atom["_NET_REQUEST_FRAME_EXTENTS"],
                                  data=(32, [0, 0, 0, 0, 0]))
        self._root.send_event(ask, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)

        def answered(e: Any) -> bool:
            return (e.type == X.PropertyNotify and e.window.id == self._window.id
                    and e.atom == self._atom["_NET_FRAME_EXTENTS"] and e.state == X.PropertyNewValue)

        self.wm_answers = self._wait(answered, timeout)
        return self.wm_answers

    def application(self, timeout: float = APP_TIMEOUT_S) -> bool:
        """Ping the focused toplevel and wait for its answer; False if it does not take part or is silent."""
        from Xlib import X
        from Xlib.protocol import event

        window = self._focused_pingable()
        if window is None:
            return False
        serial = next(self._serial)
        self._root.change_attributes(event_mask=X.SubstructureNotifyMask)  # the answer goes to the root
        try:
            ping = event.ClientMessage(window=window, client_type=self._atom["WM_PROTOCOLS"],
                                       data=(32, [self._atom["_NET_WM_PING"], serial, window.id, 0, 0]))
            window.send_event(ping, event_mask=X.NoEventMask)

            def answered(e: Any) -> bool:
                return (e.type == X.ClientMessage and e.client_type == self._atom["WM_PROTOCOLS"]
                        and e.data[1][0] == self._atom["_NET_WM_PING"] and e.data[1][1] == serial)

            return self._wait(answered, timeout)
        finally:
            self._root.change_attributes(event_mask=X.NoEventMask)
            self._d.sync()

    def close(self) -> None:
        self._window.destroy()

    def _wm_supports_frame_extents(self) -> bool:
        from Xlib import Xatom

        check = self._root.get_full_property(self._atom["_NET_SUPPORTING_WM_CHECK"], Xatom.WINDOW)
        supported = self._root.get_full_property(self._atom["_NET_SUPPORTED"], Xatom.ATOM)
        return bool(check and supported and self._atom["_NET_REQUEST_FRAME_EXTENTS"] in supported.value)

    def _focused_pingable(self) -> Any:
        """The focused window or its nearest ancestor listing _NET_WM_PING in WM_PROTOCOLS, else None."""
        from Xlib import Xatom
        from Xlib.error import XError

        window = self._d.get_input_focus().focus
        try:
            while isinstance(window, type(self._root)) and window.id != self._root.id:
                protocols = window.get_full_property(self._atom["WM_PROTOCOLS"], Xatom.ATOM)
                if protocols is not None and self._atom["_NET_WM_PING"] in protocols.value:
                    return window
                window = window.query_tree().parent
        except XError:  # the window went away meanwhile
            return None
        return None

    def _wait(self, answered: Any, timeout: float) -> bool:
        d = self._d
        d.flush()
        deadline = time.monotonic() + timeout
        while True:
            while d.pending_events():
                if answered(d.next_event()):
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([d], [], [], min(left, 0.05))
