"""The ledger and monitor without a display: typing moves no pointer, and a person's own device is
never explained by the agent being busy (only by a person's answer or a resume)."""

from __future__ import annotations

from agent.safety.control import Pause
from agent.safety.takeover import InputLedger, TakeoverMonitor


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[TakeoverMonitor, InputLedger, Pause, Clock]:
    clock, pause = Clock(), Pause()
    ledger = InputLedger(grace_s=0.15, clock=clock)
    mon = TakeoverMonitor(pause, ledger, lambda: (5, 5))
    mon._rebase()
    return mon, ledger, pause, clock


def test_the_pointer_moving_while_the_agent_types_is_a_person() -> None:
    mon, ledger, pause, _clock = setup()
    with ledger.acting():  # a `type` or `key`: no pointer_after, no motion of ours
        mon.on_key(True)  # its own keys
        mon.on_move(5, 5)  # where the agent left the pointer: not a move at all
        assert not pause.paused
        mon.on_move(300, 200)
    assert pause.paused and "(300, 200)" in pause.reason


def test_motion_during_the_agents_own_moves_is_the_agents() -> None:
    mon, ledger, pause, clock = setup()
    with ledger.acting(pointer_after=(400, 400)):  # a drag: every point on the way
        mon.on_move(100, 100)
        mon.on_move(300, 300)
    clock.now += 0.1
    mon.on_move(390, 395)  # a late event of the drag
    assert not pause.paused
    clock.now += 0.1
    mon.on_move(390, 395)  # after the grace: only where it ended is the agent's
    assert pause.paused


def test_a_persons_device_pauses_even_while_the_agent_acts() -> None:
    mon, ledger, pause, _clock = setup()
    with ledger.acting(pointer_after=(50, 50)):
        mon.on_person("the pointer moved (USB mouse)")
    assert pause.paused and pause.reason == "the pointer moved (USB mouse)"


def test_a_persons_device_is_not_a_takeover_while_they_answer_or_just_after() -> None:
    mon, _ledger, pause, clock = setup()
    with mon.suspended():
        mon.on_person("a key was pressed (keyboard)")
    mon.on_person("a key was pressed (keyboard)")  # the tail of the answer (the quiet grace)
    assert not pause.paused
    clock.now += 1
    mon.on_person("a key was pressed (keyboard)")
    assert pause.paused


def test_a_key_pressed_while_or_just_after_the_agent_clicks_somewhere_is_a_person() -> None:
    mon, ledger, pause, clock = setup()
    with ledger.acting(pointer_after=(40, 40)):  # a click at a point types no key
        mon.on_click(40, 40, "left", True)
        assert not pause.paused
        clock.now += 0.01
    clock.now += 0.04  # 40 ms after the click: within the grace for its own late button events
    mon.on_click(40, 40, "left", False)
    assert not pause.paused
    mon.on_key(True)
    assert pause.paused and pause.reason == "a key was pressed"


def test_late_keys_of_the_agents_typing_are_its_own() -> None:
    mon, ledger, pause, clock = setup()
    with ledger.acting():
        mon.on_key(True)
    clock.now += 0.1
    mon.on_key(True)
    assert not pause.paused


def test_a_move_hidden_in_the_grace_after_the_agents_click_is_caught_where_the_pointer_rests() -> None:
    """A person's XTest move (xdotool, VNC) just after the agent's click is excused by the late-motion grace;
    once the grace has passed the pointer must rest where the agent left it, or the run pauses."""
    import time

    for rests_at, paused in (((700, 500), True), ((400, 400), False)):
        pause = Pause()
        ledger = InputLedger(grace_s=0.05)
        mon = TakeoverMonitor(pause, ledger, lambda at=rests_at: at)
        with ledger.acting(pointer_after=(400, 400)):  # the agent's click at (400, 400)
            pass
        mon.on_move(*rests_at)  # within the grace: the agent's late motion, or a person's
        assert not pause.paused
        deadline = time.monotonic() + 2
        while not pause.paused and time.monotonic() < deadline and (paused or time.monotonic() < deadline - 1.8):
            time.sleep(0.01)
        assert pause.paused == paused, rests_at
        if paused:
            assert "(700, 500)" in pause.reason
        mon.stop()
