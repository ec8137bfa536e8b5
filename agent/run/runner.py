"""Assemble one run from `Settings`: the computer, the gate, the confirmer, the trace; run it.

Shared by `replay`, `run` and `demo`, so every entry point gets the same gate and the same trace.
SIGINT and SIGTERM set the stop flag: the loop ends with status cancelled at its next check. The
safety side (gate rules, confirmer, kill hotkey, takeover, limits) comes from `agent.safety.assemble`.
Not for: argument parsing (cli) or the loop's logic (loop).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actions.capture import MssCapture
from actions.computer import Computer
from actions.window import UnavailableWindows
from agent.config import Settings
from agent.errors import EnvironmentProblem
from agent.run.hooks import RunHooks, call, started, trace_writer
from agent.run.loop import Agent, RunResult, run_task
from agent.run.signals import stop_on_signals
from agent.safety.assemble import SafetySession
from agent.safety.confirm import SuspendingConfirmer
from agent.traces.lines import Origin
from agent.traces.store import new_trace_dir
from policies.base import Policy


@dataclass(frozen=True)
class RunReport:
    result: RunResult
    trace_dir: Path


def build_computer(settings: Settings, display: str | None = None) -> Computer:
    from actions.capture import CaptureError

    if display is None:  # an explicit X display (tests, the daemon's sandbox) is X11 by definition
        wayland = _wayland_computer(settings)
        if wayland is not None:
            return wayland
    try:
        capture = MssCapture(settings.screen.monitor, settings.screen.scale, display)
    except CaptureError as exc:
        raise EnvironmentProblem(f"{exc} (is an X display running? set DISPLAY, or try `deskpilot demo`)") from None
    try:
        if settings.executor.backend == "pynput":
            from actions.pynput_computer import PynputComputer

            return PynputComputer(capture)
        from actions.pyautogui_computer import PyAutoGuiComputer

        return PyAutoGuiComputer(capture, pause=settings.executor.pause)
    except Exception as exc:  # pyautogui/pynput fail at import without a usable X connection
        capture.close()
        raise EnvironmentProblem(f"cannot start the {settings.executor.backend} executor: {exc}") from None


def check_desktop(settings: Settings) -> None:
    """Say now, before a model is loaded, when this desktop cannot be driven (EnvironmentProblem, one line).
    On GNOME this only probes (a portal session would show its consent dialog once more)."""
    import os

    from actions.backends import NoBackend, choose_backend

    try:
        gnome = choose_backend(settings.screen.backend, os.environ) == "gnome"
    except NoBackend as exc:
        raise EnvironmentProblem(str(exc)) from None
    if not gnome:
        build_computer(settings).close()
        return
    from actions.gnome.start import probe

    try:
        probe(settings.screen.gnome_via)
    except Exception as exc:  # as in _gnome_computer
        raise EnvironmentProblem(f"cannot start the gnome backend: {str(exc).splitlines()[0]}") from None


def _wayland_computer(settings: Settings) -> Computer | None:
    """The native Wayland computer `screen.backend` asks for in this session, or None for X11."""
    import os

    from actions.backends import NoBackend, choose_backend

    try:
        backend = choose_backend(settings.screen.backend, os.environ)
    except NoBackend as exc:
        raise EnvironmentProblem(str(exc)) from None
    if backend == "gnome":
        return _gnome_computer(settings)
    if backend != "wlroots":
        return None
    try:
        from actions.wayland.computer import WlrootsComputer

        return WlrootsComputer(settings.screen.monitor, os.environ.get("WAYLAND_DISPLAY"))
    except Exception as exc:  # no compositor, no pywayland, missing protocols, no such output
        raise EnvironmentProblem(f"cannot start the wlroots backend: {exc}") from None


def _gnome_computer(settings: Settings) -> Computer:
    """mutter's remote desktop, directly or through the portal (`screen.gnome_via`)."""
    from actions.gnome.start import open_computer

    try:
        return open_computer(settings.screen.monitor, settings.screen.gnome_via, portal_token_file(),
                             say=lambda line: print(f"deskpilot: {line}", file=sys.stderr, flush=True))
    except Exception as exc:  # no mutter service, no PyGObject/GStreamer, consent refused, no such monitor
        raise EnvironmentProblem(f"cannot start the gnome backend: {str(exc).splitlines()[0]}") from None


def portal_token_file() -> Path:
    """Where the portal's restore token lives: $XDG_STATE_HOME/deskpilot/, else ~/.local/state/deskpilot/."""
    import os

    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if state.startswith("/") else Path.home() / ".local" / "state"
    return base / "deskpilot" / "gnome-portal-restore-token"


def build_capture(settings: Settings) -> Any:
    """A capture alone (`grab`, `close`) on the backend `screen.backend` picks: replay's observer uses it."""
    import os

    from actions.backends import NoBackend, choose_backend

    try:
        backend = choose_backend(settings.screen.backend, os.environ)
        if backend == "wlroots":
            from actions.wayland.capture import WlrootsCapture

            return WlrootsCapture(settings.screen.monitor, os.environ.get("WAYLAND_DISPLAY"))
    except NoBackend as exc:
        raise EnvironmentProblem(str(exc)) from None
    if backend == "gnome":
        from actions.gnome.start import GnomeCapture

        try:
            return GnomeCapture(settings.screen.monitor, settings.screen.gnome_via, portal_token_file())
        except Exception as exc:  # as for the computer
            raise EnvironmentProblem(f"cannot start the gnome backend's capture: {str(exc).splitlines()[0]}") from None
    return MssCapture(settings.screen.monitor, settings.screen.scale)


def execute(task: str, policy: Policy, settings: Settings, origin: Origin | None = None,
            computer: Computer | None = None, hooks: RunHooks | None = None) -> RunReport:
    """Run `task` with `policy` on this desktop (or on `computer`), writing a new trace.

    `hooks` (the daemon's): who confirms, the stop flag, and callbacks for the start and each step.
    """
    hooks = hooks or RunHooks()
    desktop = computer is None  # a real desktop: window rules, kill hotkey and takeover apply
    computer = computer or build_computer(settings)
    trace = trace_writer(new_trace_dir(settings.trace.dir), settings.trace.png_compress_level, hooks)
    wayland = desktop and getattr(computer, "backend", "x11") != "x11"
    # on Wayland an X display (XWayland) shows only XWayland's windows: window rules must deny, not trust it
    windows = UnavailableWindows("window information needs X11; this is a Wayland session") if wayland else None
    safety = SafetySession(settings, trace, desktop, stop=hooks.stop, hooks=hooks, windows=windows)
    if wayland:
        safety.listeners_unavailable = "Wayland lets no client watch global keys or input"
    call(hooks.on_safety, safety)
    confirmer = safety.confirmer if hooks.confirmer is None else SuspendingConfirmer(
        hooks.confirmer, safety.monitor.suspended)
    agent = Agent(policy, safety.guard(computer), safety.gate, confirmer, trace, settings,
                  safety.stop, safety.control)
    started(hooks, trace.dir)
    try:
        with stop_on_signals(agent.stop), safety.running(policy):
            origin = (origin or Origin()).with_(config=settings.summary())
            if desktop:  # the trace says which desktop backend acted
                origin = origin.with_(extra={**origin.extra, "backend": getattr(computer, "backend", "x11")})
            result = run_task(task, agent, origin)
    finally:
        trace.close()
        computer.close()
    return RunReport(result, trace.dir)
