"""The wlroots tests' GTK probe window (tests/actions/wayland/gtk_probe_app.py), fullscreen on mutter, and
logging what Ctrl+V pastes (a test helper, run under Debian's /usr/bin/python3).

mutter has no config to fullscreen a window by title as sway has, so the window fullscreens itself on
`MONITOR` (0-based); and since the gnome backend types non-ASCII text by pasting, a Ctrl+V reads the
clipboard and logs {"e": "paste", "text": ...}. `gtk_probe_gnome.py TITLE LOGFILE MONITOR`. Not for: X11.
"""

import json
import runpy
import sys
from pathlib import Path

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

APP = Path(__file__).resolve().parents[1] / "wayland" / "gtk_probe_app.py"
title, log_path, monitor = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the app's whole life
_show_all = Gtk.Window.show_all


def on_paste(_w, ev):
    if ev.keyval in (Gdk.KEY_v, Gdk.KEY_V) and ev.state & Gdk.ModifierType.CONTROL_MASK:
        text = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD).wait_for_text()
        log.write(json.dumps({"e": "paste", "text": text or ""}, ensure_ascii=False) + "\n")
    return False


def show_all(window):
    window.connect("key-press-event", on_paste)  # after the probe's own handler, which lets the event go on
    _show_all(window)
    window.fullscreen_on_monitor(window.get_screen(), monitor)


Gtk.Window.show_all = show_all
sys.argv = [str(APP), title, log_path]
runpy.run_path(str(APP), run_name="__main__")
