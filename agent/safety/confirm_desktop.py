"""`safety.confirm_via: desktop`: ask with a small always-on-top dialog on the agent's own display.

`DesktopConfirmer.ask` shows the action, the rule and a preview of the target in a Tk dialog
(`python -m agent.safety.confirm_dialog`, one process per question) and waits for Allow or Deny.
The agent is paused meanwhile: the question is asked inside the gate's review, on the loop's
thread, so no step goes on until it is answered. The dialog is gone before the next screenshot:
`ask` returns only once the dialog's process has ended and no window of its class is left on the
display. It can never be answered by the agent's own actions: (1) the agent acts only on the loop's
thread, which is waiting here; (2) the dialog's buttons stay disabled for `arm_ms` after it appears,
so input already on its way cannot land on them; (3) an Allow is refused if the run's input ledger
(`agent.safety.takeover.InputLedger`, through which every input call of the run's executor goes)
saw any agent input while the dialog was up. No answer within the timeout, the run being stopped,
the dialog closed or failing to start: deny.
Not for: the dialog's window (agent.safety.confirm_dialog).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actions.gate import Confirmation, Verdict
from actions.geometry import Screenshot
from actions.schema import Action, action_to_json
from agent.safety.confirm import preview
from agent.safety.confirm_dialog import WM_CLASS

if TYPE_CHECKING:
    from agent.safety.takeover import InputLedger

START_SLACK_S = 10.0  # the dialog's own start-up (Python + Tk) on top of the question's timeout
GONE_TIMEOUT_S = 3.0


class DesktopConfirmer:
    def __init__(self, timeout_s: float, stop: threading.Event | None = None,
                 quiet: Callable[[], AbstractContextManager[None]] | None = None,
                 ledger: Callable[[], InputLedger | None] | None = None, display: str | None = None,
                 arm_ms: int = 500) -> None:
        self.timeout_s, self.stop, self.arm_ms = timeout_s, stop or threading.Event(), arm_ms
        self.quiet, self.ledger, self.display = quiet or nullcontext, ledger or (lambda: None), display
        self.shown: dict[str, list[int]] | None = None  # the open dialog's window and button rectangles
        self.up = threading.Event()  # set while a dialog is on the screen

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> Confirmation:
        env = dict(os.environ)
        if self.display:
            env["DISPLAY"] = self.display
        if not env.get("DISPLAY"):
            return Confirmation(False, "unavailable", "no display for the confirmation dialog")
        with self.quiet(), tempfile.TemporaryDirectory(prefix="deskpilot-confirm-") as tmp:
            image = Path(tmp) / "preview.png"
            preview(shot, action).save(image)
            question = {"action": json.dumps(action_to_json(action), ensure_ascii=False), "rule": verdict.rule,
                        "reason": verdict.reason, "preview": str(image), "timeout_s": self.timeout_s,
                        "arm_ms": self.arm_ms}
            ledger = self.ledger()
            before = ledger.calls() if ledger is not None else 0
            proc = subprocess.Popen([sys.executable, "-m", "agent.safety.confirm_dialog"], env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                answer = self._answer(proc, question)
            finally:
                self._end(proc, env["DISPLAY"])
            if answer == "allow" and ledger is not None and (ledger.calls() != before or ledger.busy()):
                return Confirmation(False, "refused", "the agent's own input reached the display while the dialog "
                                    "was up, so its Allow was not taken")
            return {"allow": Confirmation(True, "approved", "allowed in the desktop dialog"),
                    "deny": Confirmation(False, "refused", "denied in the desktop dialog"),
                    "timeout": Confirmation(False, "timed_out", "no answer in the desktop dialog"),
                    "stopped": Confirmation(False, "refused", "the run was stopped")}.get(
                answer, Confirmation(False, "failed", f"the desktop dialog failed ({answer})"))

    def _answer(self, proc: subprocess.Popen[bytes], question: dict[str, Any]) -> str:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write((json.dumps(question) + "\n").encode())
            proc.stdin.close()
        except OSError as exc:
            return f"it did not start: {exc}"
        deadline, buffer = time.monotonic() + self.timeout_s + START_SLACK_S, b""
        fd = proc.stdout.fileno()
        while time.monotonic() < deadline:
            if self.stop.is_set():
                return "stopped"
            if not select.select([fd], [], [], 0.05)[0]:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return f"it exited with code {proc.wait()}"
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                if "ready" in message:
                    self.shown = message["ready"]
                    self.up.set()
                elif "answer" in message:
                    return str(message["answer"])
        return "timeout"

    def _end(self, proc: subprocess.Popen[bytes], display: str) -> None:
        """Make sure the dialog is gone from the screen before the run looks at it again."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        wait_gone(display)
        self.shown = None
        self.up.clear()


def wait_gone(display: str, timeout_s: float = GONE_TIMEOUT_S) -> bool:
    """Wait until no window of the dialog's class is on `display`; False if one stays."""
    try:
        from Xlib import display as xdisplay
    except ImportError:  # python-xlib comes with pynput on Linux; without it the process exit has to do
        return True
    deadline = time.monotonic() + timeout_s
    conn = xdisplay.Display(display)
    try:
        while time.monotonic() < deadline:
            if not dialog_windows(conn):
                return True
            time.sleep(0.02)
        return False
    finally:
        conn.close()


def dialog_windows(conn: Any) -> list[int]:
    """Ids of the dialog's windows (by WM_CLASS) among the top-level windows of `conn`'s screen."""
    found = []
    for window in conn.screen().root.query_tree().children:
        try:
            names = window.get_wm_class() or ()
        except Exception:  # a window that went away while we looked
            continue
        if any(name.lower() == WM_CLASS for name in names):
            found.append(window.id)
    return found
