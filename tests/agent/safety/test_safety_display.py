"""Safety on a real X display: `deskpilot replay` against the sandbox app on a private Xvfb.

A risky step with nobody to ask is denied and changes nothing; the kill hotkey (sent by xdotool,
another process) stops a long wait in time; a person's mouse movement (xdotool) pauses the run
while the agent's own clicks do not, and the resume hotkey resumes it; a stuck loop ends as stuck.
Latencies are printed (run with -s to see them) and asserted.
"""

from __future__ import annotations

import json
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
PARKED = (1270, 790)
KILL_BUDGET_S = 0.100
TAKEOVER_BUDGET_S = 0.200


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb()


@pytest.fixture
def xdo(xvfb: Xvfb) -> XDoTool:
    return XDoTool(xvfb.env())


@pytest.fixture
def app(xvfb: Xvfb, xdo: XDoTool, tmp_path: Path) -> Iterator[SandboxProcess]:
    xdo.move(*PARKED)
    sandbox = launch_sandbox(xvfb.env(), tmp_path / "state.json")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def replay(xvfb: Xvfb, tmp_path: Path, steps: list[dict], config: dict | None = None) -> subprocess.Popen[str]:
    """Start `deskpilot replay` with no terminal attached (stdin is /dev/null)."""
    script = tmp_path / "task.yaml"
    script.write_text(yaml.safe_dump({"task": "safety display test", "steps": steps}), encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config or {}), encoding="utf-8")
    cmd = [sys.executable, "-m", "agent.cli", "replay", str(script), "--config", str(cfg),
           "--trace-dir", str(tmp_path / "traces")]
    return subprocess.Popen(cmd, env={**xvfb.env(), "PYTHONPATH": str(REPO_ROOT)}, cwd=tmp_path, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def lines(tmp_path: Path) -> list[dict[str, Any]]:
    files = list((tmp_path / "traces").glob("*/trace.jsonl"))
    if not files:
        return []
    return [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines() if line.endswith("}")]


def wait_for_line(tmp_path: Path, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in lines(tmp_path):
            if predicate(line):
                return line
        time.sleep(0.01)
    raise AssertionError(f"no such trace line in time; trace: {lines(tmp_path)}")


def finish(proc: subprocess.Popen[str], timeout: float = 20.0) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"replay did not finish: {err}") from None
    return proc.returncode, err


def click(app: SandboxProcess, widget: str) -> dict:
    return {"action": "left_click", "coordinate": list(app.center(widget))}


def test_a_risky_step_without_a_terminal_is_denied_and_nothing_happens(
        xvfb: Xvfb, app: SandboxProcess, tmp_path: Path) -> None:
    steps = [click(app, "entry"), {"action": "type", "text": "sudo apt install cowsay"},
             {"action": "key", "keys": ["enter"]}]
    code, err = finish(replay(xvfb, tmp_path, steps, {"safety": {"confirm": "risky"}}))
    assert code == 1, err
    trace = lines(tmp_path)
    step2 = next(x for x in trace if x.get("index") == 2)
    assert step2["verdict"]["decision"] == "deny" and step2["verdict"]["rule"] == "text.privilege"
    assert step2["verdict"]["confirmation"] == "unavailable" and trace[-1]["status"] == "denied"
    assert not any(x.get("index") == 3 for x in trace)
    time.sleep(0.2)
    state = app.state()
    assert state["focus"] == "entry" and state["entry"] == ""  # the click landed; nothing was typed


def test_on_a_terminal_a_person_approves_a_risky_step(xvfb: Xvfb, app: SandboxProcess, tmp_path: Path) -> None:
    import os
    import pty
    import select

    steps = [click(app, "entry"), {"action": "type", "text": "sudo ls"}]
    script = tmp_path / "task.yaml"
    script.write_text(yaml.safe_dump({"task": "confirm on a terminal", "steps": steps}), encoding="utf-8")
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "agent.cli", "replay", str(script), "--trace-dir", str(tmp_path / "traces")]
    proc = subprocess.Popen(cmd, env={**xvfb.env(), "PYTHONPATH": str(REPO_ROOT)}, cwd=tmp_path, text=True,
                            stdin=slave, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    shown, deadline = b"", time.monotonic() + 20
    while b"Allow it?" not in shown and time.monotonic() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            shown += os.read(master, 4096)
    os.write(master, b"y\n")
    code, _ = finish(proc)
    os.close(master)
    assert code == 0 and b"text.privilege" in shown and b"confirm-001.png" in shown, shown
    app.wait_for(lambda s: s["entry"] == "sudo ls", what="the approved text")
    step2 = next(x for x in lines(tmp_path) if x.get("index") == 2)
    assert step2["verdict"]["confirmation"] == "approved" and step2["outcome"]["status"] == "executed"
    assert next((tmp_path / "traces").glob("*/confirm-001.png")).stat().st_size > 0


FAKE_TERMINAL = """
import json, pathlib, sys, tkinter as tk
root = tk.Tk(className="XTerm")  # WM_CLASS says xterm: the gate must take it for a terminal
root.title("fake terminal")
root.geometry("400x120+860+40")
entry = tk.Entry(root)
entry.pack(fill="both", expand=True)
out = pathlib.Path(sys.argv[1])
entry.bind("<Return>", lambda e: out.write_text(json.dumps({"ran": entry.get()})))
entry.bind("<KeyRelease>", lambda e: out.with_suffix(".typed").write_text(entry.get()))
root.after(200, lambda: out.with_suffix(".ready").write_text("1"))
root.mainloop()
"""


def test_enter_into_a_terminal_is_not_pressed_without_a_person(xvfb: Xvfb, tmp_path: Path) -> None:
    out = tmp_path / "terminal.json"
    term = subprocess.Popen([sys.executable, "-c", FAKE_TERMINAL, str(out)], env=xvfb.env())
    try:
        deadline = time.monotonic() + 10
        while not out.with_suffix(".ready").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        steps = [{"action": "left_click", "coordinate": [1060, 100]}, {"action": "type", "text": "echo hi"},
                 {"action": "key", "keys": ["Return"]}]
        code, err = finish(replay(xvfb, tmp_path, steps))
        trace = lines(tmp_path)
        step3 = next(x for x in trace if x.get("index") == 3)
        assert code == 1 and step3["verdict"]["rule"] == "terminal_enter", err
        assert "xterm" in step3["verdict"]["reason"].lower() and step3["verdict"]["confirmation"] == "unavailable"
        time.sleep(0.2)
        assert out.with_suffix(".typed").read_text() == "echo hi" and not out.exists()  # typed, never run
    finally:
        term.terminate()
        term.wait(5)


def test_the_kill_hotkey_stops_a_long_wait_within_100_ms(
        xvfb: Xvfb, app: SandboxProcess, xdo: XDoTool, tmp_path: Path) -> None:
    proc = replay(xvfb, tmp_path, [click(app, "ok_button"), {"action": "wait", "time": 30}, click(app, "ok_button")])
    app.wait_for(lambda s: s["ok_clicks"] == 1, timeout=15, what="the first click")
    wait_for_line(tmp_path, lambda x: x.get("index") == 1)  # the wait step has begun
    time.sleep(0.3)
    sent = time.time()
    xdo.run("key", "--delay", "0", "ctrl+alt+shift+k")
    code, err = finish(proc)
    exited = time.time()
    trace = lines(tmp_path)
    kill = next(x for x in trace if x.get("event") == "kill")
    end = trace[-1]
    print(f"\nkill latency: hotkey→stop flag {1000 * (kill['t'] - sent):.1f} ms, stop flag→run ended "
          f"{1000 * (end['t'] - kill['t']):.1f} ms, hotkey→run ended {1000 * (end['t'] - sent):.1f} ms, "
          f"hotkey→process exit {1000 * (exited - sent):.0f} ms")
    assert code == 3 and end["type"] == "end" and end["status"] == "cancelled", err
    assert end["t"] - sent < KILL_BUDGET_S
    assert app.state()["ok_clicks"] == 1 and "kill hotkey" in err


def test_a_person_moving_the_mouse_pauses_the_run_until_resumed(
        xvfb: Xvfb, app: SandboxProcess, xdo: XDoTool, tmp_path: Path) -> None:
    steps = [click(app, "ok_button"), {"action": "wait", "time": 1.0}, click(app, "ok_button"), click(app, "check")]
    proc = replay(xvfb, tmp_path, steps)
    app.wait_for(lambda s: s["ok_clicks"] == 1, timeout=15, what="the agent's own click")
    wait_for_line(tmp_path, lambda x: x.get("index") == 1)
    assert not any(x.get("event") == "paused" for x in lines(tmp_path))  # its own click is not a takeover
    # Step 1's line is written after settling, which can take less than the ledger's 150 ms grace for
    # late events of the agent's own click (input that close to the agent's own is not noticed, as the
    # README says): move once the grace is over, in the middle of the 1 s wait.
    time.sleep(0.3)
    moved = time.time()
    xdo.move(700, 500)
    returned = time.time()
    paused = wait_for_line(tmp_path, lambda x: x.get("event") == "paused", timeout=5)
    print(f"\ntakeover latency: person's mouse move→paused {1000 * (paused['t'] - moved):.1f} ms "
          f"(xdotool itself took {1000 * (returned - moved):.1f} ms)")
    assert paused["t"] - moved < TAKEOVER_BUDGET_S
    time.sleep(1.5)  # the wait is over: a running agent would have clicked again by now
    assert app.state()["ok_clicks"] == 1 and proc.poll() is None
    xdo.run("key", "--delay", "0", "ctrl+alt+shift+r")
    app.wait_for(lambda s: s["ok_clicks"] == 2, timeout=10, what="the click after resuming")
    code, err = finish(proc)
    assert code == 0, err
    trace = lines(tmp_path)
    assert [x["event"] for x in trace if x.get("type") == "event"] == ["paused", "resumed"]
    assert "paused: a person is using the computer" in err and "resumed (hotkey)" in err


def test_window_information_is_read_from_x11(xvfb: Xvfb, app: SandboxProcess, xdo: XDoTool) -> None:
    from actions.window import X11Windows

    windows = X11Windows(xvfb.display)
    try:
        x, y = app.center("ok_button")
        assert "deskpilotsandbox" in {c.lower() for c in windows.at((x, y)).wm_class}  # type: ignore[union-attr]
        assert windows.at(PARKED) is None  # the bare root window: no application
        xdo.click(*app.center("entry"))
        app.wait_for(lambda s: s["focus"] == "entry", what="entry focused")
        focused = windows.focused()
        assert focused is not None and focused.title == "deskpilot sandbox"
        assert windows.pointer() == app.center("entry")
    finally:
        windows.close()


def test_a_stuck_loop_ends_with_status_stuck(xvfb: Xvfb, app: SandboxProcess, tmp_path: Path) -> None:
    x, y, w, h = app.widget("canvas")
    nothing = {"action": "mouse_move", "coordinate": [x + w - 5, y + h - 5]}
    config = {"safety": {"stuck": {"apply_to": "all"}}}
    code, err = finish(replay(xvfb, tmp_path, [nothing] * 10, config))
    trace = lines(tmp_path)
    assert code == 1 and trace[-1]["status"] == "stuck", err
    steps = [x for x in trace if x.get("type") == "step"]
    assert len(steps) == 5 and "stuck" in steps[3]["feedback"] and "repeated 4 times" in steps[3]["feedback"]
    assert all(not s["effect"]["changed"] for s in steps)
