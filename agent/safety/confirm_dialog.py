"""The desktop confirmation dialog itself: `python -m agent.safety.confirm_dialog` (a Tk window).

Run by `agent.safety.confirm_desktop` on the agent's own display, one process per question, so the
window is gone (its X connection closed) the moment the process ends. It reads the question as one
JSON line on stdin (action, rule, reason, preview image path, timeout, arm_ms), shows a small
always-on-top window, and prints JSON lines on stdout: `{"ready": ...}` with the window's and the
buttons' screen rectangles once it is mapped, then `{"answer": "allow"|"deny"|"timeout"}`. For the
first `arm_ms` after it appears the buttons are disabled, so input already on its way (a click aimed
at what was there before) cannot answer it. Closing the window is a deny; so is the timeout.
Not for: deciding anything (the confirmer in agent.safety.confirm_desktop does).
"""

from __future__ import annotations

import json
import sys
from typing import Any

WM_CLASS = "deskpilot-confirm"
TITLE = "deskpilot: allow this action?"


def show(question: dict[str, Any]) -> str:
    import tkinter as tk

    root = tk.Tk(className=WM_CLASS)
    root.title(TITLE)
    root.attributes("-topmost", True)
    root.resizable(False, False)
    root.configure(padx=14, pady=12, background="#fff8e1")
    answer: list[str] = []

    def done(what: str) -> None:
        if not answer:
            answer.append(what)
        root.destroy()

    label = {"background": "#fff8e1", "justify": "left", "anchor": "w"}
    tk.Label(root, text="deskpilot wants to", font=("TkDefaultFont", 11, "bold"), **label).pack(fill="x")
    tk.Label(root, text=question["action"], wraplength=440, font=("TkFixedFont", 10), **label).pack(fill="x")
    tk.Label(root, text=f"rule {question['rule']}: {question['reason']}", wraplength=440, fg="#8a1414",
             **label).pack(fill="x", pady=(4, 6))
    image = None
    if question.get("preview"):
        try:
            image = tk.PhotoImage(file=question["preview"])
            factor = max(1, -(-image.width() // 440))
            image = image.subsample(factor, factor) if factor > 1 else image
            tk.Label(root, image=image, borderwidth=1, relief="solid").pack(pady=(0, 8))
        except tk.TclError:
            image = None
    row = tk.Frame(root, background="#fff8e1")
    row.pack(fill="x")
    allow = tk.Button(row, text="Allow", width=10, state="disabled", command=lambda: done("allow"),
                      background="#1f883d", foreground="white")
    deny = tk.Button(row, text="Deny", width=10, state="disabled", command=lambda: done("deny"),
                     background="#cf222e", foreground="white")
    deny.pack(side="right")
    allow.pack(side="right", padx=(0, 8))
    left = tk.Label(row, text="", fg="#5a6475", **label)
    left.pack(side="left")
    root.protocol("WM_DELETE_WINDOW", lambda: done("deny"))
    root.update_idletasks()
    width, height = root.winfo_reqwidth(), root.winfo_reqheight()
    x, y = (root.winfo_screenwidth() - width) // 2, (root.winfo_screenheight() - height) // 3
    root.geometry(f"+{x}+{y}")
    timeout_s = float(question.get("timeout_s", 30))

    def arm() -> None:
        allow.configure(state="normal")
        deny.configure(state="normal")

    def ready() -> None:
        root.update_idletasks()
        boxes = {name: [b.winfo_rootx(), b.winfo_rooty(), b.winfo_width(), b.winfo_height()]
                 for name, b in (("allow", allow), ("deny", deny))}
        boxes["window"] = [root.winfo_rootx(), root.winfo_rooty(), root.winfo_width(), root.winfo_height()]
        say({"ready": boxes})
        root.after(int(question.get("arm_ms", 500)), arm)

    def tick(seconds: int) -> None:
        if seconds <= 0:
            done("timeout")
            return
        left.configure(text=f"{seconds} s; no answer means no")
        root.after(1000, tick, seconds - 1)

    root.wait_visibility()
    root.after(50, ready)
    tick(max(1, round(timeout_s)))
    root.mainloop()
    return answer[0] if answer else "deny"


def say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    question = json.loads(sys.stdin.readline())
    say({"answer": show(question)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
