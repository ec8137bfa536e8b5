"""Monitor layouts inside one X screen, declared with RandR 1.5 (`xrandr --setmonitor`).

Used by `agent.sandbox.xvfb` to give a private Xvfb several monitors that XRandR clients (python-mss's
default backend, toolkits, `xrandr --listmonitors`) see. Not for: starting servers, or real outputs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Protocol

from actions.errors import DeskpilotError

_MM_PER_PIXEL = 25.4 / 96.0  # physical size advertised for --setmonitor (96 DPI)
Rect = tuple[int, int, int, int]


class MonitorLayoutError(DeskpilotError, RuntimeError):
    """xrandr is missing, failed, or did not report the layout it was given."""


class NamedRect(Protocol):
    name: str
    left: int
    top: int
    width: int
    height: int


def _xrandr(env: Mapping[str, str], *args: str) -> str:
    exe = shutil.which("xrandr")
    if exe is None:
        raise MonitorLayoutError("xrandr not found on PATH; it is needed to define monitors (apt: x11-xserver-utils)")
    result = subprocess.run(
        [exe, *args], env=dict(env), capture_output=True, text=True, timeout=10, check=False
    )
    if result.returncode != 0:
        raise MonitorLayoutError(f"xrandr {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _connected_outputs(env: Mapping[str, str]) -> list[str]:
    """Names of the RandR outputs Xvfb reports as connected (Xvfb 21.x has one, "screen")."""
    return re.findall(r"^(\S+) connected", _xrandr(env, "--query"), flags=re.MULTILINE)


def _setmonitor_geometry(monitor: NamedRect) -> str:
    width_mm = round(monitor.width * _MM_PER_PIXEL)
    height_mm = round(monitor.height * _MM_PER_PIXEL)
    return f"{monitor.width}/{width_mm}x{monitor.height}/{height_mm}+{monitor.left}+{monitor.top}"


def _listed_monitors(env: Mapping[str, str]) -> list[Rect]:
    """(left, top, width, height) of every monitor in ``xrandr --listmonitors``."""
    pattern = re.compile(r"^\s*\d+:\s+\S+\s+(\d+)/\d+x(\d+)/\d+\+(\d+)\+(\d+)", flags=re.MULTILINE)
    return [
        (int(x), int(y), int(w), int(h)) for w, h, x, y in pattern.findall(_xrandr(env, "--listmonitors"))
    ]


def define_monitors(env: Mapping[str, str], monitors: Sequence[NamedRect]) -> None:
    """Declare ``monitors`` with ``xrandr --setmonitor`` and verify them with ``--listmonitors``.

    The first monitor takes over Xvfb's only output (and is marked primary), which removes the
    automatic whole-screen monitor; the others have no output ("none").
    """
    outputs = _connected_outputs(env)
    for index, monitor in enumerate(monitors):
        first = index == 0
        name = f"*{monitor.name}" if first else monitor.name
        output = outputs[0] if first and outputs else "none"
        _xrandr(env, "--setmonitor", name, _setmonitor_geometry(monitor), output)
    wanted = sorted((m.left, m.top, m.width, m.height) for m in monitors)
    listed = sorted(_listed_monitors(env))
    if listed != wanted:
        raise MonitorLayoutError(f"xrandr --listmonitors shows {listed}, expected {wanted}")
