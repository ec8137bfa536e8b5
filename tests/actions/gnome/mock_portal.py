"""A mock xdg-desktop-portal for tests: RemoteDesktop + ScreenCast on a private session bus, forwarding to mutter.

`mock_portal.py LOG VERSION [clipboard]` owns org.freedesktop.portal.Desktop, answers each request through a Request
object's `Response` signal as the real portal does, records every Select*/Start call's options and every
restore token it issues as JSON lines in LOG, and carries out Start and the Notify* calls on headless
mutter through deskpilot's own mutter session (xdg-desktop-portal-gnome does the same through mutter's
API). VERSION 1 is Debian bookworm's RemoteDesktop portal (no persist_mode, no restore tokens); 2 keeps
consent with a restore token. With `clipboard`, the Clipboard portal too, forwarded to the mutter session's
clipboard. Not for: production, or checking consent UI.
"""

import json
import os
import secrets
import socket
import sys
import threading

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from actions.gnome.bus import Bus
from actions.gnome.mutter import MutterSession, ScreenCastOnly

PORTAL, DESKTOP = "org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop"
RD, SC = "org.freedesktop.portal.RemoteDesktop", "org.freedesktop.portal.ScreenCast"
CLIP = "org.freedesktop.portal.Clipboard"
log_path, version = sys.argv[1], int(sys.argv[2])
with_clipboard = sys.argv[3:] == ["clipboard"]
log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the mock's whole life
conn = open_dbus_connection("SESSION", enable_fds=True)
conn.send_and_get_reply(message_bus.RequestName(PORTAL, 4))
sessions: dict[str, MutterSession] = {}
clipboards: set[str] = set()  # sessions that asked for the clipboard
screencasts: set[str] = set()  # sessions created through the ScreenCast portal (no input)
mutter_bus = Bus()
sending = threading.Lock()  # mutter's clipboard signals are forwarded from another thread
_send = conn.send


def send(message):
    with sending:
        _send(message)


conn.send = send


def record(**fields):
    log.write(json.dumps(fields) + "\n")


def plain(options):
    return {k: v[1] for k, v in options.items() if k != "handle_token"}


def respond(msg, results, sender_path):
    """Reply with the Request handle, then its Response signal (what every portal request does)."""
    token = msg.body[-1]["handle_token"][1]
    path = f"{DESKTOP}/request/{sender_path}/{token}"
    conn.send(new_method_return(msg, "o", (path,)))
    conn.send(new_signal(DBusAddress(path, interface="org.freedesktop.portal.Request"), "Response", "ua{sv}",
                         (0, results)))


def start(msg, session_path):
    options = msg.body[-1]
    if session_path in screencasts:  # no input devices for a screen cast alone (they would type a Shift)
        mutter = sessions[session_path] = ScreenCastOnly(mutter_bus, 1)
    else:
        mutter = sessions[session_path] = MutterSession(mutter_bus, 1)
    x, y, w, h = mutter.stream.area
    stream = (mutter.stream.node, {"position": ("(ii)", (x, y)), "size": ("(ii)", (w, h)), "source_type": ("u", 1)})
    results = {"devices": ("u", 3), "streams": ("a(ua{sv})", [stream])}
    if session_path in clipboards:
        forward_clipboard(mutter, session_path)
        results["clipboard_enabled"] = ("b", True)
    if version >= 2 and persist.get(session_path):
        token = secrets.token_hex(8)
        results["restore_token"] = ("s", token)
        record(issued=token)
    record(method="Start", options=plain(options))
    return results


persist: dict[str, bool] = {}


def forward_clipboard(mutter, session_path):
    """mutter's clipboard signals for this session, re-emitted as the Clipboard portal's."""
    def owner(options):
        types = options.get("mime-types", ([],))
        types = types[0] if isinstance(types, tuple) else types
        body = {"mime_types": ("as", list(types)), "session_is_owner": ("b", bool(options.get("session-is-owner")))}
        conn.send(new_signal(DBusAddress(DESKTOP, interface=CLIP), "SelectionOwnerChanged", "oa{sv}",
                             (session_path, body)))

    def transfer(mime, serial):
        conn.send(new_signal(DBusAddress(DESKTOP, interface=CLIP), "SelectionTransfer", "osu",
                             (session_path, mime, serial)))

    mutter.selection.enable(owner, transfer)


def clipboard_call(msg, member):
    selection = sessions[msg.body[0]].selection
    args = msg.body[1:]
    record(method=member)
    if member == "SetSelection":
        selection.set(list(args[0].get("mime_types", ("as", []))[1]))
        return conn.send(new_method_return(msg))
    if member == "SelectionWriteDone":
        selection.write_done(args[0], args[1])
        return conn.send(new_method_return(msg))
    fd = selection.write(args[0]) if member == "SelectionWrite" else selection.read(args[0])
    with os.fdopen(fd, "rb") as handle:
        return conn.send(new_method_return(msg, "h", (handle,)))


def handle(msg):
    fields = msg.header.fields
    iface, member = fields.get(HeaderFields.interface), fields[HeaderFields.member]
    sender_path = fields[HeaderFields.sender].lstrip(":").replace(".", "_")
    if iface == "org.freedesktop.DBus.Properties" and member == "Get":
        wanted, name = msg.body
        if wanted == CLIP and with_clipboard and name == "version":
            return conn.send(new_method_return(msg, "v", (("u", 1),)))
        if wanted in (RD, SC) and name == "version":
            offered = version if wanted == RD else 4 if version > 1 else 1  # ScreenCast persists from v4
            return conn.send(new_method_return(msg, "v", (("u", offered),)))
        return conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownInterface", "s", (wanted,)))
    if member == "CreateSession":
        session = f"{DESKTOP}/session/{sender_path}/{msg.body[0]['session_handle_token'][1]}"
        if iface == SC:
            screencasts.add(session)
        return respond(msg, {"session_handle": ("s", session)}, sender_path)
    if member in ("SelectDevices", "SelectSources"):
        options = plain(msg.body[1])
        record(method=member, options=options)
        if "persist_mode" in options:
            persist[msg.body[0]] = True
        return respond(msg, {}, sender_path)
    if iface == CLIP and member == "RequestClipboard":
        clipboards.add(msg.body[0])
        record(method=member)
        return conn.send(new_method_return(msg))
    if iface == CLIP:
        return clipboard_call(msg, member)
    if member == "Start":
        return respond(msg, start(msg, msg.body[0]), sender_path)
    if member == "OpenPipeWireRemote":
        remote = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        remote.connect(os.path.join(os.environ["XDG_RUNTIME_DIR"], "pipewire-0"))
        conn.send(new_method_return(msg, "h", (remote,)))
        return remote.close()
    if member == "Close" and iface == "org.freedesktop.portal.Session":
        session = sessions.pop(fields[HeaderFields.path], None)
        if session is not None:
            session.close()
        return conn.send(new_method_return(msg))
    if member.startswith("Notify"):
        mutter = sessions[msg.body[0]]
        args = msg.body[2:]
        record(method=member)
        if member == "NotifyPointerMotionAbsolute":
            mutter.motion(args[1], args[2])
        elif member == "NotifyPointerButton":
            mutter.button(args[0], bool(args[1]))
        elif member == "NotifyPointerAxisDiscrete":
            mutter.axis(args[0], args[1])
        elif member == "NotifyKeyboardKeysym":
            mutter.keysym(args[0], bool(args[1]))
        return conn.send(new_method_return(msg))
    return conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (member,)))


record(ready=True)
while True:
    message = conn.receive()
    if message.header.message_type == MessageType.method_call:
        handle(message)
