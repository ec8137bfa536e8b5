"""Asking a person before a risky action: the terminal confirmer and its preview image.

`TtyConfirmer` shows the action, the rule that fired and its reason on the terminal, saves a
preview (the screenshot cropped around the target, with a marker) into the trace directory and
prints its path, then waits for y/n. Anything but "y"/"yes" is a no; no answer within the timeout
is a no; the run being stopped while it waits is a no. `SuspendingConfirmer` keeps the takeover
monitor from mistaking the person's answer for a takeover. Where no terminal is attached the
runner uses `actions.gate.RefuseConfirmer` (the daemon will route questions to its client).
`TerminalConfirmer` is the terminal one for the CLI's watched runs (`safety.confirm_via: terminal`);
the console's (agent.console.hub) and the desktop dialog's (agent.safety.confirm_desktop) are the others.
Not for: deciding what needs confirmation (the gate and the confirm mode do).
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

from actions.gate import Confirmation, Confirmer, Verdict
from actions.geometry import Screenshot
from actions.schema import Action, action_to_json, points_of

PREVIEW_SIZE = (480, 320)
POLL_S = 0.05


def preview(shot: Screenshot, action: Action) -> Any:
    """The screenshot around the action's target with a red marker (whole screen, scaled, if none)."""
    from PIL import ImageDraw

    image, points = shot.image.convert("RGB"), points_of(action)
    if not points:
        copy = image.copy()
        copy.thumbnail((960, 960))
        return copy
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    w, h = max(PREVIEW_SIZE[0], max(xs) - min(xs) + 80), max(PREVIEW_SIZE[1], max(ys) - min(ys) + 80)
    cx, cy = (min(xs) + max(xs)) // 2, (min(ys) + max(ys)) // 2
    left = min(max(0, cx - w // 2), max(0, image.width - w))
    top = min(max(0, cy - h // 2), max(0, image.height - h))
    crop = image.crop((left, top, min(image.width, left + w), min(image.height, top + h)))
    draw = ImageDraw.Draw(crop)
    for i, (x, y) in enumerate(points):
        x, y = x - left, y - top
        draw.ellipse((x - 12, y - 12, x + 12, y + 12), outline=(255, 0, 0), width=3)
        draw.line((x - 20, y, x + 20, y), fill=(255, 0, 0), width=1)
        draw.line((x, y - 20, x, y + 20), fill=(255, 0, 0), width=1)
        draw.text((x + 14, y + 10), str(i + 1), fill=(255, 0, 0))
    return crop


class TtyConfirmer:
    """Asks on a terminal: y/n with a timeout; the preview goes into `directory`."""

    def __init__(self, directory: str | Path, timeout_s: float, stop: threading.Event | None = None,
                 input: IO[str] | None = None, output: IO[str] | None = None) -> None:
        import sys

        self.directory, self.timeout_s = Path(directory), timeout_s
        self.stop = stop or threading.Event()
        self.input, self.output = input or sys.stdin, output or sys.stderr
        self.asked = 0

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> Confirmation:
        self.asked += 1
        path = self.directory / f"confirm-{self.asked:03d}.png"
        preview(shot, action).save(path)
        self._drain()  # an answer typed after an earlier timeout must not answer this question
        self._say(f"\ndeskpilot wants to: {json.dumps(action_to_json(action), ensure_ascii=False)}\n"
                  f"  rule: {verdict.rule} — {verdict.reason}\n  preview: {path}\n"
                  f"Allow it? [y/N] (no answer in {self.timeout_s:g} s means no) ")
        answer = self._read_line()
        if answer is None:
            how = "stopped" if self.stop.is_set() else "timed out"
            self._say(f"\n{how}: not allowed\n")
            return Confirmation(False, "refused" if self.stop.is_set() else "timed_out", f"preview {path.name}")
        approved = answer.strip().lower() in ("y", "yes")
        self._say("allowed\n" if approved else "not allowed\n")
        return Confirmation(approved, "approved" if approved else "refused", f"preview {path.name}")

    def _say(self, text: str) -> None:
        self.output.write(text)
        self.output.flush()

    def _drain(self) -> None:
        fd = self.input.fileno()
        while select.select([fd], [], [], 0)[0] and os.read(fd, 1024):
            pass

    def _read_line(self) -> str | None:
        """A line from the input, or None on timeout, end of input or stop."""
        return read_line(self.input.fileno(), self.timeout_s, self.stop)


class SuspendingConfirmer:
    """Wraps a confirmer: input while the person answers does not count as a takeover."""

    def __init__(self, inner: Confirmer, suspended: Any) -> None:
        self.inner = inner
        self.suspended: Any = suspended  # () -> context manager (TakeoverMonitor.suspended)

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> bool | Confirmation:
        context: AbstractContextManager[None] = self.suspended()
        with context:
            return self.inner.ask(action, verdict, shot)


def read_line(fd: int, timeout_s: float, stop: threading.Event | None = None) -> str | None:
    """One line typed on `fd`, or None on timeout, end of input, or once `stop` is set."""
    deadline, buffer = time.monotonic() + timeout_s, b""
    while stop is None or not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if not select.select([fd], [], [], min(POLL_S, left))[0]:
            continue
        chunk = os.read(fd, 1024)
        if not chunk:
            return None
        buffer += chunk
        if b"\n" in buffer:
            return buffer.split(b"\n", 1)[0].decode("utf-8", "replace")
    return None


class TerminalConfirmer:
    """`safety.confirm_via: terminal` for a run whose trace directory is known only once it starts.

    `directory()` names it at the first question; without a terminal every question is refused
    (`unavailable`), as `RefuseConfirmer` does. `quiet()` is held while asking (the live view's
    spinner keeps still), so nothing is drawn over the question."""

    def __init__(self, directory: Callable[[], Path | None], timeout_s: float, stop: threading.Event | None = None,
                 quiet: Callable[[], AbstractContextManager[None]] | None = None) -> None:
        self.directory, self.timeout_s, self.stop = directory, timeout_s, stop
        self.quiet = quiet or nullcontext
        self._tty: TtyConfirmer | None = None

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> Confirmation:
        if not has_terminal():
            return Confirmation(False, "unavailable", "no one to ask (no terminal)")
        if self._tty is None:
            self._tty = TtyConfirmer(self.directory() or Path.cwd(), self.timeout_s, self.stop)
        with self.quiet():
            return self._tty.ask(action, verdict, shot)


def has_terminal() -> bool:
    import sys

    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False
