"""Start and stop a private, throw-away virtual X display (Xvfb) for tests and sandboxed runs.

What it is for:
    * ``Xvfb`` starts ``Xvfb -displayfd ...`` so the server picks a free display number itself,
      waits until the server accepts connections, and stops it again (context manager).
    * ``Xvfb.env()`` gives a copy of ``os.environ`` with ``DISPLAY`` pointing at the private
      server; pass it to subprocesses. The process-wide ``os.environ`` is never modified.
    * Optional multi-monitor layouts inside one X screen: each rectangle is declared as a RandR 1.5
      monitor with ``xrandr --setmonitor`` (see ``agent.sandbox.xrandr``). Clients that read ``RRGetMonitors`` (``xrandr
      --listmonitors``, python-mss 10.x default/xcb backends, most toolkits) then see several
      monitors. Clients that only enumerate CRTCs (python-mss ``backend="xlib"``) still see one.
    * ``available()`` says whether an Xvfb can be started here (used by tests to skip).

What it is not for:
    * It never touches the user's real display and does not run a window manager.
    * It does not launch or drive applications (no xdotool helpers here).
    * It is not a general X server manager: no auth cookies, no TCP listening, no GPU.
"""

from __future__ import annotations

import functools
import os
import select
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO

from actions.errors import DeskpilotError
from agent.sandbox.xrandr import MonitorLayoutError, define_monitors

__all__ = [
    "Display",
    "Monitor",
    "Xvfb",
    "XvfbError",
    "XvfbScreen",
    "available",
    "bounding_box",
]

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

Rect = tuple[int, int, int, int]


class XvfbError(DeskpilotError, RuntimeError):
    """Xvfb (or xrandr, for monitor layouts) could not be started or configured."""


@dataclass(frozen=True)
class XvfbScreen:
    """Size in pixels of one X screen (``-screen N WxHxDEPTH``)."""

    width: int
    height: int


@dataclass(frozen=True)
class Monitor:
    """One RandR monitor: a rectangle of X screen 0, in root-window pixels."""

    name: str
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class Display:
    """A running virtual display: ``name`` like ``":57"`` plus its screens and monitors."""

    name: str
    screens: tuple[XvfbScreen, ...]
    monitors: tuple[Monitor, ...] = ()


def bounding_box(monitors: Sequence[Rect]) -> XvfbScreen:
    """Smallest screen (anchored at 0,0) that contains every (left, top, width, height) rectangle."""
    if not monitors:
        raise ValueError("at least one monitor rectangle is required")
    for left, top, width, height in monitors:
        if left < 0 or top < 0 or width <= 0 or height <= 0:
            raise ValueError(f"invalid monitor rectangle {(left, top, width, height)}")
    return XvfbScreen(
        width=max(left + width for left, _, width, _ in monitors),
        height=max(top + height for _, top, _, height in monitors),
    )


def _screen_args(screens: Sequence[XvfbScreen], depth: int) -> list[str]:
    args: list[str] = []
    for index, screen in enumerate(screens):
        args += ["-screen", str(index), f"{screen.width}x{screen.height}x{depth}"]
    return args


def _read_display_number(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Read the display number Xvfb writes to ``-displayfd`` once it accepts connections."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise XvfbError(f"Xvfb did not report a display number within {timeout:.0f} s")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:
                raise XvfbError(f"Xvfb exited before reporting a display (rc={proc.wait()})")
            data += chunk
        elif proc.poll() is not None:
            raise XvfbError(f"Xvfb exited before reporting a display (rc={proc.returncode})")
    return int(data.strip())


def _wait_for_socket(number: int, timeout: float) -> None:
    """Connect to the display's Unix socket (when the file exists) to confirm it is serving."""
    path = f"/tmp/.X11-unix/X{number}"
    deadline = time.monotonic() + timeout
    while os.path.exists(path):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(path)
                return
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise XvfbError(f"Xvfb socket {path} does not accept connections")
        time.sleep(0.05)


def _tail(stream: IO[bytes] | None, limit: int = 800) -> str:
    if stream is None:
        return ""
    stream.seek(0)
    return " ".join(stream.read().decode("utf-8", "replace")[-limit:].split())


class Xvfb:
    """A private Xvfb server; use as a context manager or call ``start()`` / ``stop()``.

    ``screens``: sizes of X screens 0..n. ``monitors``: optional (left, top, width, height)
    rectangles inside screen 0; when given, screen 0 is sized to their bounding box.
    """

    def __init__(
        self,
        screens: Sequence[tuple[int, int]] = ((1280, 800),),
        depth: int = 24,
        monitors: Sequence[Rect] | None = None,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        sizes = [XvfbScreen(width, height) for width, height in screens] or [XvfbScreen(1280, 800)]
        if monitors:
            sizes[0] = bounding_box(monitors)
        self.screens: tuple[XvfbScreen, ...] = tuple(sizes)
        self.depth = depth
        self.monitors: tuple[Monitor, ...] = tuple(
            Monitor(f"XVFB-{i + 1}", *rect) for i, rect in enumerate(monitors or ())
        )
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._display: Display | None = None

    @property
    def display(self) -> str:
        """The display name, e.g. ``":57"``; raises if the server is not running."""
        return self.info.name

    @property
    def info(self) -> Display:
        if self._display is None:
            raise XvfbError("Xvfb is not running")
        return self._display

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Copy of ``base`` (default ``os.environ``) with DISPLAY set and WAYLAND_DISPLAY removed."""
        env = dict(os.environ if base is None else base)
        env["DISPLAY"] = self.display
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def start(self) -> Display:
        """Start the server (no-op if already running) and return its ``Display``."""
        if self._display is not None and self.running:
            return self._display
        exe = shutil.which("Xvfb")
        if exe is None:
            raise XvfbError("Xvfb not found on PATH (apt: xvfb)")
        try:
            self._display = self._launch(exe)
            if self.monitors:
                try:
                    define_monitors(self.env(), self.monitors)
                except MonitorLayoutError as exc:
                    raise XvfbError(str(exc)) from None
        except BaseException:
            self.stop()
            raise
        return self._display

    def _launch(self, exe: str) -> Display:
        read_fd, write_fd = os.pipe()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        cmd = [exe, "-displayfd", str(write_fd), *_screen_args(self.screens, self.depth), "-nolisten", "tcp"]
        try:
            self._proc = subprocess.Popen(
                [*cmd, "-noreset"],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,
            )
            os.close(write_fd)
            write_fd = -1
            number = self._wait_ready(read_fd)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
        return Display(name=f":{number}", screens=self.screens, monitors=self.monitors)

    def _wait_ready(self, read_fd: int) -> int:
        assert self._proc is not None
        started = time.monotonic()
        try:
            number = _read_display_number(read_fd, self._proc, self.start_timeout)
            _wait_for_socket(number, max(0.5, self.start_timeout - (time.monotonic() - started)))
        except XvfbError as exc:
            raise XvfbError(f"{exc}; Xvfb stderr: {_tail(self._stderr) or '(empty)'}") from None
        return number

    def stop(self) -> None:
        """Terminate the server and wait for it; safe to call more than once."""
        proc, self._proc = self._proc, None
        self._display = None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> Xvfb:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


@functools.lru_cache(maxsize=1)
def available() -> str | None:
    """None if an Xvfb can be started here, else a one-line reason (the result is cached)."""
    if shutil.which("Xvfb") is None:
        return "Xvfb not found on PATH (apt-get install xvfb)"
    try:
        with Xvfb(screens=((64, 64),), start_timeout=5.0):
            return None
    except (XvfbError, OSError) as exc:
        return " ".join(f"cannot start Xvfb: {exc}".split())[:300]
