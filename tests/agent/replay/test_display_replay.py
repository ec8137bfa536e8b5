"""The foundation end to end: task scripts through the real CLI land every action in a real X app.

Each test starts its own Xvfb and sandbox app, writes a task script from the app's live widget
layout, runs `deskpilot replay` as a subprocess, and asserts the app's recorded state.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from display_helpers import private_xvfb

from agent.sandbox.launch import Sandbox
from agent.sandbox.xvfb import Xvfb, available
from agent.traces.store import read_trace

pytestmark = [pytest.mark.display, pytest.mark.skipif(bool(available()), reason=f"no Xvfb: {available()}")]
ROOT = Path(__file__).resolve().parents[3]
TEXT = "Grüße é ü 中文 ok 😀🎉"  # Latin-1, CJK and emoji (keysyms past the BMP)
VOLATILE = {"pid", "seq", "ready", "focus", "pointer", "last_click", "last_key", "time", "updated_at"}


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb()


@pytest.fixture
def app(xvfb: Xvfb, tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(xvfb.env(), tmp_path / "state.json") as sandbox:
        sandbox.wait_ready()
        yield sandbox


def replay(env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", "replay", *args], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, cwd=cwd, timeout=120)


def script_file(tmp_path: Path, steps: list[dict], name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"task": "display test", "steps": steps}, allow_unicode=True), encoding="utf-8")
    return path


def every_action(app: Sandbox, origin: tuple[int, int] = (0, 0)) -> list[dict]:
    c = {name: (v[f"{name}_x"], v[f"{name}_y"]) for v in [app.centers(origin)] for name in app.state()["widgets"]}
    knob = [p - o for p, o in zip(app.state()["slider_knob"], origin, strict=True)]
    item = [p - o for p, o in zip(app.state()["drag_item_root"], origin, strict=True)]
    return [
        {"action": "left_click", "coordinate": list(c["entry"])},
        {"action": "type", "text": TEXT},
        {"action": "key", "keys": ["ctrl", "s"]},
        {"action": "left_click", "coordinate": list(c["ok_button"])},
        {"action": "left_click", "coordinate": list(c["check"])},
        {"action": "mouse_move", "coordinate": list(c["hover_target"])},
        {"action": "scroll", "pixels": -4, "coordinate": list(c["listbox"])},
        {"action": "hscroll", "pixels": 3, "coordinate": list(c["hscroll_target"])},
        {"action": "left_click_drag", "start_coordinate": knob, "coordinate": [knob[0] + 150, knob[1]]},
        {"action": "left_click_drag", "start_coordinate": item, "coordinate": [item[0] + 200, item[1] + 20]},
        {"action": "double_click", "coordinate": list(c["double_target"])},
        {"action": "triple_click", "coordinate": list(c["triple_target"])},
        {"action": "middle_click", "coordinate": list(c["middle_target"])},
        {"action": "wait", "time": 0.05},
        {"action": "terminate", "status": "success"},
    ]


def assert_every_action_landed(state: dict, start: dict) -> None:
    assert state["entry"] == TEXT
    assert state["saves"] == 1 and state["ok_clicks"] == 1 and state["checked"] is True
    assert state["hovers"] >= 1 and state["list_top"] > 0
    assert state["hscroll_events"] >= 1 and state["hscroll_left"] > 0
    assert state["slider"] > start["slider"] and state["drag_item"] != start["drag_item"]
    assert state["double_clicks"] == 1 and state["triple_clicks"] == 1 and state["middle_clicks"] == 1


def stable(state: dict) -> dict:
    return {k: v for k, v in state.items() if k not in VOLATILE}


@pytest.mark.parametrize("backend", ["pyautogui", "pynput"])
def test_every_action_lands_and_the_trace_replays_to_the_same_state(
    xvfb: Xvfb, app: Sandbox, tmp_path: Path, backend: str
) -> None:
    start = app.state()
    script = script_file(tmp_path, every_action(app))
    proc = replay(xvfb.env(), str(script), "--executor", backend, "--trace-dir", str(tmp_path / "traces"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = app.wait_for(lambda s: s["middle_clicks"] == 1, what="the last click")
    assert_every_action_landed(first, start)
    trace_dir = Path(proc.stdout.split("trace: ")[1].strip())
    trace = read_trace(trace_dir)
    assert trace.end.status == "success" and len(trace.steps) == 15
    assert all((trace_dir / s.screenshot).exists() for s in trace.steps)

    app.stop()  # a fresh app, then the recorded trace replayed on it
    with Sandbox(xvfb.env(), tmp_path / "state2.json") as again:
        again.wait_ready()
        proc = replay(xvfb.env(), str(trace_dir), "--executor", backend, "--trace-dir", str(tmp_path / "t2"),
                      cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        second = again.wait_for(lambda s: s["middle_clicks"] == 1, what="the replayed last click")
    assert stable(second) == stable(first)


@pytest.mark.parametrize("backend", ["pyautogui", "pynput"])
def test_a_key_naming_a_character_off_the_layout_lands(xvfb: Xvfb, app: Sandbox, tmp_path: Path, backend: str) -> None:
    c = app.centers()
    script = script_file(tmp_path, [
        {"action": "left_click", "coordinate": [c["entry_x"], c["entry_y"]]},
        {"action": "key", "keys": ["é"]},
        {"action": "key", "keys": ["ü"]},
        {"action": "key", "keys": ["ctrl", "é"]},  # ctrl held: the entry ignores it, the app sees the keysym
    ])
    proc = replay(xvfb.env(), str(script), "--executor", backend, "--trace-dir", str(tmp_path / "t"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # "éüé" would mean ctrl was not held when the last é went down; "" that the keys were dropped
    app.wait_for(lambda s: s["entry"] == "éü" and s["last_key"] == "eacute", what="é, ü, then ctrl+é")


def test_right_click_menu_and_choice(xvfb: Xvfb, app: Sandbox, tmp_path: Path) -> None:
    target = app.centers()
    open_menu = script_file(tmp_path, [{"action": "right_click",
                                        "coordinate": [target["context_target_x"], target["context_target_y"]]}])
    assert replay(xvfb.env(), str(open_menu), "--trace-dir", str(tmp_path / "t"), cwd=tmp_path).returncode == 0
    state = app.wait_for(lambda s: s["context_menu_visible"] and s["context_menu_entries"], what="the menu")
    x, y, w, h = state["context_menu_entries"]["Paste"]
    choose = script_file(tmp_path, [{"action": "left_click", "coordinate": [x + w // 2, y + h // 2]}], "choose.yaml")
    assert replay(xvfb.env(), str(choose), "--trace-dir", str(tmp_path / "t"), cwd=tmp_path).returncode == 0
    assert app.wait_for(lambda s: s["context_choice"] == "Paste", what="Paste")["context_menu_opened"] == 1


def test_dry_run_changes_nothing(xvfb: Xvfb, app: Sandbox, tmp_path: Path) -> None:
    before = stable(app.state())
    script = script_file(tmp_path, every_action(app))
    proc = replay(xvfb.env(), str(script), "--dry-run", "--trace-dir", str(tmp_path / "t"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stable(app.state()) == before


def test_a_denied_step_stops_the_script_before_anything_after_it(xvfb: Xvfb, app: Sandbox, tmp_path: Path) -> None:
    c = app.centers()
    script = script_file(tmp_path, [
        {"action": "left_click", "coordinate": [c["ok_button_x"], c["ok_button_y"]]},
        {"action": "left_click", "coordinate": [5000, 5000]},
        {"action": "left_click", "coordinate": [c["check_x"], c["check_y"]]},
    ])
    proc = replay(xvfb.env(), str(script), "--trace-dir", str(tmp_path / "t"), cwd=tmp_path)
    assert proc.returncode == 1 and "denied" in proc.stdout
    state = app.wait_for(lambda s: s["ok_clicks"] == 1)
    assert state["checked"] is False


MONITORS = ((0, 0, 1024, 768), (1024, 0, 1280, 800))


def test_second_monitor_clicks_land_at_the_right_place(tmp_path: Path) -> None:
    with Xvfb(monitors=MONITORS) as x, Sandbox(x.env(), tmp_path / "s.json", "800x600+1100+50") as app:
        app.wait_ready()
        config = tmp_path / "c.yaml"
        config.write_text("screen:\n  monitor: 2\n")
        left, top = MONITORS[1][:2]
        c = app.centers(origin=(left, top))  # screen coordinates of monitor 2
        assert 0 < c["ok_button_x"] < MONITORS[1][2]
        script = script_file(tmp_path, [{"action": "left_click", "coordinate": [c["ok_button_x"], c["ok_button_y"]]},
                                        {"action": "left_click", "coordinate": [c["entry_x"], c["entry_y"]]},
                                        {"action": "type", "text": "zweiter Bildschirm ✓"}])
        proc = replay(x.env(), str(script), "--config", str(config), "--trace-dir", str(tmp_path / "t"), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        state = app.wait_for(lambda s: s["entry"] == "zweiter Bildschirm ✓", what="typed text")
        assert state["ok_clicks"] == 1
        header = read_trace(next((tmp_path / "t").iterdir())).header
        assert header.screen.monitor == {"left": 1024, "top": 0, "width": 1280, "height": 800}


def demo(tmp_path: Path, *args: str, python: tuple[str, ...] = ("-m", "agent.cli")) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    return subprocess.run([sys.executable, *python, "demo", "--trace-dir", str(tmp_path / "t"), *args],
                          capture_output=True, text=True, env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path,
                          timeout=120)


skip_demo = pytest.mark.skipif(os.environ.get("DESKPILOT_SKIP_DEMO") == "1", reason="asked to skip")


@skip_demo
def test_demo_command_runs_on_its_own_display(tmp_path: Path) -> None:
    proc = demo(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "status: success" in proc.stdout and "中文" in proc.stdout and "trace: " in proc.stdout


@skip_demo
@pytest.mark.parametrize(("config", "code", "said"), [
    ("safety:\n  dry_run: true\n", 0, "dry run: nothing was executed"),
    ("loop:\n  max_steps: 2\n", 1, "status: max_steps"),
])
def test_demo_that_does_not_change_the_app_reports_without_a_traceback(
    tmp_path: Path, config: str, code: int, said: str
) -> None:
    (tmp_path / "c.yaml").write_text(config)
    proc = demo(tmp_path, "--config", str(tmp_path / "c.yaml"), "--quiet")  # --quiet: no live step lines
    assert proc.returncode == code and said in proc.stdout and "trace: " in proc.stdout, proc.stdout + proc.stderr
    assert proc.stderr == ""


@skip_demo
def test_demo_whose_app_never_saves_is_a_one_line_error(tmp_path: Path) -> None:
    script = tmp_path / "no_save.yaml"  # the run succeeds, but without ctrl+s the app never saves
    script.write_text("steps:\n  - {action: left_click, coordinate: ['{{ok_button_x}}', '{{ok_button_y}}']}\n")
    patched = ("import sys; import agent.cli.demo as d; from agent.cli.main import main; "
               f"d.DEMO_SCRIPT = d.Path({str(script)!r}); sys.exit(main(sys.argv[1:]))")
    proc = demo(tmp_path, "--quiet", python=("-c", patched))
    assert proc.returncode == 1 and "status: success" in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "the app to save" in proc.stderr
