"""A small Tk application that every deskpilot action type can be exercised against.

What it is for:
    Run it under a private X display (see ``agent.sandbox.xvfb``)::

        python -m agent.sandbox.app --state PATH [--geometry 800x600+40+40] [--title "deskpilot sandbox"]

    It lays out one named widget per kind of interaction (click, middle click, right-click menu,
    double/triple click, hover, typing, keyboard shortcut, vertical and horizontal wheel, slider
    and canvas drag) and writes its complete observable state as JSON to PATH once it is laid out
    (``ready: true``) and again after every event (atomically: ``PATH.tmp`` then ``os.replace``).
    The ``widgets`` entry maps each widget name to ``[root_x, root_y, width, height]`` so tests can
    compute click points without hard-coding a layout.

What it is not for:
    It is not a product UI and not a general Tk helper library; it has no persistence besides the
    state file and does not talk to the agent. It is written for Tk 8.6 on X11 without a window
    manager (bare Xvfb): it positions itself with ``wm geometry`` and forces keyboard focus.

X11 wheel notes (Tk 8.6.13): vertical wheel arrives as ``<Button-4>``/``<Button-5>``. Binding
``<Button-6>``/``<Button-7>`` is rejected ("bad button number"); Tk delivers X buttons 6/7
(horizontal wheel) as ``<Shift-Button-4>``/``<Shift-Button-5>``, which is what we bind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tkinter as tk
from pathlib import Path
from typing import Any

from agent.sandbox.state import snapshot

DEFAULT_GEOMETRY = "800x600+40+40"
DEFAULT_TITLE = "deskpilot sandbox"
LIST_ITEMS = 100
LIST_ROWS = 8
HSCROLL_PIXELS = 40
DRAG_START = (70, 60)
CONTROL_MASK = 0x4  # X11 ControlMask in event.state
COUNTERS = (
    "ok_clicks", "middle_clicks", "context_menu_opened", "double_clicks", "triple_clicks",
    "hovers", "saves", "hscroll_events",
)  # fmt: skip

State = dict[str, Any]


def write_json_atomic(path: Path, data: State) -> None:
    """Write ``data`` as UTF-8 JSON to ``path`` via ``path.tmp`` + ``os.replace``."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _target_label(parent: tk.Misc, name: str, text: str) -> tk.Label:
    return tk.Label(
        parent, name=name, text=text, width=18, height=2, relief="ridge", borderwidth=2, bg="#eef"
    )


class SandboxApp:
    """Builds the widgets, tracks counters and writes the state file."""

    def __init__(self, root: tk.Tk, state_path: Path) -> None:
        self.root = root
        self.state_path = state_path
        self.ready = False
        self.seq = 0
        self._write_pending = False
        self.counts: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.pointer: list[int] | None = None
        self.last_click: list[int] | None = None
        self.last_key: str | None = None
        self.context_choice: str | None = None
        self._drag_from: tuple[float, float] | None = None
        self.entry_text = tk.StringVar(root, name="entry_text")
        self.checked = tk.BooleanVar(root, value=False, name="checked")
        self.slider_value = tk.IntVar(root, value=0, name="slider_value")
        self.w: dict[str, tk.Widget] = {}
        self._build_top_rows()
        self._build_lists()
        self._build_drag_area()
        self.menu = self._build_menu()
        self._bind_global()

    # ----------------------------------------------------------------- layout
    def _build_top_rows(self) -> None:
        root = self.root
        self.entry = tk.Entry(root, name="entry", textvariable=self.entry_text, width=40, font="TkFixedFont")
        self.w["entry"] = self.entry
        self.entry.grid(row=0, column=0, columnspan=2, sticky="we", padx=8, pady=8)
        self.w["ok_button"] = tk.Button(root, name="ok_button", text="OK", width=12, command=self._on_ok)
        self.w["ok_button"].grid(row=0, column=2, padx=8, pady=8)
        self.w["check"] = tk.Checkbutton(root, name="check", text="Check me", variable=self.checked)
        rows: list[list[tuple[str, str]]] = [
            [("middle_target", "Middle-click me"), ("hover_target", "Hover me")],
            [("double_target", "Double-click me"), ("triple_target", "Triple-click me"),
             ("context_target", "Right-click me")],
        ]  # fmt: skip
        self.w["check"].grid(row=1, column=0, padx=8, pady=6)
        for row, specs in enumerate(rows, start=1):
            first_col = 1 if row == 1 else 0
            for col, (name, text) in enumerate(specs, start=first_col):
                self.w[name] = _target_label(root, name, text)
                self.w[name].grid(row=row, column=col, padx=8, pady=6)
        self.w["middle_target"].bind("<Button-2>", lambda _e: self._bump("middle_clicks"))
        self.w["double_target"].bind("<Double-Button-1>", lambda _e: self._bump("double_clicks"))
        self.w["triple_target"].bind("<Triple-Button-1>", lambda _e: self._bump("triple_clicks"))
        self.w["context_target"].bind("<Button-3>", self._on_context)
        hover_cmd = root.register(self._on_hover)
        root.tk.call("bind", self.w["hover_target"], "<Enter>", f"{hover_cmd} %m")

    def _build_lists(self) -> None:
        listbox = tk.Listbox(self.root, name="listbox", height=LIST_ROWS, width=16, exportselection=False)
        listbox.insert("end", *(f"item {i}" for i in range(LIST_ITEMS)))
        listbox.grid(row=3, column=0, padx=8, pady=6, sticky="n")
        listbox.bind("<<ListboxSelect>>", lambda _e: self.mark_dirty())
        text = tk.Text(
            self.root, name="hscroll_target", wrap="none", width=44, height=LIST_ROWS, exportselection=False
        )
        for line in range(LIST_ROWS):
            text.insert("end", " ".join(f"L{line}C{col:03d}" for col in range(60)) + "\n")
        text.configure(state="disabled")
        text.grid(row=3, column=1, columnspan=2, padx=8, pady=6, sticky="n")
        for sequence, direction in (("<Shift-Button-4>", -1), ("<Shift-Button-5>", 1)):
            text.bind(sequence, lambda _e, d=direction: self._hscroll(d))
        text.bind("<Shift-MouseWheel>", lambda e: self._hscroll(-1 if e.delta > 0 else 1))
        self.listbox, self.text = listbox, text
        self.w["listbox"], self.w["hscroll_target"] = listbox, text

    def _build_drag_area(self) -> None:
        slider = tk.Scale(
            self.root, name="slider", from_=0, to=100, orient="horizontal", length=420,
            variable=self.slider_value, label="Slider",
        )  # fmt: skip
        slider.grid(row=4, column=0, columnspan=3, padx=8, pady=6)
        canvas = tk.Canvas(self.root, name="canvas", width=600, height=120, bg="white", highlightthickness=0)
        canvas.grid(row=5, column=0, columnspan=3, padx=8, pady=6)
        x, y = DRAG_START
        canvas.create_rectangle(x - 20, y - 15, x + 20, y + 15, fill="#4a8", tags=("drag_item",))
        canvas.tag_bind("drag_item", "<ButtonPress-1>", self._drag_start)
        canvas.tag_bind("drag_item", "<B1-Motion>", self._drag_move)
        canvas.tag_bind("drag_item", "<ButtonRelease-1>", self._drag_end)
        self.slider, self.canvas = slider, canvas
        self.w["slider"], self.w["canvas"] = slider, canvas

    def _build_menu(self) -> tk.Menu:
        menu = tk.Menu(self.root, name="context_menu", tearoff=False)
        for label in ("Copy", "Paste"):
            menu.add_command(label=label, command=lambda chosen=label: self._choose(chosen))
        menu.bind("<Map>", lambda _e: self.mark_dirty(), add=True)
        menu.bind("<Unmap>", lambda _e: self.mark_dirty(), add=True)
        return menu

    def _bind_global(self) -> None:
        root = self.root
        root.bind_all("<KeyPress>", self._on_key, add=True)
        root.bind_all("<Motion>", self._on_motion, add=True)
        root.bind_all("<Enter>", self._on_motion, add=True)
        root.bind_all("<ButtonPress>", self._on_button, add=True)
        root.bind_all("<ButtonRelease>", lambda _e: self.mark_dirty(), add=True)
        root.bind_all("<KeyRelease>", lambda _e: self.mark_dirty(), add=True)
        for var in (self.entry_text, self.checked, self.slider_value):
            var.trace_add("write", lambda *_a: self.mark_dirty())

    # ----------------------------------------------------------------- event handlers
    def _bump(self, counter: str) -> None:
        self.counts[counter] += 1
        self.mark_dirty()

    def _on_ok(self) -> None:
        self._bump("ok_clicks")

    def _on_hover(self, mode: str) -> None:
        if mode == "NotifyNormal":  # ignore Enter events caused by grabs (popup menus)
            self._bump("hovers")

    def _on_context(self, event: tk.Event) -> None:
        self._bump("context_menu_opened")
        self.menu.tk_popup(event.x_root + 2, event.y_root + 2)

    def _choose(self, label: str) -> None:
        self.context_choice = label
        self.mark_dirty()

    def _hscroll(self, direction: int) -> str:
        self.text.xview_scroll(direction * HSCROLL_PIXELS, "pixels")
        self._bump("hscroll_events")
        return "break"

    def _on_key(self, event: tk.Event) -> None:
        """Every KeyPress (one bind_all handler: a more specific <Control-s> would shadow it)."""
        self.last_key = event.keysym
        if event.keysym in ("s", "S") and int(event.state) & CONTROL_MASK:
            self.counts["saves"] += 1
        self.mark_dirty()

    def _on_motion(self, event: tk.Event) -> None:
        self.pointer = [event.x_root, event.y_root]
        self.mark_dirty()

    def _on_button(self, event: tk.Event) -> None:
        self.pointer = [event.x_root, event.y_root]
        self.last_click = [event.x_root, event.y_root, int(event.num)]
        self.mark_dirty()

    def _drag_start(self, event: tk.Event) -> None:
        self._drag_from = (self.canvas.canvasx(event.x), self.canvas.canvasy(event.y))

    def _drag_move(self, event: tk.Event) -> None:
        if self._drag_from is None:
            return
        x, y = self.canvas.canvasx(event.x), self.canvas.canvasy(event.y)
        self.canvas.move("drag_item", x - self._drag_from[0], y - self._drag_from[1])
        self._drag_from = (x, y)
        self.mark_dirty()

    def _drag_end(self, _event: tk.Event) -> None:
        self._drag_from = None
        self.mark_dirty()

    # ----------------------------------------------------------------- state
    def mark_dirty(self) -> None:
        """Schedule one state write once Tk has finished processing the current events."""
        if self.ready and not self._write_pending:
            self._write_pending = True
            self.root.after_idle(self.write_state)

    def write_state(self) -> None:
        self._write_pending = False
        self.seq += 1
        write_json_atomic(self.state_path, self.snapshot())

    def snapshot(self) -> State:
        return snapshot(self)

    # ----------------------------------------------------------------- startup
    def wait_until_laid_out(self) -> None:
        """Poll until the toplevel is viewable, then force keyboard focus and write the first state."""
        self.root.update_idletasks()
        if not self.root.winfo_viewable():
            self.root.after(20, self.wait_until_laid_out)
            return
        self.entry.focus_force()  # no window manager: nobody else gives us the X focus
        self.root.update()  # handle the Expose events now: "ready" means drawn, not only mapped
        self.root.winfo_pointerxy()  # X round trip: the server has applied the focus before we say ready
        self.ready = True
        self.write_state()


def _install_signal_handlers(root: tk.Tk) -> None:
    """SIGTERM/SIGINT quit the main loop; a periodic tick lets Python run the handlers promptly."""

    def _quit(_signum: int, _frame: object) -> None:
        root.quit()

    signal.signal(signal.SIGTERM, _quit)
    signal.signal(signal.SIGINT, _quit)

    def _tick() -> None:
        root.after(100, _tick)

    _tick()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent.sandbox.app", description=__doc__.split("\n")[0])
    parser.add_argument("--state", required=True, type=Path, help="JSON state file to (re)write")
    parser.add_argument("--geometry", default=DEFAULT_GEOMETRY, help="Tk geometry WxH+X+Y")
    parser.add_argument("--title", default=DEFAULT_TITLE)
    return parser.parse_args(argv)


def run(state_path: Path, geometry: str = DEFAULT_GEOMETRY, title: str = DEFAULT_TITLE) -> int:
    root = tk.Tk(className="DeskpilotSandbox")
    root.title(title)
    root.geometry(geometry)
    root.protocol("WM_DELETE_WINDOW", root.quit)
    app = SandboxApp(root, state_path)
    _install_signal_handlers(root)
    root.after(0, app.wait_until_laid_out)
    try:
        root.mainloop()
    finally:
        root.destroy()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run(args.state, args.geometry, args.title)


if __name__ == "__main__":
    raise SystemExit(main())
