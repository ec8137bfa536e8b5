"""Open the gnome backend: which path reaches mutter (`screen.gnome_via`), then the computer or a capture.

`auto` takes the portal when xdg-desktop-portal offers RemoteDesktop on the session bus (a real GNOME
session: the user consents in GNOME's dialog, once where the portal keeps a restore token), and
mutter's own API otherwise (headless mutter, CI, kiosks: no portal, no dialog). `mutter` and `portal`
force a path. Not for: deciding that this is a GNOME session (actions.backends).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from actions.geometry import Screenshot
from actions.gnome.bus import Bus, GnomeUnavailable
from actions.gnome.computer import GnomeComputer
from actions.gnome.session import RemoteSession

Via = Literal["auto", "mutter", "portal"]
Say = Callable[[str], Any]


def resolve_via(via: Via, bus: Bus) -> Literal["mutter", "portal"]:
    if via != "auto":
        return via
    from actions.gnome.portal import offers_remote_desktop

    return "portal" if offers_remote_desktop(bus) else "mutter"


def probe(via: Via = "auto") -> Literal["mutter", "portal"]:
    """Check that the gnome backend can start here — the session bus, the service the path needs, PyGObject
    with GStreamer's PipeWire source — without opening a session (so no consent dialog). Returns the path;
    raises `GnomeUnavailable` with one line."""
    from actions.gnome.gst import import_gst
    from actions.gnome.mutter import require_remote_desktop

    bus = Bus()
    try:
        path = resolve_via(via, bus)
        if path == "mutter":
            require_remote_desktop(bus)
        if path == "portal":
            from actions.gnome.portal import offers_remote_desktop

            if not offers_remote_desktop(bus):
                raise GnomeUnavailable("xdg-desktop-portal offers no RemoteDesktop portal on the session bus")
    finally:
        bus.close()
    import_gst()
    return path


def open_computer(monitor: int = 1, via: Via = "auto", token_file: Path | None = None,
                  say: Say = print) -> GnomeComputer:
    """The gnome computer on the session bus; `token_file` keeps the portal's restore token."""
    bus = Bus()
    try:
        session = _session(bus, monitor, resolve_via(via, bus), token_file, say)
    except Exception:
        bus.close()
        raise
    return GnomeComputer(session, bus)


def _session(bus: Bus, monitor: int, via: str, token_file: Path | None, say: Say) -> RemoteSession:
    if via == "portal":
        from actions.gnome.portal import PortalSession

        return PortalSession(bus, token_file, say=say)
    from actions.gnome.mutter import MutterSession

    return MutterSession(bus, monitor)


class GnomeCapture:
    """Capture only, on a screen-cast session of its own (replay's observer captures from its own thread). On
    the portal path that is a ScreenCast portal session, with its own restore token beside the computer's."""

    def __init__(self, monitor: int = 1, via: Via = "auto", token_file: Path | None = None) -> None:
        from actions.gnome.capture import PipeWireCapture

        self._bus = Bus()
        self._session: Any = None
        try:
            if resolve_via(via, self._bus) == "portal":
                from actions.gnome.portal import PortalSession

                # a screen-cast session's token is its own: sharing the file would spoil the remote desktop's
                screencast_token = None if token_file is None else token_file.with_name(token_file.name + "-screencast")
                self._session = PortalSession(self._bus, screencast_token, devices=False)
            else:
                from actions.gnome.mutter import ScreenCastOnly

                self._session = ScreenCastOnly(self._bus, monitor)
            stream = self._session.stream
            self._capture = PipeWireCapture(stream.node, stream.area, stream.fd)
        except Exception:
            self.close()
            raise

    def grab(self) -> Screenshot:
        return self._capture.grab()

    def close(self) -> None:
        for part in ("_capture", "_session"):
            thing = getattr(self, part, None)
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # the session may be gone already
                    pass
        self._bus.close()


__all__ = ["GnomeCapture", "GnomeUnavailable", "open_computer", "resolve_via"]
