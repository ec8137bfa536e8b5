"""Launch the sandbox app (agent/sandbox/app.py) on a display and read its JSON state.

Used by `deskpilot demo`, the benchmarks and the display tests, so they all start the app the
same way; `pointing_at` aims this process's executors at that display.
Not for: the app itself (sandbox_app) or the display (xvfb).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from actions.errors import DeskpilotError

State = dict[str, Any]


class SandboxError(DeskpilotError, RuntimeError):
    """The sandbox app did not start or did not reach the expected state."""


class Sandbox:
    """A running sandbox app; stop() or use as a context manager."""

    def __init__(self, env: Mapping[str, str], state_path: Path, geometry: str = "800x600+40+40") -> None:
        self.state_path = Path(state_path)
        try:  # a stale state from an earlier app must not pass for this one's
            self.state_path.unlink(missing_ok=True)
        except OSError as exc:  # a directory, a path under a file: the app could not write there either
            raise SandboxError(f"cannot use {self.state_path} for its state: {exc.strerror or exc}") from None
        cmd = [sys.executable, "-m", "agent.sandbox.app", "--state", str(self.state_path), "--geometry", geometry]
        self.proc = subprocess.Popen(cmd, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def state(self) -> State:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}

    def wait_for(self, predicate: Callable[[State], object], timeout: float = 10.0, what: str = "") -> State:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if state and predicate(state):
                return state
            if self.proc.poll() is not None:
                raise SandboxError(f"the sandbox app exited with code {self.proc.returncode}: {self._stderr()}")
            if time.monotonic() > deadline:
                raise SandboxError(f"timed out waiting for {what or 'the sandbox state'}")
            time.sleep(0.02)

    def wait_ready(self, timeout: float = 15.0) -> State:
        return self.wait_for(lambda s: s.get("ready"), timeout, "the sandbox app to be ready")

    def centers(self, origin: tuple[int, int] = (0, 0)) -> dict[str, int]:
        """`W_x`/`W_y` vars: each widget's centre, relative to `origin` (the monitor's corner)."""
        out: dict[str, int] = {}
        for name, (x, y, w, h) in self.state().get("widgets", {}).items():
            out[f"{name}_x"], out[f"{name}_y"] = x + w // 2 - origin[0], y + h // 2 - origin[1]
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _stderr(self) -> str:
        if self.proc.stderr is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace").strip()[-500:]

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def pointing_at(display: str) -> Iterator[None]:
    """Point this process at `display` for a while: pyautogui and pynput read DISPLAY on connect.
    WAYLAND_DISPLAY is hidden meanwhile, or `screen.backend: auto` would drive the user's Wayland desktop."""
    previous = os.environ.get("DISPLAY")
    wayland = os.environ.pop("WAYLAND_DISPLAY", None)
    os.environ["DISPLAY"] = display
    try:
        yield
    finally:
        if wayland is not None:
            os.environ["WAYLAND_DISPLAY"] = wayland
        if previous is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = previous
