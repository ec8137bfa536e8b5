"""A native-Wayland GTK3 window that logs every input event it gets as JSON lines (a test helper).

Run by the wlroots tests under Debian's /usr/bin/python3 (python3-gi), not imported by them:
`gtk_probe_app.py TITLE LOGFILE`. Each line: {"e": kind, ...} with window-relative coordinates; the
window is fullscreen on its output (the sway config says so), so those are output coordinates.
Paints a fixed grid plus the last event's colour in its bottom-right corner (see on_draw). Not for: X11.
"""

import json
import sys
import zlib

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

title, log_path = sys.argv[1], sys.argv[2]
log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the app's whole life
counter = [0]


def emit(**fields):
    line = json.dumps(fields, ensure_ascii=False)
    counter[0] = zlib.crc32(line.encode())  # the indicator shows the last event, so a replay repaints it alike
    log.write(line + "\n")
    area.queue_draw()
    return False


def mods(state):
    names = [("ctrl", Gdk.ModifierType.CONTROL_MASK), ("shift", Gdk.ModifierType.SHIFT_MASK),
             ("alt", Gdk.ModifierType.MOD1_MASK), ("super", Gdk.ModifierType.SUPER_MASK | Gdk.ModifierType.MOD4_MASK)]
    return [n for n, m in names if state & m]


def on_press(_w, ev):
    kind = {Gdk.EventType.BUTTON_PRESS: 1, Gdk.EventType._2BUTTON_PRESS: 2, Gdk.EventType._3BUTTON_PRESS: 3}
    if ev.type in kind:
        emit(e="press", x=round(ev.x), y=round(ev.y), button=ev.button, n=kind[ev.type])
    return True


def on_release(_w, ev):
    return emit(e="release", x=round(ev.x), y=round(ev.y), button=ev.button)


def on_motion(_w, ev):
    kind = "drag" if ev.state & Gdk.ModifierType.BUTTON1_MASK else "motion"
    emit(e=kind, x=round(ev.x), y=round(ev.y))
    return True


def on_scroll(_w, ev):
    dirs = {Gdk.ScrollDirection.UP: (0, 1), Gdk.ScrollDirection.DOWN: (0, -1),
            Gdk.ScrollDirection.LEFT: (-1, 0), Gdk.ScrollDirection.RIGHT: (1, 0)}
    if ev.direction in dirs:
        dx, dy = dirs[ev.direction]
    else:
        ok, sx, sy = ev.get_scroll_deltas()
        if not ok or (sx == 0 and sy == 0):
            return True
        dx, dy = round(sx), -round(sy)
    return emit(e="scroll", x=round(ev.x), y=round(ev.y), dx=dx, dy=dy)


def on_key(_w, ev):
    char = chr(Gdk.keyval_to_unicode(ev.keyval) or 0)
    return emit(e="key", name=Gdk.keyval_name(ev.keyval), char=char if char != "\0" else "", mods=mods(ev.state))


def on_draw(_w, cr):
    """A fixed grid of coloured cells (so replay can check a target's surroundings), plus the last
    event's indicator in the bottom-right 24x24 corner, away from the targets (settle sees each effect)."""
    alloc = area.get_allocation()
    for gx in range(0, alloc.width, 40):
        for gy in range(0, alloc.height, 40):
            h = (gx * 73856093 ^ gy * 19349663) & 0xFFFFFF  # no two nearby cells alike
            cr.set_source_rgb((h & 255) / 255, ((h >> 8) & 255) / 255, ((h >> 16) & 255) / 255)
            cr.rectangle(gx, gy, 40, 40)
            cr.fill()
    n = counter[0]
    cr.set_source_rgb((n & 255) / 255, ((n >> 8) & 255) / 255, ((n >> 16) & 255) / 255)
    cr.rectangle(alloc.width - 24, alloc.height - 24, 24, 24)
    cr.fill()
    return False


win = Gtk.Window(title=title)
area = Gtk.DrawingArea()
area.set_can_focus(True)
area.add_events(Gdk.EventMask.BUTTON_PRESS_MASK | Gdk.EventMask.BUTTON_RELEASE_MASK | Gdk.EventMask.POINTER_MOTION_MASK
                | Gdk.EventMask.ENTER_NOTIFY_MASK
                | Gdk.EventMask.SCROLL_MASK | Gdk.EventMask.SMOOTH_SCROLL_MASK | Gdk.EventMask.KEY_PRESS_MASK)
area.connect("button-press-event", on_press)
area.connect("button-release-event", on_release)
area.connect("motion-notify-event", on_motion)
area.connect("enter-notify-event", on_motion)  # sway re-enters instead of moving when the cursor was hidden
area.connect("scroll-event", on_scroll)
area.connect("draw", on_draw)
area.connect("size-allocate", lambda _w, a: emit(e="size", width=a.width, height=a.height))
win.connect("key-press-event", on_key)
win.connect("destroy", Gtk.main_quit)
win.add(area)
win.show_all()
area.grab_focus()
# no pointer image: headless wlroots paints the cursor into captured frames (see wayland_helpers)
area.get_window().set_cursor(Gdk.Cursor.new_for_display(Gdk.Display.get_default(), Gdk.CursorType.BLANK_CURSOR))


Gtk.main()
