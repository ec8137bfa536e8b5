"""`deskpilot record` on a private Xvfb: input driven by xdotool into the sandbox app is recorded as
the same actions; the trace replays (directly and as a `script-from` task script) to the same state."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from display_helpers import REPO_ROOT, SandboxProcess, XDoTool, display_skip_reason, launch_sandbox, private_xvfb
from PIL import Image, ImageChops

from agent.sandbox.xvfb import Xvfb
from agent.traces.store import read_trace

pytestmark = [pytest.mark.display, pytest.mark.skipif(bool(display_skip_reason()), reason=str(display_skip_reason()))]
PAUSE = 0.25  # between driven gestures, like a (quick) person: longer than the frame interval
VOLATILE = {"pid", "seq", "ready", "focus", "pointer", "last_click", "last_key", "hovers", "widgets", "window",
            "slider_knob", "drag_item_root", "context_menu_entries"}


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb()


def cli(env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(REPO_ROOT)}, cwd=cwd, timeout=120)


def start_recorder(env: dict, out: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "record", "--out", str(out), *extra],
                            env={**env, "PYTHONPATH": str(REPO_ROOT)}, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stderr.readline()  # the recorder says so once its listeners run
    assert line.startswith("recording"), line + proc.stderr.read()
    return proc


def stable(state: dict) -> dict:
    return {k: v for k, v in state.items() if k not in VOLATILE}


def drive(app: SandboxProcess, xdo: XDoTool) -> list[dict]:
    """Do one of everything in the app; return the actions a recording of it must hold."""
    c = {name: app.center(name) for name in app.state()["widgets"]}
    knob, item = app.state()["slider_knob"], app.state()["drag_item_root"]
    steps: list[tuple[object, dict]] = [
        (lambda: xdo.click(*c["entry"]), {"action": "left_click", "coordinate": c["entry"]}),
        (lambda: xdo.type("Hello, World!"), {"action": "type", "text": "Hello, World!"}),
        (lambda: xdo.key("ctrl+s"), {"action": "key", "keys": ["ctrl", "s"]}),
        (lambda: xdo.click(*c["ok_button"]), {"action": "left_click", "coordinate": c["ok_button"]}),
        (lambda: xdo.click(*c["check"]), {"action": "left_click", "coordinate": c["check"]}),
        (lambda: xdo.click(*c["double_target"], repeat=2),
         {"action": "double_click", "coordinate": c["double_target"]}),
        (lambda: xdo.click(*c["triple_target"], repeat=3),
         {"action": "triple_click", "coordinate": c["triple_target"]}),
        (lambda: xdo.click(*c["middle_target"], button=2),
         {"action": "middle_click", "coordinate": c["middle_target"]}),
        (lambda: xdo.wheel(*c["listbox"], 5, 3), {"action": "scroll", "pixels": -3, "coordinate": c["listbox"]}),
        (lambda: xdo.wheel(*c["hscroll_target"], 7, 2), {"action": "hscroll", "pixels": 2,
                                                          "coordinate": c["hscroll_target"]}),
        (lambda: xdo.drag(knob, (knob[0] + 150, knob[1])),
         {"action": "left_click_drag", "start_coordinate": knob, "coordinate": [knob[0] + 150, knob[1]]}),
        (lambda: xdo.drag(item, (item[0] + 200, item[1] + 20)),
         {"action": "left_click_drag", "start_coordinate": item, "coordinate": [item[0] + 200, item[1] + 20]}),
    ]
    for act, _ in steps:
        act()  # type: ignore[operator]
        time.sleep(PAUSE)
    return [expected for _, expected in steps]


def assert_same_actions(recorded: list[dict], driven: list[dict]) -> None:
    assert [a["action"] for a in recorded] == [a["action"] for a in driven]
    for got, want in zip(recorded, driven, strict=True):
        for key, value in want.items():
            if key in ("coordinate", "start_coordinate"):
                assert max(abs(g - w) for g, w in zip(got[key], value, strict=True)) <= 2, (got, want)
            else:
                assert got[key] == value, (got, want)


def test_recording_holds_the_driven_actions_and_replays_to_the_same_state(xvfb: Xvfb, tmp_path: Path) -> None:
    env, out = xvfb.env(), tmp_path / "demo"
    with launch_sandbox(env, tmp_path / "a.json") as app:
        recorder = start_recorder(env, out, tmp_path, "--task", "greet the world")
        driven = drive(app, XDoTool(env))
        XDoTool(env).key("ctrl+alt+shift+e")
        stdout, stderr = recorder.communicate(timeout=30)
        assert recorder.returncode == 0, stdout + stderr
        recorded_state = stable(app.wait_for(lambda s: s["drag_item"] != [70, 60], what="the drag"))
    trace = read_trace(out)
    assert trace.header.policy == "recorded" and trace.header.task == "greet the world"
    assert trace.end.status == "success" and "stop key" in trace.end.reason
    *actions, final = trace.steps
    assert final.action == {"action": "terminate", "status": "success"} and final.outcome.status == "final"
    assert_same_actions([s.action for s in actions], driven)
    assert all(s.outcome.status == "executed" for s in actions)
    assert all((out / s.screenshot).is_file() for s in trace.steps)
    assert all(s.normalized is not None for s in actions if "coordinate" in (s.action or {}))
    assert recorded_state["entry"] == "Hello, World!" and recorded_state["double_clicks"] == 1
    typed_before = ImageChops.difference(*(Image.open(out / s.screenshot).convert("RGB") for s in actions[1:4:2]))
    assert typed_before.getbbox() is not None  # before typing: empty; before the OK click: the text

    script = cli(env, "script-from", str(out), "--var", "who=World", cwd=tmp_path)
    assert script.returncode == 0, script.stderr
    data = yaml.safe_load(script.stdout)
    assert data["vars"] == {"who": "World"} and {"action": "type", "text": "Hello, {{who}}!"} in data["steps"]
    (tmp_path / "task.yaml").write_text(script.stdout, encoding="utf-8")
    for source in (str(tmp_path / "task.yaml"), str(out)):  # the script, and the trace itself (verified)
        with launch_sandbox(env, tmp_path / "b.json") as again:
            proc = cli(env, "replay", source, "--no-daemon", "--trace-dir", str(tmp_path / "replays"), cwd=tmp_path)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            state = again.wait_for(lambda s: s["drag_item"] != [70, 60], what="the replayed drag")
            assert stable(state) == recorded_state, source


def test_keys_on_keycodes_remapped_during_the_recording_are_kept(xvfb: Xvfb, tmp_path: Path) -> None:
    """xdotool puts ë on a spare keycode for the moment it types it; `setxkbmap de` swaps y and z and moves
    / and @ mid-recording: every character is recorded as typed, and nothing is reported lost."""
    env, out = xvfb.env(), tmp_path / "zoe"
    xdo = XDoTool(env)
    try:
        with launch_sandbox(env, tmp_path / "a.json") as app:
            recorder = start_recorder(env, out, tmp_path)
            xdo.click(*app.center("entry"))
            time.sleep(PAUSE)
            xdo.type("Hi Zoë")
            time.sleep(PAUSE)
            subprocess.run(["setxkbmap", "-display", env["DISPLAY"], "de"], check=True, timeout=30)
            time.sleep(PAUSE)
            xdo.type(" yz/@")
            xdo.key("BackSpace")
            time.sleep(PAUSE)
            xdo.key("ctrl+alt+shift+e")
            stdout, stderr = recorder.communicate(timeout=30)
            assert recorder.returncode == 0, stdout + stderr
            entry = app.wait_for(lambda s: s["entry"] == "Hi Zoë yz/", what="the typed text")["entry"]
    finally:
        subprocess.run(["setxkbmap", "-display", env["DISPLAY"], "us"], check=False, timeout=30)
    trace = read_trace(out)
    assert [s.action for s in trace.steps if s.action["action"] == "type"] == [{"action": "type", "text": entry}]
    assert trace.end.extra.get("lost_keys") == [] and "could not read" not in stderr


def test_a_signal_ends_the_recording_cleanly(xvfb: Xvfb, tmp_path: Path) -> None:
    env = xvfb.env()
    with launch_sandbox(env, tmp_path / "a.json") as app:
        recorder = start_recorder(env, tmp_path / "t", tmp_path)
        XDoTool(env).click(*app.center("ok_button"))
        time.sleep(PAUSE + 0.4)  # past the double-click window: the click is final
        recorder.send_signal(signal.SIGTERM)
        stdout, stderr = recorder.communicate(timeout=30)
    assert recorder.returncode == 0, stdout + stderr
    trace = read_trace(tmp_path / "t")
    assert [s.action["action"] for s in trace.steps] == ["left_click", "terminate"]
    assert trace.end.reason == "stopped by a signal" and "trace: " in stdout


def test_an_existing_trace_is_not_overwritten(xvfb: Xvfb, tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "trace.jsonl").write_text("{}\n")
    proc = cli(xvfb.env(), "record", "--out", str(tmp_path / "t"), cwd=tmp_path)
    assert proc.returncode == 2 and "already holds a trace" in proc.stderr
