"""The xdg-desktop-portal path: RemoteDesktop + ScreenCast portals, so the user consents (once, with v2).

CreateSession, SelectDevices (keyboard and pointer; `persist_mode` 2 and the saved `restore_token`
where RemoteDesktop is version 2 or later), SelectSources (one monitor, cursor hidden), RequestClipboard
where the Clipboard portal exists, Start (GNOME's dialog, skipped when the token is still good), then
OpenPipeWireRemote for the PipeWire fd. Each call answers with a Request object whose `Response` signal
carries the result. The new restore token from Start is saved to `token_file` (tokens are single-use).
A version-1 portal cannot persist: the dialog comes every run, and the session says so once. Input is
the portal's Notify* calls on the session, relative to the stream. Not for: mutter's own API (mutter).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from actions.gnome.bus import Bus, CallFailed, GnomeUnavailable
from actions.gnome.session import Stream, fd_number

PORTAL, DESKTOP = "org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop"
RD, SC, CLIP = ("org.freedesktop.portal.RemoteDesktop", "org.freedesktop.portal.ScreenCast",
                "org.freedesktop.portal.Clipboard")
REQUEST, SESSION = "org.freedesktop.portal.Request", "org.freedesktop.portal.Session"
KEYBOARD, POINTER, MONITOR, CURSOR_HIDDEN, PERSIST_UNTIL_REVOKED = 1, 2, 1, 1, 2
CONSENT_WAIT_S = 300.0  # the user reads GNOME's dialog
RESPONSES = {1: "the request was cancelled (the user declined in the dialog)", 2: "the portal failed the request"}


def offers_remote_desktop(bus: Bus) -> bool:
    try:
        return bus.has_name(PORTAL) and int(bus.get_property(PORTAL, DESKTOP, RD, "version")) >= 1
    except GnomeUnavailable:
        return False


class PortalSession:
    """A portal remote-desktop session (or, with `devices=False`, a screen cast only)."""

    via = "portal"

    def __init__(self, bus: Bus, token_file: Path | None, devices: bool = True,
                 say: Callable[[str], Any] = print) -> None:
        self._bus, self._token_file = bus, token_file
        self._sender = bus.unique_name.lstrip(":").replace(".", "_")
        if not offers_remote_desktop(bus):
            raise GnomeUnavailable("xdg-desktop-portal's RemoteDesktop portal is not on the session bus")
        kind = RD if devices else SC
        self._version = int(bus.get_property(PORTAL, DESKTOP, kind, "version"))
        persist = self._version >= (2 if devices else 4)
        results = self._request(kind, "CreateSession", "a{sv}", {"session_handle_token": ("s", self._token())})
        self._session = str(results["session_handle"])
        try:
            self._open(devices, persist, say)
        except Exception:
            self.close()
            raise

    def _open(self, devices: bool, persist: bool, say: Callable[[str], Any]) -> None:
        remember: dict[str, Any] = {}
        if persist:
            remember["persist_mode"] = ("u", PERSIST_UNTIL_REVOKED)
            saved = self._saved_token()
            if saved:
                remember["restore_token"] = ("s", saved)
        else:
            say(f"the desktop's {'RemoteDesktop' if devices else 'ScreenCast'} portal is version {self._version}: "
                "it cannot remember consent, so GNOME asks to share the screen on every run")
        if devices:
            devices_options = {"types": ("u", KEYBOARD | POINTER), **remember}
            self._request(RD, "SelectDevices", "oa{sv}", self._session, devices_options)
        sources: dict[str, Any] = {"types": ("u", MONITOR), "multiple": ("b", False)}
        if int(self._bus.get_property(PORTAL, DESKTOP, SC, "version")) >= 2:  # cursor modes came with v2
            sources["cursor_mode"] = ("u", CURSOR_HIDDEN)
        self._request(SC, "SelectSources", "oa{sv}", self._session, {**sources, **({} if devices else remember)})
        self.selection: PortalSelection | None = None
        if devices and self._has_clipboard():
            self._bus.call(PORTAL, DESKTOP, CLIP, "RequestClipboard", "oa{sv}", self._session, {})
            self.selection = PortalSelection(self._bus, self._session)
        results = self._request(RD if devices else SC, "Start", "osa{sv}", self._session, "", {},
                                timeout=CONSENT_WAIT_S)
        if self.selection is not None and not results.get("clipboard_enabled", False):
            self.selection = None  # the user (or the portal) did not grant the clipboard
        if results.get("restore_token") and self._token_file is not None:
            self._save_token(str(results["restore_token"]))
        streams = results.get("streams") or []
        if not streams:
            raise GnomeUnavailable("the portal started a session without a screen-cast stream")
        node, props = streams[0]
        x, y = props.get("position", ("(ii)", (0, 0)))[1]
        w, h = props["size"][1]
        (fd,) = self._bus.call(PORTAL, DESKTOP, SC, "OpenPipeWireRemote", "oa{sv}", self._session, {})
        self.stream = Stream(node=int(node), area=(x, y, w, h), fd=fd_number(fd), handle=str(node))

    def _request(self, interface: str, method: str, signature: str, *args: Any,
                 timeout: float = 30.0) -> dict[str, Any]:
        """Call a portal method that answers through a Request object; its results, or an error."""
        token = self._token()
        options = dict(args[-1])
        options["handle_token"] = ("s", token)
        path = f"{DESKTOP}/request/{self._sender}/{token}"
        reply: list[Any] = []
        signal = self._bus.wait_signal(
            lambda: reply.append(self._bus.call(PORTAL, DESKTOP, interface, method, signature, *args[:-1], options)),
            timeout=timeout, path=path, interface=REQUEST, member="Response")
        code, results = signal.body
        if code != 0:
            raise GnomeUnavailable(f"portal {method}: {RESPONSES.get(code, f'response {code}')}")
        return {k: v[1] for k, v in results.items()}

    def _token(self) -> str:
        return f"deskpilot_{secrets.token_hex(6)}"

    def _has_clipboard(self) -> bool:
        try:
            return int(self._bus.get_property(PORTAL, DESKTOP, CLIP, "version")) >= 1
        except CallFailed:
            return False

    def _saved_token(self) -> str:
        try:
            return self._token_file.read_text().strip() if self._token_file is not None else ""
        except OSError:
            return ""

    def _save_token(self, token: str) -> None:
        path = self._token_file
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")

    def _notify(self, wait: bool, method: str, signature: str, *args: Any) -> None:
        send = self._bus.call if wait else self._bus.send
        send(PORTAL, DESKTOP, RD, method, "oa{sv}" + signature, self._session, {}, *args)

    def motion(self, x: float, y: float, wait: bool = True) -> None:
        self._notify(wait, "NotifyPointerMotionAbsolute", "udd", self.stream.node, float(x), float(y))

    def button(self, code: int, pressed: bool, wait: bool = True) -> None:
        self._notify(wait, "NotifyPointerButton", "iu", code, int(pressed))

    def axis(self, axis: int, steps: int, wait: bool = True) -> None:
        self._notify(wait, "NotifyPointerAxisDiscrete", "ui", axis, steps)

    def keysym(self, sym: int, pressed: bool, wait: bool = True) -> None:
        self._notify(wait, "NotifyKeyboardKeysym", "iu", sym, int(pressed))

    def close(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None:
            try:
                self._bus.call(PORTAL, session, SESSION, "Close")
            except Exception:  # already closed
                pass


class PortalSelection:
    """The Clipboard portal's calls for one session, with mutter's option names (see clipboard).

    Subscribes at once (before Start): the portal announces the clipboard's owner when the session starts,
    long before the first paste enables the clipboard logic, so the last announcement is kept and replayed."""

    def __init__(self, bus: Bus, session: str) -> None:
        self._bus, self._session = bus, session
        self._lock = threading.Lock()
        self._owner: dict[str, Any] | None = None
        self._handlers: tuple[Callable[[dict[str, Any]], None], Callable[[str, int], None]] | None = None
        bus.subscribe(self._on_owner, path=DESKTOP, interface=CLIP, member="SelectionOwnerChanged")
        bus.subscribe(self._on_transfer, path=DESKTOP, interface=CLIP, member="SelectionTransfer")

    def _call(self, method: str, signature: str, *args: Any) -> tuple[Any, ...]:
        return self._bus.call(PORTAL, DESKTOP, CLIP, method, "o" + signature, self._session, *args)

    def _on_owner(self, message: Any) -> None:
        session, options = message.body
        if session != self._session:
            return
        values = {k.replace("_", "-"): v[1] for k, v in options.items()}
        with self._lock:
            self._owner, handlers = values, self._handlers
        if handlers is not None:
            handlers[0](values)

    def _on_transfer(self, message: Any) -> None:
        session, mime, serial = message.body
        with self._lock:
            handlers = self._handlers
        if session != self._session:
            return
        if handlers is None:
            self.write_done(serial, False)
        else:
            handlers[1](mime, serial)

    def enable(self, on_owner: Callable[[dict[str, Any]], None], on_transfer: Callable[[str, int], None]) -> None:
        with self._lock:
            self._handlers, owner = (on_owner, on_transfer), self._owner
        if owner is not None:
            on_owner(owner)

    def set(self, mime_types: list[str]) -> None:
        self._call("SetSelection", "a{sv}", {"mime_types": ("as", mime_types)})

    def write(self, serial: int) -> int:
        return fd_number(self._call("SelectionWrite", "u", serial)[0])

    def write_done(self, serial: int, ok: bool) -> None:
        self._call("SelectionWriteDone", "ub", serial, ok)

    def read(self, mime_type: str) -> int:
        return fd_number(self._call("SelectionRead", "s", mime_type)[0])
