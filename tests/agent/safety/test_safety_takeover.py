"""Telling the agent's own input from a person's (ledger + monitor), hotkey spelling, the pause state."""

from __future__ import annotations

import threading
import time

import pytest

from actions.fake import FakeComputer
from actions.rules import parse_combo
from agent.config import load_settings
from agent.safety.control import Control, Pause
from agent.safety.guarded import Cancelled, GuardedComputer, Interrupted
from agent.safety.hotkeys import pynput_combo
from agent.safety.takeover import InputLedger, TakeoverMonitor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def monitor(pointer: tuple[int, int] = (5, 5)) -> tuple[TakeoverMonitor, InputLedger, Pause, Clock]:
    clock, pause = Clock(), Pause()
    ledger = InputLedger(grace_s=0.15, clock=clock)
    mon = TakeoverMonitor(pause, ledger, lambda: pointer)
    mon._rebase()
    return mon, ledger, pause, clock


def test_the_agents_own_input_does_not_pause() -> None:
    mon, ledger, pause, clock = monitor()
    with ledger.acting(pointer_after=(100, 100)):
        mon.on_move(50, 50)  # on the way
        mon.on_click(100, 100, "left", True)
    with ledger.acting():  # typing (keys only: a click somewhere types no key)
        mon.on_key(True)
    clock.now += 0.1
    mon.on_move(100, 100)  # late events, within the grace period
    mon.on_key(True)
    clock.now += 5
    mon.on_move(101, 99)  # where the agent left the pointer (within tolerance)
    mon.on_key(False)  # a key release alone never counts
    assert not pause.paused


@pytest.mark.parametrize("event", ["move", "click", "key", "scroll"])
def test_a_persons_input_pauses_once(event: str) -> None:
    mon, _, pause, clock = monitor()
    clock.now = 10
    {"move": lambda: mon.on_move(300, 300), "click": lambda: mon.on_click(5, 5, "left", True),
     "key": lambda: mon.on_key(True), "scroll": lambda: mon.on_scroll(5, 5, 0, 1)}[event]()
    assert pause.paused and pause.epoch == 1 and pause.reason
    mon.on_move(400, 400)  # more input while paused: still one pause
    assert pause.epoch == 1


def test_input_while_a_person_answers_a_confirmation_is_not_a_takeover() -> None:
    mon, _, pause, clock = monitor(pointer=(700, 700))
    clock.now = 10
    with mon.suspended():
        mon.on_key(True)
        mon.on_move(700, 700)
    mon.on_key(True)  # the tail of the answer, within the grace period
    assert not pause.paused
    clock.now += 1
    mon.on_move(700, 700)  # the pointer is where the person left it: re-based, not foreign
    assert not pause.paused


def test_pause_blocks_until_resumed_or_stopped() -> None:
    said: list[str] = []
    pause, stop = Pause(lambda event, fields: said.append(event)), threading.Event()
    assert pause.pause("moved") and not pause.pause("again")
    threading.Timer(0.05, pause.resume, args=("hotkey",)).start()
    started = time.monotonic()
    assert pause.wait(stop) and 0.04 < time.monotonic() - started < 1
    assert said == ["paused", "resumed"] and not pause.resume("twice")
    pause.pause("moved")
    threading.Timer(0.05, stop.set).start()
    pause.wait(stop)
    assert pause.paused and stop.is_set()


def test_the_guard_checks_before_every_input_call_and_tells_the_ledger() -> None:
    stop = threading.Event()
    control = Control(stop, load_settings(None).safety)
    ledger = InputLedger(grace_s=0.0)
    fake = FakeComputer()
    guard = GuardedComputer(fake, control, ledger)
    guard.click((3, 4), "left", 1)
    assert ledger.explains_motion(3, 4) and not ledger.explains_motion(30, 4)
    guard.type_text("0123456789abcdefghij")
    assert [c for c in fake.calls if c[0] == "type"] == [("type", "01234567"), ("type", "89abcdef"), ("type", "ghij")]
    control.pause.pause("test")
    try:
        guard.key(("a",))
        raise AssertionError("a paused guard must not send input")
    except Interrupted:
        pass
    stop.set()
    try:
        guard.move((1, 1))
        raise AssertionError("a stopped guard must not send input")
    except Cancelled:
        pass
    assert fake.calls[-1] == ("type", "ghij")


def test_hotkeys_in_pynput_spelling() -> None:
    assert pynput_combo(parse_combo("ctrl+alt+shift+k")) == "<alt>+<ctrl>+<shift>+k"
    assert pynput_combo(parse_combo("super+pageup")) == "<cmd>+<page_up>"
    assert pynput_combo(parse_combo("pause")) == "<pause>"


def test_sigusr1_resumes_and_confirmations_suspend_the_monitor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal

    from actions.gate import Verdict
    from actions.schema import parse_action
    from agent.safety.assemble import SafetySession
    from agent.safety.confirm import SuspendingConfirmer
    from agent.traces.store import TraceWriter

    session = SafetySession(load_settings(None), TraceWriter(tmp_path / "t"), desktop=False, ask=False)
    with session.running():
        session.pause.pause("the pointer moved")
        os.kill(os.getpid(), signal.SIGUSR1)
        deadline = time.monotonic() + 2
        while session.pause.paused and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not session.pause.paused
    session.trace.close()
    events = [(line.get("event"), line.get("how")) for line in _lines(tmp_path / "t")]
    assert events == [("paused", None), ("resumed", "SIGUSR1")]

    class Answering:
        def ask(self, action, verdict, shot):  # type: ignore[no-untyped-def]
            session.monitor.on_key(True)  # the person typing "y"
            return True

    confirmer = SuspendingConfirmer(Answering(), session.monitor.suspended)
    assert confirmer.ask(parse_action({"action": "key", "keys": ["a"]}), Verdict("confirm", "x"), None)  # type: ignore[arg-type]
    assert not session.pause.paused


def _lines(path):  # type: ignore[no-untyped-def]
    import json

    return [json.loads(x) for x in (path / "trace.jsonl").read_text().splitlines() if '"event"' in x]


class DeadListener:
    """A pynput-like listener whose thread dies before it is ready (no RECORD extension)."""

    def __init__(self) -> None:
        self.thread = threading.Thread(target=lambda: None)
        self.stopped = False

    def start(self) -> None:
        self.thread.start()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def wait(self) -> None:
        threading.Event().wait()  # pynput's wait() never returns in this case

    def stop(self) -> None:
        self.stopped = True


def test_a_listener_that_cannot_start_is_reported_not_waited_for_forever(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from actions.window import NoWindows
    from agent.safety.assemble import SafetySession
    from agent.safety.hotkeys import KeyboardWatch, start_listener
    from agent.safety.takeover import TakeoverMonitor
    from agent.traces.store import TraceWriter

    listener = DeadListener()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="RECORD"):
        start_listener(listener)
    assert time.monotonic() - started < 1 and listener.stopped

    def broken(self) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("no display")

    monkeypatch.setattr(KeyboardWatch, "start", broken)
    monkeypatch.setattr(TakeoverMonitor, "start", broken)
    monkeypatch.setattr("agent.safety.assemble.open_windows", lambda desktop: NoWindows())
    session = SafetySession(load_settings(None), TraceWriter(tmp_path / "t"), desktop=True, ask=False)
    with session.running():
        pass
    err = capsys.readouterr().err
    assert "kill switch unavailable" in err and "takeover monitor unavailable" in err and "Ctrl+C" in err
