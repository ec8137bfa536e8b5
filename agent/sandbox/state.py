"""The sandbox app's state: what `agent.sandbox.app` writes as JSON after every event.

Widget names, counters, the entry's text and selection, scroll positions, drag positions, the popup
menu's entries while it is open, and every widget's root rectangle, so tests can aim at widgets
without hard-coding a layout. Not for: building widgets or handling events (sandbox_app).
"""

from __future__ import annotations

import os
import tkinter as tk
from typing import Any

State = dict[str, Any]
WIDGET_NAMES = (
    "entry", "ok_button", "middle_target", "check", "hover_target", "double_target", "triple_target",
    "context_target", "listbox", "hscroll_target", "slider", "canvas",
)


def snapshot(app: Any) -> State:
    """The whole state the app writes after every event."""
    state: State = {"pid": os.getpid(), "ready": app.ready, "seq": app.seq, "title": app.root.title()}
    state.update(_entry_state(app))
    state.update(app.counts)
    state.update(_list_state(app))
    state.update(_drag_state(app))
    state.update(
        checked=bool(app.checked.get()),
        context_choice=app.context_choice,
        context_menu_visible=bool(app.menu.winfo_ismapped()),
        context_menu_entries=_menu_entries(app),
        last_key=app.last_key,
        pointer=app.pointer,
        last_click=app.last_click,
        focus=_focus_name(app),
        window=rect(app.root),
        widgets={name: rect(app.w[name]) for name in WIDGET_NAMES},
    )
    return state

def _entry_state(app: Any) -> State:
    entry = app.entry
    text = entry.get()
    try:  # index in Tcl's own units: Tk 8.6 counts a non-BMP character as two (UTF-16)
        first, last = entry.index("sel.first"), entry.index("sel.last")
        selection = str(app.root.tk.call("string", "range", text, first, last - 1))
    except tk.TclError:
        selection = ""
    return {"entry": text, "entry_selection": selection}

def _list_state(app: Any) -> State:
    listbox = app.listbox
    selected = listbox.curselection()
    return {
        "list_top": round(listbox.yview()[0] * listbox.size()),
        "list_selected": listbox.get(selected[0]) if selected else None,
        "hscroll_left": float(app.text.xview()[0]),
    }

def _drag_state(app: Any) -> State:
    canvas, slider = app.canvas, app.slider
    x1, y1, x2, y2 = canvas.coords("drag_item")
    centre = [round((x1 + x2) / 2), round((y1 + y2) / 2)]
    knob_x, knob_y = slider.coords()
    return {
        "slider": int(app.slider_value.get()),
        "slider_knob": [slider.winfo_rootx() + int(knob_x), slider.winfo_rooty() + int(knob_y)],
        "drag_item": centre,
        "drag_item_root": [canvas.winfo_rootx() + centre[0], canvas.winfo_rooty() + centre[1]],
    }

def _menu_entries(app: Any) -> dict[str, list[int]]:
    """Root rectangles of the popup menu entries while it is posted, else an empty dict."""
    if not app.menu.winfo_ismapped():
        return {}
    x, y, width, height = rect(app.menu)
    last = int(app.menu.index("end") or 0)
    tops = [int(app.menu.yposition(i)) for i in range(last + 1)] + [height - 1]
    labels = [str(app.menu.entrycget(i, "label")) for i in range(last + 1)]
    return {label: [x, y + tops[i], width, tops[i + 1] - tops[i]] for i, label in enumerate(labels)}

def _focus_name(app: Any) -> str | None:
    path = str(app.root.tk.call("focus"))
    if not path:
        return None
    names = {str(widget): name for name, widget in app.w.items()}
    return names.get(path, path)

def rect(widget: tk.Misc) -> list[int]:
    """A widget's [root_x, root_y, width, height]."""
    return [widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(), widget.winfo_height()]
