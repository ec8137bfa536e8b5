"""Ask an X application whether it has handled the input sent so far: the EWMH `_NET_WM_PING` round trip.

A client answers a `_NET_WM_PING` ClientMessage by sending it back to the root window (mask
SubstructureNotify|SubstructureRedirect). Any client may select SubstructureNotify on the root (only
SubstructureRedirect is exclusive, held by the window manager), so the answer reaches us whether or
not a window manager runs; SendEvent is never redirected. A client reads its X events in order, so
its answer means every input event the server queued to it before the ping has been dispatched to
its handlers (GTK 3 translates one X event at a time into its own queue; Tk handles window events
before idle redraws; Qt dispatches in order). It does not mean: work those handlers started for
later (a timer, an idle callback that opens a dialog, a network fetch), nor what another process
of the same application still has to do (Chromium's browser process answers; its renderer draws).

Such an application's answer says nothing about its drawing, so it is not asked: one whose top-level
is owned by a process with another X client among its descendant processes (found with the
X-Resource extension and /proc: Chromium's GPU process draws for its browser process, which answers
pings as soon as it has passed the input on to a renderer; measured on a form page, Chromium drew up
to 32.5 ms after its answer (4 of 76 effects more than 20 ms after), and its renderer has been seen
taking 100-760 ms to react, which its answer would not cover), and one whose WM_CLASS is in the
caller's skip list (multi-process browsers whose content processes are no X clients: Firefox).
Where X-Resource or local PIDs are missing nobody is asked.

`AppPing` works on a connection it is given (actions.x11damage's own, so one `select` waits for
drawing and answers alike). `send()` pings the client top-levels under the pointer and with the
input focus; it pings none (returns False) where either of them has no ICCCM client window (an
override-redirect menu, say), so the caller keeps its slower rule. Nor does an answer count when a
top-level window was created, mapped, unmapped, reparented or destroyed after the ping was sent (a
dialog the handler opened: its window manager maps it and it draws after the answer), so
`answered()` stays False for that action and the caller keeps its slower rule. A top-level is pinged when it
has WM_PROTOCOLS at all: GTK, Qt and Chromium list `_NET_WM_PING`, Tk 8.6 answers without listing
it, and ICCCM clients ignore protocols they do not know (they then never answer: the caller's bound
decides). Measured on Xvfb: Tk answers 0.2 ms after the ping, Mousepad (GTK 3) about as fast;
FeatherPad (Qt 5.15, under openbox) never answered, so it keeps the caller's slower rule.
Not for: deciding when the screen is settled (agent.run.settle), drawing notices (actions.x11damage).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

_FIRST = 0x7F000000  # our pings' timestamps: far from a window manager's own (openbox counts from 1)
_DEPTH = 3  # how deep below a window manager's frame the client window is searched for
_TRUST_S = 5.0  # how long a client's "draws from no other process" verdict is kept


@runtime_checkable
class AnswersPings(Protocol):
    """Drawing notices that can also ask the applications receiving input whether they handled it."""

    def ping(self, skip: tuple[str, ...] = ()) -> bool:
        """Ping the applications under the pointer and with focus (not those whose WM_CLASS is in `skip`);
        False: not all of them can be asked, none was."""

    def answered(self) -> bool:
        """Whether every application pinged by the last `ping()` has answered (seen by the last `wait`)."""


class AppPing:
    """Pings on display connection `d` (python-xlib); `take(event)` is fed every event read from it."""

    def __init__(self, d: Any) -> None:
        from Xlib import X

        self._d, self._root = d, d.screen().root
        self._root.change_attributes(event_mask=X.SubstructureNotifyMask)  # where the answers are sent
        self._protocols = d.intern_atom("WM_PROTOCOLS")
        self._ping = d.intern_atom("_NET_WM_PING")
        self._serial = _FIRST
        self._pending: set[tuple[int, int]] = set()  # (timestamp, client window) not answered yet
        self.sent = False
        self.windows_changed = False  # a top-level came, went or was (un)mapped since the last send()
        self._clients: dict[int, Any] = {}  # top-level id -> its client window (found once; dropped when
        # the root reports a window destroyed or reparented)
        self._trust: dict[int, tuple[float, bool]] = {}  # client window id -> (when, whether answers count)

    def send(self, skip: tuple[str, ...] = ()) -> bool:
        """Ping the clients under the pointer and with focus (flushed, no round trip); False: not all
        of those top-levels have a client window whose answer counts (see the module doc), nothing sent."""
        from Xlib import protocol
        from Xlib.error import XError

        self._pending, self.sent, self.windows_changed = set(), False, False
        clients = {}
        try:
            for top in self._tops():
                client = self._client(top)
                if client is None or not self._counts(client, skip):
                    return False
                clients[client.id] = client
        except XError:  # a window went away while we looked: this time, no ping
            return False
        for window in clients.values():
            self._serial = _FIRST if self._serial >= 0xFFFFFFF0 else self._serial + 1
            event = protocol.event.ClientMessage(window=window, client_type=self._protocols,
                                                 data=(32, [self._ping, self._serial, window.id, 0, 0]))
            window.send_event(event, event_mask=0)
            self._pending.add((self._serial, window.id))
        self._d.flush()
        self.sent = bool(clients)
        return self.sent

    def answered(self) -> bool:
        return self.sent and not self._pending and not self.windows_changed

    def take(self, event: Any) -> bool:
        """Whether `event` is the answer to one of our pings (then it is noted)."""
        from Xlib import X

        if event.type in (X.CreateNotify, X.MapNotify, X.UnmapNotify, X.DestroyNotify, X.ReparentNotify):
            self.windows_changed = True  # a window the input opened or closed draws on its own time
            if event.type in (X.DestroyNotify, X.ReparentNotify):  # a top-level came or went: look again
                self._clients.clear()
            return False
        if event.type != X.ClientMessage or event.client_type != self._protocols:
            return False
        fmt, data = event.data
        if fmt != 32 or data[0] != self._ping:
            return False
        self._pending.discard((int(data[1]), int(data[2])))
        return True

    def _tops(self) -> list[Any]:
        """The root's children under the pointer and holding (or above) the input focus."""
        from Xlib import X

        tops = []
        child = self._root.query_pointer().child
        if child:
            tops.append(child)
        focus = self._d.get_input_focus().focus
        if not isinstance(focus, int) and focus.id not in (X.NONE, X.PointerRoot, self._root.id):
            top = self._top_of(focus)
            if top is not None and all(t.id != top.id for t in tops):
                tops.append(top)
        return tops

    def _top_of(self, window: Any) -> Any:
        for _ in range(32):
            tree = window.query_tree()
            if tree.parent.id in (self._root.id, 0):
                return window if tree.parent.id == self._root.id else None
            window = tree.parent
        return None

    def _client(self, top: Any) -> Any:
        """The window with WM_PROTOCOLS at or below `top` (a frame holds its client a level or two down)."""
        if top.id in self._clients:
            return self._clients[top.id]
        client = self._search(top)
        if client is not None:  # none (a menu) is not kept: it may be a client not yet reparented
            self._clients[top.id] = client
        return client

    def _search(self, top: Any) -> Any:
        level = [top]
        for _ in range(_DEPTH + 1):
            below = []
            for window in level:
                if window.get_property(self._protocols, 0, 0, 32) is not None:  # only whether it exists
                    return window
                below.extend(window.query_tree().children)
            level = below
        return None

    def _counts(self, client: Any, skip: tuple[str, ...]) -> bool:
        """Whether `client`'s answer covers its drawing: not skipped by class, no X client in a descendant process."""
        import time

        now = time.monotonic()
        kept = self._trust.get(client.id)
        if kept is not None and now - kept[0] < _TRUST_S:
            return kept[1]
        wm_class = client.get_wm_class() or ()
        verdict = not any(name.lower() in (c.lower() for c in wm_class) for name in skip) and self._alone(client)
        self._trust[client.id] = (now, verdict)
        return verdict

    def _alone(self, client: Any) -> bool:
        """Whether no other X client runs in a process descending from `client`'s (X-Resource + /proc)."""
        import os

        from Xlib.ext import res

        try:
            if not os.path.exists("/proc/self/stat") or not self._d.has_extension(res.extname):
                return False
            mine = _pids(self._d.res_query_client_ids([{"client": client.id, "mask": res.LocalClientPIDMask}]))
            every = _pids(self._d.res_query_client_ids([{"client": 0, "mask": res.LocalClientPIDMask}]))
        except Exception:  # an odd server: nobody's answer counts
            return False
        if len(mine) != 1:  # a remote client, or no PID: cannot tell
            return False
        pid = mine.pop()
        return all(not _descends(other, pid) for other in every - {pid})


def _pids(reply: Any) -> set[int]:
    return {int(cid.value[0]) for cid in reply.ids if cid.value}


def _descends(pid: int, ancestor: int) -> bool:
    """Whether process `pid` descends from `ancestor` (Linux /proc)."""
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])  # the field after the state: the parent
        except (OSError, ValueError, IndexError):
            return False  # gone: it draws nothing
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False
