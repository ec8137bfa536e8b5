"""The gnome backend without a compositor: text split between keysyms and the clipboard, keysyms of key
names, the clipboard's paste-then-restore order on a fake selection, and the one-line reasons a session
cannot use the backend (no bus, no jeepney, no PyGObject for this Python)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from actions.backends import NoBackend, choose_backend
from actions.gnome.keysyms import keysym, runs, typeable


def test_text_runs_keep_ascii_as_keys_and_paste_the_rest_in_one_go() -> None:
    assert runs("Hé 中文 ✓ ß/@") == [(True, "H"), (False, "é 中文 ✓ ß"), (True, "/@")]
    assert runs("a\né b") == [(True, "a\n"), (False, "é"), (True, " b")]  # Enter is pressed, never pasted
    assert runs("plain") == [(True, "plain")] and runs("中") == [(False, "中")]
    assert typeable("\t") and typeable("~") and not typeable("é")


def test_keysyms_of_names_and_characters() -> None:
    assert keysym("enter") == 0xFF0D and keysym("ctrl") == 0xFFE3 and keysym("f12") == 0xFFC9
    assert keysym("a") == 0x61 and keysym("é") == 0xE9 and keysym("中") == 0x01004E2D
    with pytest.raises(ValueError):
        keysym("nonsense")


class FakeSelection:
    """A session clipboard: the application 'pastes' by asking for text/plain;charset=utf-8 on Ctrl+V. With
    `manager`, each new clipboard content is first copied, as mutter's clipboard manager does."""

    def __init__(self, manager: bool = False) -> None:
        self.owned: list[list[str]] = []
        self.written: list[bytes] = []
        self.previous = b"someone's text"
        self.on_transfer: Any = None
        self.manager = manager
        self._lock = threading.Lock()

    def enable(self, on_owner: Any, on_transfer: Any) -> None:
        self.on_transfer = on_transfer
        on_owner({"mime-types": (["text/plain;charset=utf-8"],), "session-is-owner": False})

    def set(self, mime_types: list[str]) -> None:
        self.owned.append(mime_types)
        if self.manager and mime_types:  # a little later, as a signal would come
            threading.Timer(0.05, self.on_transfer, (mime_types[0], 100 + len(self.owned))).start()

    def write(self, serial: int) -> int:
        read, write = os.pipe()
        self._pipes = getattr(self, "_pipes", {}) | {serial: read}
        return write

    def write_done(self, serial: int, ok: bool) -> None:
        read = self._pipes.pop(serial)
        with self._lock:
            self.written.append(os.read(read, 1 << 16))
        os.close(read)

    def read(self, mime_type: str) -> int:
        read, write = os.pipe()
        os.write(write, self.previous)
        os.close(write)
        return read


def test_the_clipboard_pastes_then_restores_what_was_there() -> None:
    from actions.gnome.clipboard import TEXT_TYPES, Clipboard

    selection = FakeSelection()
    clipboard = Clipboard(selection)
    pasted = clipboard.paste("中文", lambda: threading.Thread(target=selection.on_transfer,
                                                             args=(TEXT_TYPES[0], 7)).start())
    assert pasted and selection.written == ["中文".encode()]  # (no clipboard manager here: waited MANAGER_WAIT_S)
    assert selection.owned == [TEXT_TYPES, ["text/plain;charset=utf-8"]]  # ours, then the previous types again
    assert clipboard.read_text() == "someone's text"  # served by the session now


def test_mutters_clipboard_manager_copy_is_not_taken_for_the_paste() -> None:
    """mutter copies each new clipboard content at once; the paste waits for the application's own request."""
    from actions.gnome.clipboard import TEXT_TYPES, Clipboard

    selection = FakeSelection(manager=True)
    clipboard = Clipboard(selection)
    for text in ("中文", "ß"):  # the guard types long texts in chunks: pastes follow each other
        app = threading.Timer(0.2, selection.on_transfer, (TEXT_TYPES[0], 7))
        assert clipboard.paste(text, app.start)
        app.join()
        copies = selection.written[-3:]  # the manager's copy, the application's paste, the restore's copy
        assert copies == [text.encode(), text.encode(), b"someone's text"], selection.written


def test_no_session_bus_is_one_line() -> None:
    with pytest.raises(NoBackend, match="GNOME Wayland: the gnome backend needs the D-Bus session bus") as info:
        choose_backend("gnome", {})
    assert "\n" not in str(info.value)


def test_an_unreachable_bus_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("jeepney")
    env = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus", "WAYLAND_DISPLAY": str(tmp_path / "none"),
           "XDG_CURRENT_DESKTOP": "GNOME"}
    with pytest.raises(NoBackend, match="GNOME Wayland: the gnome backend cannot start: cannot connect to the D-Bus"):
        choose_backend("auto", env)


def test_without_jeepney_the_extra_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "jeepney", None)
    monkeypatch.setitem(sys.modules, "jeepney.io.threading", None)
    with pytest.raises(NoBackend, match=r"needs jeepney: pip install 'deskpilot\[gnome\]'"):
        choose_backend("gnome", {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/bus"})


def test_without_pygobject_the_packages_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from actions.gnome import gst
    from actions.gnome.bus import GnomeUnavailable

    monkeypatch.setitem(sys.modules, "gi", None)
    monkeypatch.setattr(gst, "SYSTEM_SITES", ("/nonexistent",))
    with pytest.raises(GnomeUnavailable, match=r"apt-get install python3-gi gir1\.2-gstreamer-1\.0") as info:
        gst.import_gi()
    assert "--system-site-packages" in str(info.value)


class FakeDisplayConfig:
    """A bus answering only DisplayConfig.GetCurrentState, with monitors (connector, w, h) at (x, y, scale)."""

    def __init__(self, layout_mode: int, monitors: list[tuple[str, int, int, int, int, float]]) -> None:
        self.state = (1, [((c, "V", "P", "S"), [("m", w, h, 60.0, 1.0, [1.0], {"is-current": ("b", True)})], {})
                          for c, w, h, _x, _y, _s in monitors],
                      [(x, y, s, 0, i == 0, [(c, "V", "P", "S")], {})
                       for i, (c, _w, _h, x, y, s) in enumerate(monitors)],
                      {"layout-mode": ("u", layout_mode)})

    def call(self, *args: object) -> tuple:
        assert args[3] == "GetCurrentState"
        return self.state


def test_monitor_0_is_the_bounding_box_of_the_layout() -> None:
    from actions.gnome.mutter import layout_box

    physical = FakeDisplayConfig(2, [("A", 2560, 1600, 0, 0, 2.0), ("B", 800, 600, 2560, 300, 1.0)])
    assert layout_box(physical) == (0, 0, 3360, 1600)  # physical layout: mixed scales are fine
    logical = FakeDisplayConfig(1, [("A", 2560, 1600, 0, 0, 2.0), ("B", 1280, 800, 1280, 100, 2.0)])
    assert layout_box(logical) == (0, 0, 1920, 800)  # logical layout: sizes are the modes over the scale


def test_monitor_0_refuses_mixed_scales_in_the_logical_layout() -> None:
    from actions.capture import CaptureError
    from actions.gnome.mutter import layout_box

    mixed = FakeDisplayConfig(1, [("A", 2560, 1600, 0, 0, 2.0), ("B", 1280, 800, 1280, 0, 1.0)])
    with pytest.raises(CaptureError, match=r"share one scale; these have 1, 2: set screen.monitor to one of 1..2"):
        layout_box(mixed)
