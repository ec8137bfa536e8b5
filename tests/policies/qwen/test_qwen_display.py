"""End to end on a private Xvfb: a model answer in RESIZED coordinates clicks the right real widget.

The screen is 1366x768, which Qwen2.5-VL sees as 1316x728 (max_pixels 1280·28·28), so a missing or
wrong mapping would miss the button. The fake model answers with the centre of the sandbox app's
OK button in model space; the app's own state then shows the click landed (ok_clicks == 1).
"""

from __future__ import annotations

import os
import subprocess
import sys
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
from policies.qwen.messages import ImagePart, ModelReply, ModelRequest
from policies.qwen.policy import QwenPolicy
from policies.qwen.resize import model_frame

pytestmark = [pytest.mark.display, pytest.mark.skipif(bool(available()), reason=f"no Xvfb: {available()}")]
ROOT = Path(__file__).resolve().parents[3]
SCREEN = (1366, 768)
FRAME = model_frame(*SCREEN, 3136, 1280 * 28 * 28)
TERMINATE = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}}\n' \
            "</tool_call>"


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb(SCREEN)


@pytest.fixture
def app(xvfb: Xvfb, tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(xvfb.env(), tmp_path / "state.json") as sandbox:
        sandbox.wait_ready()
        yield sandbox


def click_in_model_space(app: Sandbox, widget: str) -> tuple[str, list[int]]:
    """The answer a perfect model gives: the widget's centre in the W′×H′ image it was shown."""
    c = app.centers()
    x, y = c[f"{widget}_x"], c[f"{widget}_y"]
    point = [round(x * FRAME.model_width / SCREEN[0]), round(y * FRAME.model_height / SCREEN[1])]
    assert point != [x, y]  # the mapping matters on this screen
    return ('<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": '
            f"{point}}}}}\n</tool_call>"), point


class OneClickModel:
    name = "fake-model"

    def __init__(self, answer: str) -> None:
        self.answer, self.requests = answer, []

    def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        images = [p.image.size for m in request.messages for p in m.parts if isinstance(p, ImagePart)]
        assert images == [FRAME.model], images
        return ModelReply(self.answer if len(self.requests) == 1 else TERMINATE)

    def close(self) -> None:
        pass


def test_resized_space_answer_clicks_the_widget(xvfb: Xvfb, app: Sandbox, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert FRAME.model == (1316, 728)
    answer, point = click_in_model_space(app, "ok_button")
    monkeypatch.setenv("DISPLAY", xvfb.display)
    settings = load_settings(None, {"executor.backend": "pynput", "trace.dir": str(tmp_path / "traces")})
    computer = build_computer(settings, display=xvfb.display)
    report = execute("Press OK", QwenPolicy(OneClickModel(answer)), settings, Origin(model="fake"), computer)
    assert report.result.status == "success", report.result
    state = app.wait_for(lambda s: s["ok_clicks"] == 1, what="ok_clicks == 1")
    assert state["ok_clicks"] == 1
    step = read_trace(report.trace_dir).steps[0]
    assert step.policy["model_action"] == {"action": "left_click", "coordinate": point}
    assert step.policy["screen"] == list(SCREEN) and step.policy["model"] == [1316, 728]
    c = app.centers()
    x, y = step.action["coordinate"]
    assert abs(x - c["ok_button_x"]) <= 1 and abs(y - c["ok_button_y"]) <= 1


def test_deskpilot_run_with_an_openai_server_clicks_the_widget(xvfb: Xvfb, app: Sandbox, tmp_path: Path) -> None:
    answer, _ = click_in_model_space(app, "ok_button")

    def model(request: Recorded) -> str:
        if request.image_sizes != [FRAME.model]:
            raise ValueError(f"expected one {FRAME.model} image, got {request.image_sizes}")
        return answer if len(server.requests) == 1 else TERMINATE

    config = tmp_path / "config.yaml"
    config.write_text("executor:\n  backend: pynput\nsettle:\n  mode: poll\n", encoding="utf-8")
    with FakeOpenAIServer(model) as server:
        env = {**xvfb.env(), "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-m", "agent.cli", "run", "Press the OK button", "--backend", "openai",
             "--base-url", server.base_url, "--model", "qwen-test", "--config", str(config),
             "--trace-dir", str(tmp_path / "traces"), "--max-steps", "5"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "status: success" in proc.stdout
    app.wait_for(lambda s: s["ok_clicks"] == 1, what="ok_clicks == 1")
    assert [r.payload["model"] for r in server.requests] == ["qwen-test", "qwen-test"]
    header = read_trace(Path(proc.stdout.split("trace: ")[1].strip())).header
    assert header.model["backend"] == "openai" and header.config["model"]["base_url"] == server.base_url


def test_run_without_a_display_says_so_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "run", "anything", "--backend", "openai",
                           "--trace-dir", str(tmp_path / "t")], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "display" in proc.stderr
