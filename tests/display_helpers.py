"""Helpers for tests that drive real X11 input against ``agent.sandbox.app`` under a private Xvfb.

What it is for:
    * ``display_skip_reason()``: why display tests cannot run here (no Xvfb / xdotool), or None.
    * ``private_xvfb()`` starts a private Xvfb for a module fixture (or skips with that reason).
    * ``launch_sandbox()`` starts the sandbox app on a given display environment and returns a
      ``SandboxProcess`` whose ``state()`` re-reads the JSON state file and whose ``wait_for()``
      polls it until a predicate holds.
    * ``XDoTool`` runs ``xdotool`` against the same display (click, type, key, drag, wheel).
    * ``mss_monitors()`` asks python-mss which monitors it sees on a display.

What it is not for:
    It defines no pytest fixtures (test modules build their own from these pieces, one server per module) and never
    touches the real display: every subprocess gets the env passed in (from ``Xvfb.env()``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from agent.sandbox.xvfb import Xvfb, available

__all__ = [
    "REPO_ROOT",
    "SandboxProcess",
    "XDoTool",
    "display_skip_reason",
    "launch_sandbox",
    "mss_monitors",
    "private_xvfb",
    "rect_center",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
State = dict[str, Any]
Rect = Sequence[int]
POLL_S = 0.02


def display_skip_reason() -> str | None:
    """None when Xvfb starts and xdotool is installed, else a one-line reason to skip."""
    reason = available()
    if reason is not None:
        return reason
    if shutil.which("xdotool") is None:
        return "xdotool not found on PATH (apt-get install xdotool)"
    return None


def private_xvfb(*screens: tuple[int, int]) -> Iterator[Xvfb]:
    """Yield a private Xvfb with these screens (default one 1280×800) for a fixture; skip when none can run."""
    import pytest

    reason = display_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with Xvfb(screens=screens or ((1280, 800),)) as server:
        yield server


# The end of a Tk test app's source: once its window is viewable, it writes "ready" to the file named
# by its first argument (what `desktop_with_clients` waits for), then runs.
TK_READY = """
def ready():
    root.update()
    if not root.winfo_viewable():
        root.after(20, ready); return
    open(sys.argv[1], "w").write("ready")
root.after(0, ready); root.mainloop()
"""


@contextmanager
def desktop_with_clients(tmp: Path, sources: Mapping[str, str]) -> Iterator[Any]:
    """An Xvfb (1280x800) with one client per `sources` entry (name -> Python source, started with the
    path of its ready file, which it writes once it is up), and a real executor on it, the pointer parked
    away at (900, 600); everything stopped at the end."""
    from agent.config import load_settings
    from agent.run.runner import build_computer
    from agent.sandbox.launch import pointing_at

    for name, source in sources.items():
        (tmp / f"{name}.py").write_text(source, encoding="utf-8")
    with Xvfb(screens=((1280, 800),)) as server, pointing_at(server.display):
        procs = [subprocess.Popen([sys.executable, str(tmp / f"{name}.py"), str(tmp / f"{name}.ready")],
                                  env=server.env()) for name in sources]
        try:
            deadline = time.monotonic() + 15
            while not all((tmp / f"{name}.ready").exists() for name in sources):
                assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, "an app did not start"
                time.sleep(0.02)
            computer = build_computer(load_settings(None), server.display)
            computer.move((900, 600))
            yield computer
            computer.close()
        finally:
            for proc in procs:  # a client's own children go with the X server
                proc.terminate()
                proc.wait(timeout=5)


def rect_center(rect: Rect) -> tuple[int, int]:
    """Centre of an ``[x, y, width, height]`` rectangle, in the same coordinates."""
    x, y, width, height = rect[:4]
    return x + width // 2, y + height // 2


class XDoTool:
    """Thin wrapper running ``xdotool`` with a fixed environment (DISPLAY of a private Xvfb)."""

    def __init__(self, env: Mapping[str, str], timeout: float = 10.0) -> None:
        self.env = dict(env)
        self.timeout = timeout

    def run(self, *args: object) -> str:
        cmd = ["xdotool", *(str(arg) for arg in args)]
        result = subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=self.timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def move(self, x: int, y: int) -> None:
        self.run("mousemove", x, y)

    def click(self, x: int, y: int, button: int = 1, repeat: int = 1, delay_ms: int = 80) -> None:
        """Move to (x, y) and click ``button`` ``repeat`` times (double/triple click with repeat 2/3)."""
        self.run("mousemove", x, y, "click", "--repeat", repeat, "--delay", delay_ms, button)

    def wheel(self, x: int, y: int, button: int, notches: int = 1) -> None:
        """Wheel at (x, y): button 4 up, 5 down, 6 left, 7 right."""
        self.click(x, y, button=button, repeat=notches, delay_ms=30)

    def type(self, text: str, delay_ms: int = 15) -> None:
        self.run("type", "--delay", delay_ms, "--", text)

    def key(self, *combos: str) -> None:
        self.run("key", "--clearmodifiers", *combos)

    def drag(self, start: Sequence[int], end: Sequence[int], steps: int = 8, button: int = 1) -> None:
        """Press at ``start``, move in ``steps`` straight-line steps to ``end``, release."""
        args: list[object] = ["mousemove", start[0], start[1], "mousedown", button, "sleep", 0.05]
        for i in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * i // steps
            y = start[1] + (end[1] - start[1]) * i // steps
            args += ["mousemove", x, y, "sleep", 0.02]
        self.run(*args, "sleep", 0.05, "mouseup", button)

    def pointer(self) -> tuple[int, int]:
        fields = dict(item.split(":", 1) for item in self.run("getmouselocation").split())
        return int(fields["x"]), int(fields["y"])


class SandboxProcess:
    """A running ``python -m agent.sandbox.app``; ``state()`` re-reads its JSON state file."""

    def __init__(self, proc: subprocess.Popen[bytes], state_path: Path, stderr: IO[bytes]) -> None:
        self.proc = proc
        self.state_path = state_path
        self._stderr = stderr

    def state(self) -> State:
        """The latest state written by the app ({} before the first write)."""
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def wait_for(self, predicate: Callable[[State], object], timeout: float = 5.0, what: str = "") -> State:
        """Poll the state until ``predicate(state)`` is truthy; return that state or raise AssertionError."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if _holds(predicate, state):
                return state
            if self.proc.poll() is not None:
                raise AssertionError(f"sandbox exited (rc={self.proc.returncode}): {self.stderr_tail()}")
            if time.monotonic() > deadline:
                shown = {k: v for k, v in state.items() if k not in ("widgets", "context_menu_entries")}
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what or predicate}; state={shown}"
                )
            time.sleep(POLL_S)

    def wait_ready(self, timeout: float = 10.0) -> State:
        """Wait until this process (not a previous one using the same file) has written ready."""
        return self.wait_for(lambda s: s.get("ready") and s.get("pid") == self.proc.pid, timeout, "ready")

    def widget(self, name: str) -> list[int]:
        """``[root_x, root_y, width, height]`` of a named sandbox widget."""
        return list(self.state()["widgets"][name])

    def center(self, name: str) -> tuple[int, int]:
        return rect_center(self.widget(name))

    def stderr_tail(self, limit: int = 2000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-limit:]

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the app and wait; kill it if it does not exit. Returns its exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._stderr.close()
        return self.proc.returncode

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _holds(predicate: Callable[[State], object], state: State) -> bool:
    try:
        return bool(state) and bool(predicate(state))
    except (KeyError, IndexError, TypeError):
        return False


def launch_sandbox(
    env: Mapping[str, str],
    state_path: Path,
    geometry: str = "800x600+40+40",
    title: str = "deskpilot sandbox",
    ready_timeout: float = 10.0,
) -> SandboxProcess:
    """Start the sandbox app with ``env`` (from ``Xvfb.env()``) and wait until it reports ready."""
    state_path = Path(state_path)
    state_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "agent.sandbox.app", "--state", str(state_path), "--geometry", geometry]
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by SandboxProcess.stop()
    proc = subprocess.Popen([*cmd, "--title", title], env=dict(env), cwd=REPO_ROOT, stderr=stderr)
    app = SandboxProcess(proc, state_path, stderr)
    try:
        app.wait_ready(ready_timeout)
    except BaseException:
        app.stop()
        raise
    return app


def mss_monitors(display: str) -> list[dict[str, int]]:
    """Monitors python-mss reports on ``display`` (index 0 is the bounding box), as plain rects."""
    import mss  # optional dependency, only needed by monitor tests

    factory = getattr(mss, "MSS", None) or mss.mss
    with factory(display=display) as sct:
        return [{k: int(m[k]) for k in ("left", "top", "width", "height")} for m in sct.monitors]
