"""Replay that verifies, on a private Xvfb with the sandbox app:
- the app moved since the recording → template matching follows the widget;
- the widget also looks different → the configured model (a stand-in OpenAI-compatible server
  answering like Qwen2.5-VL, through the real QwenPolicy.ground_example path, shown the recorded crop
  and the screenshot) re-grounds it;
- no model → the replay stops with status failure, saying where and why."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from display_helpers import REPO_ROOT, display_skip_reason, launch_sandbox, private_xvfb
from openai_server import FakeOpenAIServer, Recorded
from PIL import Image, ImageOps

from actions.capture import MssCapture
from agent.sandbox.xvfb import Xvfb
from agent.traces.lines import EndLine, Header, Outcome, Screen, StepLine
from agent.traces.store import TraceWriter, read_trace
from policies.qwen.coords import to_model
from policies.qwen.policy import example_for_model
from policies.qwen.resize import model_frame

pytestmark = [pytest.mark.display, pytest.mark.skipif(bool(display_skip_reason()), reason=str(display_skip_reason()))]
RECORDED_AT, MOVED_TO = "800x600+40+40", "800x600+240+140"
FRAME = model_frame(1280, 800, 3136, 1280 * 28 * 28)  # the default budget: 1260×784


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb()


@pytest.fixture(scope="module")
def recorded(xvfb: Xvfb, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trace written on the sandbox at +40+40: click OK, click the check box, done."""
    tmp = tmp_path_factory.mktemp("recorded")
    with launch_sandbox(xvfb.env(), tmp / "s.json", RECORDED_AT) as app:
        capture = MssCapture(1, 1.0, xvfb.display)
        shot = painted(capture, app.center("ok_button"))
        capture.close()
        writer = TraceWriter(tmp / "trace")
        writer.header(Header(task="press OK, then tick the box", policy="recorded",
                             screen=Screen(1280, 800, 1.0, shot.monitor.to_json())))
        for index, action in enumerate([{"action": "left_click", "coordinate": list(app.center("ok_button"))},
                                        {"action": "left_click", "coordinate": list(app.center("check"))},
                                        {"action": "terminate", "status": "success"}], start=1):
            status = "final" if action["action"] == "terminate" else "executed"
            writer.step(StepLine(index=index, action=action, outcome=Outcome(status, "")), shot)
        writer.end(EndLine(status="success", reason="recorded", steps=3))
        writer.close()
    return tmp / "trace"


def painted(capture: MssCapture, at: tuple[int, int], timeout: float = 10.0):
    """A screenshot once the app has drawn itself: the same twice running, with detail around `at`.

    "Ready" in the app's state file can come before Tk's first paint; a recording of a blank window
    matches everywhere and the replay rightly refuses to guess (this flaked under load)."""
    import time

    deadline, previous = time.monotonic() + timeout, None
    while True:
        shot = capture.grab()
        pixels = np.asarray(shot.image.convert("L"), dtype=np.int16)
        x, y = at
        detail = pixels[max(y - 48, 0):y + 48, max(x - 48, 0):x + 48].std() > 5
        if detail and previous is not None and np.array_equal(pixels, previous):
            return shot
        if time.monotonic() > deadline:
            raise AssertionError("the sandbox app did not finish drawing")
        previous = pixels
        time.sleep(0.05)


def relooked(trace: Path, tmp: Path) -> Path:
    """A copy of `trace` whose first screenshot shows the OK button (and 400 px around it) inverted."""
    copy = tmp / "relooked"
    copy.mkdir()
    for item in trace.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    x, y = read_trace(copy).steps[0].action["coordinate"]
    image = Image.open(copy / "step-0001.png").convert("RGB")
    box = (x - 200, max(y - 200, 0), x + 200, y + 200)
    image.paste(ImageOps.invert(image.crop(box)), box[:2])
    image.save(copy / "step-0001.png")
    return copy


def png_image(data_url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean())


def replay(env: dict, trace: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", "replay", str(trace), "--no-daemon",
                           "--trace-dir", str(cwd / "replays"), *extra], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(REPO_ROOT)}, cwd=cwd, timeout=120)


def replayed(proc: subprocess.CompletedProcess) -> dict:
    return read_trace(proc.stdout.split("trace: ")[1].strip()).steps[0]


def test_the_click_follows_a_moved_widget(xvfb: Xvfb, recorded: Path, tmp_path: Path) -> None:
    with launch_sandbox(xvfb.env(), tmp_path / "s.json", MOVED_TO) as app:
        proc = replay(xvfb.env(), recorded, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        state = app.wait_for(lambda s: s["ok_clicks"] == 1 and s["checked"], what="both clicks")
        step = replayed(proc)
        assert step.policy["verify"]["result"] == "moved" and step.policy["verify"]["moved_by"] == [200, 100]
        assert step.action["coordinate"] == list(app.center("ok_button"))
    assert state["ok_clicks"] == 1


def test_a_widget_that_looks_different_is_regrounded_by_the_model(xvfb: Xvfb, recorded: Path, tmp_path: Path) -> None:
    trace = relooked(recorded, tmp_path)
    with launch_sandbox(xvfb.env(), tmp_path / "s.json", MOVED_TO) as app:

        def answer(request: Recorded) -> str:  # a stand-in Qwen2.5-VL: clicks the OK button, in W′×H′ pixels
            x, y = to_model(app.center("ok_button"), FRAME)
            call = {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [x, y]}}
            return f"<tool_call>\n{json.dumps(call)}\n</tool_call>"

        with FakeOpenAIServer(answer) as server:
            config = tmp_path / "model.yaml"
            config.write_text(f"model:\n  backend: openai\n  name: stand-in\n  base_url: {server.base_url}\n")
            proc = replay(xvfb.env(), trace, tmp_path, "--reground", "--config", str(config))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        app.wait_for(lambda s: s["ok_clicks"] == 1 and s["checked"], what="both clicks")
        ok = app.center("ok_button")
    step = replayed(proc)
    check = step.policy["verify"]
    assert check["result"] == "regrounded"
    assert max(abs(a - b) for a, b in zip(check["regrounded"], ok, strict=True)) <= 1
    assert step.action["coordinate"] == check["regrounded"]
    assert len(server.requests) == 1  # only for the step that needed it; the check box was template-matched
    (request,) = server.requests
    crop, screenshot = request.image_sizes  # the recorded crop first, then the screenshot resized as the policy does
    assert screenshot == (1260, 784) and crop == example_for_model(Image.new("RGB", (96, 96)), FRAME).size == (84, 84)
    content = request.payload["messages"][1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url", "text", "image_url", "text"]
    assert "looked like when it was recorded" in content[0]["text"]
    assert "Click on the element that step 1 of the recording clicked" in content[-1]["text"]
    shown = png_image(content[1]["image_url"]["url"])  # the recorded (relooked: inverted) pixels around OK
    x, y = read_trace(trace).steps[0].action["coordinate"]
    recorded = Image.open(trace / "step-0001.png").convert("RGB").crop((x - 48, y - 48, x + 48, y + 48))
    assert mean_difference(shown, recorded.resize(shown.size, Image.Resampling.BICUBIC)) < 8


def test_without_a_model_the_replay_stops_and_says_where_and_why(xvfb: Xvfb, recorded: Path, tmp_path: Path) -> None:
    trace = relooked(recorded, tmp_path)
    with launch_sandbox(xvfb.env(), tmp_path / "s.json", MOVED_TO) as app:
        proc = replay(xvfb.env(), trace, tmp_path)
        state = app.state()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "status: failure" in proc.stdout and "step 1 (left_click at [" in proc.stdout
    assert "differs from the recording" in proc.stdout and "no model is configured" in proc.stdout
    result = read_trace(proc.stdout.split("trace: ")[1].strip())
    assert result.end.status == "failure" and len(result.steps) == 1
    assert result.steps[0].policy["verify"]["result"] == "diverged"
    assert state["ok_clicks"] == 0 and not state["checked"]


def test_no_verify_replays_blindly(xvfb: Xvfb, recorded: Path, tmp_path: Path) -> None:
    trace = relooked(recorded, tmp_path)
    with launch_sandbox(xvfb.env(), tmp_path / "s.json", RECORDED_AT) as app:
        proc = replay(xvfb.env(), trace, tmp_path, "--no-verify")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        app.wait_for(lambda s: s["ok_clicks"] == 1 and s["checked"], what="both clicks")
    assert replayed(proc).policy["verify"] == {"result": "skipped", "note": "off"}


def test_a_trace_replays_on_another_resolution(recorded: Path, tmp_path: Path) -> None:
    with Xvfb(screens=((1600, 1000),)) as bigger, launch_sandbox(bigger.env(), tmp_path / "s.json", RECORDED_AT) as app:
        proc = replay(bigger.env(), recorded, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        app.wait_for(lambda s: s["ok_clicks"] == 1 and s["checked"], what="both clicks")
        step = replayed(proc)
        assert step.policy["scaled_from"] == [1280, 800]  # first mapped through the normalized coordinates,
        assert step.action["coordinate"] == list(app.center("ok_button"))  # then found where it really is
