"""One D-Bus session-bus connection through jeepney: method calls, properties and signal handlers.

jeepney is imported here, lazily (`GnomeUnavailable` names the extra). A receiver thread (jeepney's
DBusRouter) matches replies to calls, so calls may come from any thread while signal handlers run
on threads of their own. Not for: what is called (mutter, portal, clipboard modules).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from actions.errors import DeskpilotError

CALL_TIMEOUT_S = 10.0


class GnomeUnavailable(DeskpilotError, RuntimeError):
    """No session bus, no jeepney or PyGObject, or a desktop without the services the gnome backend needs."""


class CallFailed(GnomeUnavailable):
    """A D-Bus method returned an error; `name` is the D-Bus error name."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(f"{name}: {text}" if text else name)
        self.name = name


def import_jeepney() -> Any:
    try:
        import jeepney
        import jeepney.io.threading
    except ImportError as exc:
        raise GnomeUnavailable("the gnome backend needs jeepney: pip install 'deskpilot[gnome]'") from exc
    return jeepney


class Bus:
    """The session bus (or `address`), with file-descriptor passing on."""

    def __init__(self, address: str = "SESSION") -> None:
        jeepney = import_jeepney()
        from jeepney.io.threading import DBusRouter, open_dbus_connection

        self._jeepney = jeepney
        try:
            self._router = DBusRouter(open_dbus_connection(address, enable_fds=True))
        except Exception as exc:  # no DBUS_SESSION_BUS_ADDRESS, or nothing listening there
            raise GnomeUnavailable(f"cannot connect to the D-Bus session bus: {exc}") from None
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()

    @property
    def unique_name(self) -> str:
        return str(self._router.unique_name)

    def call(self, bus_name: str, path: str, interface: str, method: str, signature: str = "",
             *args: Any, timeout: float = CALL_TIMEOUT_S) -> tuple[Any, ...]:
        """Call and wait for the reply (so the callee has handled it); raise `CallFailed` on an error reply."""
        from jeepney import DBusAddress, MessageType, new_method_call

        address = DBusAddress(path, bus_name, interface)
        message = new_method_call(address, method, signature or None, args if signature else None)
        reply = self._router.send_and_get_reply(message, timeout=timeout)
        if reply.header.message_type == MessageType.error:
            name = str(reply.header.fields.get(self._jeepney.HeaderFields.error_name, "error"))
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise CallFailed(name, text)
        return tuple(reply.body)

    def send(self, bus_name: str, path: str, interface: str, method: str, signature: str = "", *args: Any) -> None:
        """Call without waiting (no reply is sent, so an error is not seen): for a burst of input events that
        ends with a `call` — the bus keeps one connection's messages in order and the callee handles them in
        order, so that call's reply means the whole burst was handled."""
        from jeepney import DBusAddress, MessageFlag, new_method_call

        message = new_method_call(DBusAddress(path, bus_name, interface), method, signature or None,
                                  args if signature else None)
        message.header.flags |= MessageFlag.no_reply_expected
        self._router.send(message)

    def get_property(self, bus_name: str, path: str, interface: str, name: str) -> Any:
        (variant,) = self.call(bus_name, path, "org.freedesktop.DBus.Properties", "Get", "ss", interface, name)
        return variant[1]

    def has_name(self, name: str) -> bool:
        (owned,) = self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                             "NameHasOwner", "s", name)
        return bool(owned)

    def subscribe(self, handler: Callable[[Any], None], **match: str) -> Callable[[], None]:
        """Call `handler(message)` for each signal matching `match` (path, interface, member, ...), on a
        thread of its own; returns what stops it."""
        from jeepney import MatchRule

        rule = MatchRule(type="signal", **match)
        self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                  rule.serialise())
        messages: queue.Queue[Any] = queue.Queue()
        handle = self._router.filter(rule, queue=messages)
        done = threading.Event()

        def pump() -> None:
            while not done.is_set() and not self._closed.is_set():
                try:
                    message = messages.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    handler(message)
                except Exception:  # a handler's failure must not end the pump; the caller times out instead
                    pass

        thread = threading.Thread(target=pump, name=f"dbus-{match.get('member', 'signal')}", daemon=True)
        thread.start()
        self._threads.append(thread)

        def stop() -> None:
            done.set()
            handle.close()

        return stop

    def wait_signal(self, start: Callable[[], Any], timeout: float = CALL_TIMEOUT_S, **match: str) -> Any:
        """Run `start()` and return the first signal matching `match` that follows it."""
        from jeepney import MatchRule

        rule = MatchRule(type="signal", **match)
        self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                  rule.serialise())
        messages: queue.Queue[Any] = queue.Queue()
        with self._router.filter(rule, queue=messages):
            start()
            try:
                return messages.get(timeout=timeout)
            except queue.Empty:
                raise GnomeUnavailable(f"no {match.get('member', 'signal')} signal within {timeout:g} s") from None

    def close(self) -> None:
        self._closed.set()
        try:
            self._router.close()
            self._router.conn.close()
        except Exception:  # the bus may be gone already
            pass
        for thread in self._threads:
            thread.join(timeout=1)
