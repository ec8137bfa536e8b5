"""Non-ASCII text through the clipboard of the remote-desktop session, the previous content restored.

mutter types only keysyms its active layout holds, so é or 中文 are pasted: the session offers the
text as the clipboard's owner, the computer presses Ctrl+V, the application asks for the data (a
`SelectionTransfer`), we write it, and only then is the previous clipboard put back — read through
the session before (every type it offered, up to a size limit) and offered again by the session.
Waiting for the transfer, not a fixed sleep, is what keeps the restore from racing the paste. mutter's
clipboard manager copies every new clipboard content at once (one transfer, text or image types) to keep
it when its owner goes away: that transfer is let through before Ctrl+V, so it is not taken for the
paste, and it is also why the restored content outlives deskpilot's session. Other types (files, rich
text) are restored while the run lasts. Not for: keysym typing (computer, keysyms).
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from actions.gnome.bus import GnomeUnavailable
from actions.gnome.session import Selection

TEXT_TYPES = ["text/plain;charset=utf-8", "UTF8_STRING", "text/plain", "TEXT", "STRING"]
TRANSFER_WAIT_S = 2.0  # for the application to ask for the pasted text
MORE_TYPES_S = 0.05  # after the first request, a toolkit may ask for another type
READ_LIMIT = 16 << 20
READ_WAIT_S = 2.0
MAX_TYPES = 12
OWNER_WAIT_S = 0.3
MANAGER_WAIT_S = 1.0  # for mutter's clipboard manager to copy a new clipboard content (ms when it is there)


class Clipboard:
    def __init__(self, selection: Selection) -> None:
        self._selection = selection
        self._lock = threading.Lock()
        self._serving: dict[str, bytes] = {}
        self._offered: list[str] = []  # what the current owner (someone else) offers
        self._ours = False
        self._transfers = 0  # answered transfer requests
        self._manager: bool | None = None  # whether mutter's clipboard manager copies what we offer
        self._answered = threading.Condition()
        self._told = threading.Event()
        selection.enable(self._on_owner, self._on_transfer)
        # the owner is announced by a signal after enabling (mutter sends none when nobody owns the clipboard):
        # wait for it, or the first paste would not know what to restore
        self._told.wait(OWNER_WAIT_S)

    def paste(self, text: str, press_paste: Callable[[], None]) -> bool:
        """Offer `text`, call `press_paste`, wait until it was fetched, then restore the previous content.
        False when no application asked for the text within TRANSFER_WAIT_S (nothing took the paste)."""
        previous = self._read_all()
        data = text.encode()
        self._offer({mime: data for mime in TEXT_TYPES})
        asked = self._answered_count()
        press_paste()
        fetched = self._wait_answered(asked + 1, TRANSFER_WAIT_S)
        if fetched:
            time.sleep(MORE_TYPES_S)
        # an empty clipboard cannot be given back: once unset, mutter's manager would bring back its copy of
        # the pasted text, so empty text stands in for it
        self._offer(previous or {mime: b"" for mime in TEXT_TYPES})
        return fetched

    def _answered_count(self) -> int:
        with self._answered:
            return self._transfers

    def _wait_answered(self, count: int, timeout: float) -> bool:
        with self._answered:
            return self._answered.wait_for(lambda: self._transfers >= count, timeout)

    def offer_text(self, text: str) -> None:
        """Own the clipboard with `text`; returns once mutter's clipboard manager has copied it (so it stays
        after this session ends), or after MANAGER_WAIT_S."""
        self._offer({mime: text.encode() for mime in TEXT_TYPES})

    def read_text(self) -> str | None:
        """The clipboard's text now, or None when it holds none (or we own it: what we serve)."""
        with self._lock:
            if self._ours:
                data = self._serving.get(TEXT_TYPES[0])
                return None if data is None else data.decode(errors="replace")
        try:
            return self._read(TEXT_TYPES[0]).decode(errors="replace")
        except (GnomeUnavailable, OSError):
            return None

    def _offer(self, contents: dict[str, bytes]) -> None:
        """Own the clipboard with `contents`; returns once mutter's clipboard manager has taken its copy, so
        that transfer is never taken for an application's paste (without a manager, it stops waiting)."""
        before = self._answered_count()
        with self._lock:
            self._serving = contents
            self._ours = True
        self._selection.set(list(contents))
        if contents and self._manager is not False:
            copied = self._wait_answered(before + 1, MANAGER_WAIT_S)
            if self._manager is None:  # the first offer tells (a later copy may just be late)
                self._manager = copied

    def _read_all(self) -> dict[str, bytes]:
        with self._lock:
            if self._ours:  # what we restored last time is still the clipboard
                return dict(self._serving)
            offered = list(self._offered)
        out: dict[str, bytes] = {}
        for mime in offered[:MAX_TYPES]:
            try:
                out[mime] = self._read(mime)
            except (GnomeUnavailable, OSError):  # this type could not be read: leave it out
                continue
        return out

    def _read(self, mime: str) -> bytes:
        fd = self._selection.read(mime)
        chunks, size, deadline = [], 0, time.monotonic() + READ_WAIT_S
        try:
            while size < READ_LIMIT:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise OSError(f"reading the clipboard as {mime} timed out")
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks)

    def _on_owner(self, options: dict[str, Any]) -> None:
        with self._lock:
            self._ours = bool(options.get("session-is-owner", False))
            types = options.get("mime-types", ())
            if isinstance(types, tuple) and len(types) == 1 and isinstance(types[0], list):
                types = types[0]  # mutter 43 wraps the list in a struct, "(as)"
            self._offered = [] if self._ours else [t for t in types if isinstance(t, str)]
        self._told.set()

    def _on_transfer(self, mime: str, serial: int) -> None:
        with self._lock:
            data = self._serving.get(mime)
        if data is None:
            self._selection.write_done(serial, False)
            return
        ok = True
        try:
            fd = self._selection.write(serial)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError:
            ok = False
        self._selection.write_done(serial, ok)
        with self._answered:
            self._transfers += 1
            self._answered.notify_all()
