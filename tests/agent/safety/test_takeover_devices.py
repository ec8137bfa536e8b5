"""A person acting in the middle of a long `type` pauses the run within 200 ms, on a private Xvfb.

Two people. One uses an input device of their own: the test adds an XInput2 master device
("person") and injects through its XTest slave, so the events come from a device other than the
core XTEST ones the agent types through, as a real mouse's would (Xvfb has no real hands to lend;
uinput devices never reach Xvfb). The other is xdotool moving the pointer through the core XTEST
device, as a VNC viewer would: the ledger catches it, since typing moves no pointer. Both print
their latency (run with -s) and the number of characters typed of 3,000.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from display_helpers import REPO_ROOT, SandboxProcess, XDoTool, launch_sandbox, private_xvfb

from agent.sandbox.xvfb import Xvfb

pytestmark = pytest.mark.display
BUDGET_S = 0.200
TEXT = "a" * 3000


class Person:
    """Input from a device of its own: an XInput2 master pair whose XTest slave is not the core one."""

    def __init__(self, display: str) -> None:
        from Xlib import display as xdisplay
        from Xlib.ext import xinput
        from Xlib.protocol import rq

        class ChangeHierarchy(rq.Request):
            _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(43), rq.RequestLength(), rq.Card8("num_changes"),
                                 rq.Pad(3), rq.String8("changes"))

        class SetClientPointer(rq.Request):
            _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(44), rq.RequestLength(), rq.Window("window"),
                                 rq.Card16("deviceid"), rq.Pad(2))

        self.dpy = xdisplay.Display(display)
        opcode = self.dpy.display.get_extension_major(xinput.extname)
        name = b"person"
        add_master = struct.pack("=HHHBB", 1, (8 + len(name) + 2) // 4, len(name), 1, 1) + name + b"\0\0"
        ChangeHierarchy(display=self.dpy.display, opcode=opcode, num_changes=1, changes=add_master)
        self.dpy.sync()
        devices = {d.name: d.deviceid for d in self.dpy.xinput_query_device(xinput.AllDevices).devices}
        # this connection's XTest input now goes through "person XTEST pointer", not the core one
        SetClientPointer(display=self.dpy.display, opcode=opcode, window=0, deviceid=devices["person pointer"])
        self.dpy.sync()

    def move(self, x: int, y: int) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        xtest.fake_input(self.dpy, X.MotionNotify, x=x, y=y)
        self.dpy.sync()

    def close(self) -> None:
        self.dpy.close()


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb()


@pytest.fixture(scope="module")
def app(xvfb: Xvfb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    XDoTool(xvfb.env()).move(1270, 790)
    sandbox = launch_sandbox(xvfb.env(), tmp_path_factory.mktemp("sandbox") / "state.json")
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def person(xvfb: Xvfb) -> Iterator[Person]:
    hands = Person(xvfb.display)
    try:
        yield hands
    finally:
        hands.close()


def typing_run(xvfb: Xvfb, app: SandboxProcess, tmp_path: Path) -> subprocess.Popen[str]:
    steps = [{"action": "left_click", "coordinate": list(app.center("entry"))}, {"action": "type", "text": TEXT}]
    script = tmp_path / "task.yaml"
    script.write_text(yaml.safe_dump({"task": "type a lot", "steps": steps}), encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"safety": {"text": {"max_length": 5000}}}), encoding="utf-8")
    cmd = [sys.executable, "-m", "agent.cli", "replay", str(script), "--no-daemon", "--config", str(config),
           "--trace-dir", str(tmp_path / "traces")]
    return subprocess.Popen(cmd, env={**xvfb.env(), "PYTHONPATH": str(REPO_ROOT)}, cwd=tmp_path, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def trace_lines(tmp_path: Path) -> list[dict[str, Any]]:
    files = list((tmp_path / "traces").glob("*/trace.jsonl"))
    text = files[0].read_text(encoding="utf-8") if files else ""
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def interrupt_typing(xvfb: Xvfb, app: SandboxProcess, tmp_path: Path, act: Any) -> tuple[float, int, str]:
    """Start typing 3,000 characters, let `act` happen once typing shows, return the pause latency, the
    characters typed in all and the pause's reason."""
    before = len(app.state()["entry"])
    proc = typing_run(xvfb, app, tmp_path)
    try:
        wait_for(lambda: len(app.state()["entry"]) - before >= 16 or proc.poll() is not None, 30, "typing to begin")
        assert proc.poll() is None, proc.communicate()
        acted = time.time()
        act()
        paused = wait_for(lambda: next((x for x in trace_lines(tmp_path) if x.get("event") == "paused"), None),
                          5, "the paused event")
        time.sleep(1.0)  # a running agent would type hundreds more characters in this time
        typed = len(app.state()["entry"]) - before
        time.sleep(0.5)
        assert len(app.state()["entry"]) - before == typed, "typing went on after the pause"
        XDoTool(xvfb.env()).run("key", "--delay", "0", "ctrl+alt+shift+k")  # end the paused run
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, err
    return paused["t"] - acted, typed, str(paused.get("reason", ""))


def test_a_persons_own_device_pauses_a_long_type(xvfb: Xvfb, app: SandboxProcess, person: Person,
                                                   tmp_path: Path) -> None:
    latency, typed, reason = interrupt_typing(xvfb, app, tmp_path, lambda: person.move(600, 400))
    print(f"\nperson's device moved mid-type: paused after {1000 * latency:.1f} ms; typed {typed} of {len(TEXT)}"
          f" ({reason})")
    assert latency < BUDGET_S and typed < len(TEXT) // 2


def test_the_device_watch_tells_a_persons_device_from_the_agents(xvfb: Xvfb, person: Person) -> None:
    """The XInput2 witness on its own (in the run, the ledger may see a pointer move first): the core
    XTEST devices' input (the agent's, xdotool's) is not a person's, any other device's is, at once."""
    import threading

    from agent.safety.devices import DeviceWatch

    heard: list[tuple[float, str]] = []
    got = threading.Event()
    watch = DeviceWatch(lambda what: (heard.append((time.time(), what)), got.set()), xvfb.display)
    watch.start()
    try:
        xdo = XDoTool(xvfb.env())
        xdo.key("shift")
        xdo.click(1200, 700)
        xdo.run("mousemove_relative", "--", "5", "5")
        time.sleep(0.3)
        assert heard == []  # all through the core XTEST devices
        moved = time.time()
        person.move(300, 300)
        assert got.wait(2)
    finally:
        watch.stop()
    print(f"\ndevice watch: the person's device heard after {1000 * (heard[0][0] - moved):.1f} ms ({heard[0][1]})")
    assert heard[0][0] - moved < BUDGET_S and "person XTEST pointer" in heard[0][1]


def test_a_pointer_moved_through_xtest_pauses_a_long_type(xvfb: Xvfb, app: SandboxProcess, tmp_path: Path) -> None:
    xdo = XDoTool(xvfb.env())
    latency, typed, reason = interrupt_typing(xvfb, app, tmp_path, lambda: xdo.move(700, 500))
    print(f"\nxdotool moved the pointer mid-type: paused after {1000 * latency:.1f} ms; typed {typed} of "
          f"{len(TEXT)} ({reason})")
    assert latency < BUDGET_S and typed < len(TEXT) // 2
