"""Each dialect end to end on a private Xvfb: a loopback server answering in that dialect clicks the widget.

The screen is 1366x768. The fake server reads nothing but the request (the image size it was sent) and
answers with the sandbox app's OK button centre in the dialect's own words and coordinate space
(Qwen2.5-VL/UI-TARS: pixels of the resized image; Qwen3-VL: the 0–1000 grid). The app's own state
shows the click landed. Last, a planner + grounder pair drives it: the planner (Qwen3-VL) names the
target but points at the wrong place; the grounder (GTA1) points at the button.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from display_helpers import private_xvfb
from openai_server import FakeOpenAIServer, Recorded

from agent.config import load_settings
from agent.run.runner import build_computer, execute
from agent.sandbox.launch import Sandbox
from agent.sandbox.xvfb import Xvfb, available
from agent.traces.lines import Origin
from agent.traces.store import read_trace
from policies.qwen.backends.openai_backend import OpenAIBackend, OpenAIOptions
from policies.qwen.dialects import dialect_for
from policies.qwen.dialects.base import frame_for
from policies.qwen.planned import PlannedPolicy
from policies.qwen.policy import QwenOptions, QwenPolicy

pytestmark = [pytest.mark.display, pytest.mark.skipif(bool(available()), reason=f"no Xvfb: {available()}")]
SCREEN = (1366, 768)
DONE = {
    "qwen2.5-vl": '<tool_call>\n{"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}}'
                  "\n</tool_call>",
    "ui-tars-1.5": "Thought: The OK button was pressed.\nAction: finished(content='done')",
}
DONE["qwen3-vl"] = "Thought: Done.\nAction: Finish.\n" + DONE["qwen2.5-vl"]


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb(SCREEN)


@pytest.fixture(scope="module")
def app(xvfb: Xvfb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(xvfb.env(), tmp_path_factory.mktemp("sandbox") / "state.json") as sandbox:
        sandbox.wait_ready()
        yield sandbox


def options(name: str) -> QwenOptions:
    d = dialect_for(name)
    return QwenOptions(min_pixels=d.budget.min_pixels, max_pixels=min(d.budget.max_pixels, 1_003_520))


def ok_in_model_space(app: Sandbox, name: str) -> tuple[int, int]:
    d, o = dialect_for(name), options(name)
    frame = frame_for(d, *SCREEN, o.min_pixels, o.max_pixels)
    c = app.centers()
    cw, ch = frame.coordinate_size
    return round(c["ok_button_x"] * cw / SCREEN[0]), round(c["ok_button_y"] * ch / SCREEN[1])


def click_text(name: str, x: int, y: int) -> str:
    call = ('<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": '
            f'[{x}, {y}]}}}}\n</tool_call>')
    if name == "ui-tars-1.5":
        return f"Thought: I press the OK button.\nAction: click(start_box='({x},{y})')"
    if name == "qwen3-vl":
        return "Thought: The OK button confirms.\nAction: Click the OK button.\n" + call
    return call


def run(policy: object, settings_dir: Path, xvfb: Xvfb, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DISPLAY", xvfb.display)
    settings = load_settings(None, {"executor.backend": "pynput", "trace.dir": str(settings_dir / "traces"),
                                    "loop.max_steps": 4})
    computer = build_computer(settings, display=xvfb.display)
    return execute("Press OK", policy, settings, Origin(model="fake"), computer)


@pytest.mark.parametrize("name", ["qwen2.5-vl", "qwen3-vl", "ui-tars-1.5"])
def test_a_server_speaking_the_dialect_clicks_the_widget(name: str, xvfb: Xvfb, app: Sandbox, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = ok_in_model_space(app, name)
    before = app.state()["ok_clicks"]

    def model(request: Recorded) -> str:
        return click_text(name, x, y) if len(server.requests) == 1 else DONE[name]

    with FakeOpenAIServer(model) as server:
        backend = OpenAIBackend(OpenAIOptions(base_url=server.base_url, model=name))
        report = run(QwenPolicy(backend, options(name), dialect_for(name)), tmp_path, xvfb, monkeypatch)
        sizes = server.requests[0].image_sizes
    assert report.result.status == "success", report.result
    app.wait_for(lambda s: s["ok_clicks"] == before + 1, what=f"ok_clicks == {before + 1}")
    d = dialect_for(name)
    assert sizes[-1] == frame_for(d, *SCREEN, options(name).min_pixels, options(name).max_pixels).model
    step = read_trace(report.trace_dir).steps[0]
    assert step.policy["dialect"] == name
    c = app.centers()
    cx, cy = step.action["coordinate"]
    assert abs(cx - c["ok_button_x"]) <= 3 and abs(cy - c["ok_button_y"]) <= 3


def test_planner_and_grounder_drive_the_app(xvfb: Xvfb, app: Sandbox, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    gx, gy = ok_in_model_space(app, "gta1")
    before = app.state()["ok_clicks"]

    def planner(request: Recorded) -> str:  # names the target, points at the far corner
        return click_text("qwen3-vl", 990, 990) if len(planner_server.requests) == 1 else DONE["qwen3-vl"]

    def grounder(request: Recorded) -> str:
        if "Click the OK button" not in str(request.payload["messages"][-1]["content"]):
            raise ValueError("the grounder must be asked for the planner's target")
        return f"({gx},{gy})"

    with FakeOpenAIServer(planner) as planner_server, FakeOpenAIServer(grounder) as grounder_server:
        plan = QwenPolicy(OpenAIBackend(OpenAIOptions(base_url=planner_server.base_url, model="p")),
                          options("qwen3-vl"), dialect_for("qwen3-vl"))
        ground = QwenPolicy(OpenAIBackend(OpenAIOptions(base_url=grounder_server.base_url, model="g")),
                            options("gta1"), dialect_for("gta1"))
        report = run(PlannedPolicy(plan, ground), tmp_path, xvfb, monkeypatch)
        assert len(grounder_server.requests) == 1
    assert report.result.status == "success", report.result
    app.wait_for(lambda s: s["ok_clicks"] == before + 1, what=f"ok_clicks == {before + 1}")
    step = read_trace(report.trace_dir).steps[0]
    assert step.policy["grounder"]["target"] == "Click the OK button"
    assert step.policy["grounder"]["calls"][0]["raw_text"] == f"({gx},{gy})"
    assert step.policy["planner"]["point"][0] > 1300  # the planner's own point was far off
