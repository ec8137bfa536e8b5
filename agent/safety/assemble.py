"""Assemble the safety side of a run from `Settings`: the gate's rules, the confirmer, and the live
controls around the run (kill hotkey, takeover monitor, resume hotkey and SIGUSR1).

`build_gate` maps the `safety:` config onto the rules of `actions.rules` / `actions.textrules`.
`SafetySession` owns one run's stop flag, pause state, limits (`Control`), executor guard and
listeners; `running()` starts the listeners and stops them again. A paused run resumes on the
resume hotkey, on SIGUSR1 when the run owns the main thread (an in-process run), or by the
caller's own command (`RunHooks.resume_via`: the daemon's `deskpilot resume`); the pause notice
names only the ways that work for this run. Where a listener cannot start
(no X display; a Wayland backend, where no client may watch global input) the run goes on and says
so, naming what still stops it: Ctrl+C in the terminal (or the caller's stop), SIGTERM. An
`Interruptible` policy gets the stop flag, so an in-flight generation can end early.
Not for: the rules themselves, or the loop.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from actions.computer import Computer
from actions.gate import Confirmer, Gate, OnScreen, RefuseConfirmer, Rule
from actions.rules import AppAllowList, Hotkeys, ProtectedRegions, Region, TerminalEnter, parse_combo
from actions.textrules import DESTRUCTIVE, PIPE_TO_SHELL, PRIVILEGE, SECRETS, PatternGroup, TextLength, TypedText
from actions.window import NoWindows, UnavailableWindows, WindowSource, X11Windows
from agent.config import Settings
from agent.run.hooks import RunHooks, call
from agent.safety.config import SafetySettings
from agent.safety.confirm import SuspendingConfirmer, TtyConfirmer
from agent.safety.control import Control, Pause
from agent.safety.guarded import GuardedComputer
from agent.safety.hotkeys import KeyboardWatch
from agent.safety.takeover import InputLedger, TakeoverMonitor
from agent.traces.store import TraceWriter
from policies.base import Interruptible


def build_rules(safety: SafetySettings, windows: WindowSource) -> list[Rule]:
    text = safety.text
    groups = [
        PatternGroup("destructive", text.destructive, DESTRUCTIVE),
        PatternGroup("pipe_to_shell", text.pipe_to_shell, PIPE_TO_SHELL),
        PatternGroup("secrets", text.secrets, SECRETS, entropy=True),
        PatternGroup("privilege", text.privilege, PRIVILEGE),
        *(PatternGroup(f"custom.{c.name}", c.verdict, ((c.name, c.pattern),)) for c in text.custom),
    ]
    return [
        OnScreen(),
        Hotkeys("control_hotkeys", [safety.kill_hotkey, safety.takeover.resume_hotkey], "deny"),
        Hotkeys("hotkeys.deny", safety.hotkeys.deny, "deny"),
        Hotkeys("hotkeys.confirm", safety.hotkeys.confirm, "confirm"),
        TypedText(groups),
        TextLength(text.max_length, text.too_long),
        TerminalEnter(safety.terminal_enter.classes, safety.terminal_enter.verdict, windows),
        ProtectedRegions([Region(*r) for r in safety.regions.rects], safety.regions.verdict, windows),
        AppAllowList(safety.apps.allow, safety.apps.verdict, windows),
    ]


def build_gate(settings: Settings, windows: WindowSource | None = None) -> Gate:
    """The gate for `settings`; without `windows`, window-aware rules see no windows at all."""
    return Gate(build_rules(settings.safety, windows or NoWindows()), settings.safety.confirm)


def open_windows(desktop: bool) -> WindowSource:
    """X11 window information for a real desktop; a failure makes window-aware rules deny."""
    if not desktop:
        return NoWindows()
    try:
        return X11Windows()
    except Exception as exc:  # no python-xlib, no X display: fail closed, not open
        return UnavailableWindows(f"cannot read window information from X11: {exc}")


def has_terminal() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


class SafetySession:
    """One run's stop flag, pause, limits, gate, confirmer, executor guard and listeners."""

    def __init__(self, settings: Settings, trace: TraceWriter, desktop: bool,
                 stop: threading.Event | None = None, ask: bool | None = None, hooks: RunHooks | None = None,
                 windows: WindowSource | None = None) -> None:
        self.settings, self.trace, self.desktop = settings, trace, desktop
        self.hooks = hooks or RunHooks()
        self.hotkeys_on = self.sigusr1_on = False  # which ways to resume work (the pause notice names them)
        safety = settings.safety
        self.stop = stop or threading.Event()
        self.windows = windows or open_windows(desktop)  # `windows`: the caller knows X11 cannot tell (Wayland)
        self.pause = Pause(self._announce)
        self.control = Control(self.stop, safety, self.pause)
        self.ledger = InputLedger(safety.takeover.grace_ms / 1000)
        self.monitor = TakeoverMonitor(self.pause, self.ledger, self.windows.pointer)
        self.gate = build_gate(settings, self.windows)
        self.confirmer = self._confirmer(has_terminal() if ask is None else ask)
        self.listeners_unavailable: str | None = None  # why no key/input listener can run (a Wayland backend)

    def guard(self, computer: Computer) -> GuardedComputer:
        return GuardedComputer(computer, self.control, self.ledger)

    def resume(self, how: str) -> bool:
        """Resume a paused run (from any thread); False if it was not paused."""
        self.ledger.quiet(self.ledger.grace_s)  # the keys that asked for it are not a takeover
        return self.pause.resume(how)

    @contextmanager
    def running(self, policy: Any = None) -> Iterator[None]:
        """Start the kill switch, the takeover monitor and SIGUSR1 (resume); stop them after."""
        if isinstance(policy, Interruptible):
            policy.interrupt_event = self.stop
        with ExitStack() as stack:
            close = getattr(self.windows, "close", None)  # X11Windows holds a display connection
            if close is not None:
                stack.callback(close)
            if self.desktop:
                self._start(stack)
            self.sigusr1_on = stack.enter_context(_on_sigusr1(lambda: self.resume("SIGUSR1")))
            try:
                yield
            finally:
                self.hotkeys_on = self.sigusr1_on = False

    def _confirmer(self, ask: bool) -> Confirmer:
        if not ask:
            return RefuseConfirmer()
        tty = TtyConfirmer(self.trace.dir, self.settings.safety.confirm_timeout_s, self.stop)
        return SuspendingConfirmer(tty, self.monitor.suspended)

    def _start(self, stack: ExitStack) -> None:
        safety, takeover = self.settings.safety, self.settings.safety.takeover
        watching = takeover.enabled
        bindings = {parse_combo(safety.kill_hotkey): self._kill,
                    parse_combo(takeover.resume_hotkey): lambda: self.resume("hotkey")}
        keys = KeyboardWatch(bindings, self.monitor.on_key if watching else None)
        for name, part in (("kill switch", keys), ("takeover monitor", self.monitor if watching else None)):
            if part is None:
                continue
            if self.listeners_unavailable is not None:
                self._announce("unavailable", {"what": name, "error": self.listeners_unavailable})
                continue
            try:
                part.start()
            except Exception as exc:  # pynput could not reach the display
                self._announce("unavailable", {"what": name, "error": f"{type(exc).__name__}: {exc}"})
                continue
            stack.callback(part.stop)
            if part is keys:
                self.hotkeys_on = True

    def _kill(self) -> None:
        self.stop.set()
        self._announce("kill", {"t": time.time(), "hotkey": self.settings.safety.kill_hotkey})

    def _ways(self) -> tuple[list[str], list[str]]:
        """The ways to resume this run, and to stop it, that work now (the pause notice names them)."""
        safety, hooks = self.settings.safety, self.hooks
        resume = [safety.takeover.resume_hotkey] if self.hotkeys_on else []
        if hooks.resume_via:
            resume.append(hooks.resume_via)
        elif self.sigusr1_on:
            resume.append(f"`kill -USR1 {os.getpid()}`")
        stop = [safety.kill_hotkey] if self.hotkeys_on else []
        return resume, [*stop, hooks.stop_via or "Ctrl+C in the terminal"]

    def _announce(self, event: str, fields: dict[str, object]) -> None:
        """Say it on stderr, to the caller's notice hook and in the trace (from any thread)."""
        safety = self.settings.safety
        resume, stop = self._ways()
        lines = {
            "paused": f"paused: a person is using the computer ({fields.get('reason')}). Resume with "
                      f"{' or '.join(resume) or 'nothing (no resume hotkey or signal works in this run)'}; "
                      f"stop with {' or '.join(stop)}",
            "resumed": f"resumed ({fields.get('how')})",
            "kill": f"kill hotkey {safety.kill_hotkey} pressed: stopping",
            "unavailable": f"{fields.get('what')} unavailable ({str(fields.get('error')).splitlines()[0]}); "
                           f"stop the run with {' or '.join(stop)} or `kill {os.getpid()}` (SIGTERM)",
        }
        line = lines.get(event, event)
        print(f"deskpilot: {line}", file=sys.stderr, flush=True)
        call(self.hooks.on_notice, event, line)
        try:
            self.trace.event(event, **fields)
        except Exception:  # the trace may be closed already; stderr has said it
            pass


@contextmanager
def _on_sigusr1(callback: Any) -> Iterator[bool]:
    """Call `callback` on SIGUSR1 while inside; yields whether it could (only the main thread may)."""
    sig = getattr(signal, "SIGUSR1", None)
    if sig is None or threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.getsignal(sig)
    signal.signal(sig, lambda *_: callback())
    try:
        yield True
    finally:
        signal.signal(sig, previous)
