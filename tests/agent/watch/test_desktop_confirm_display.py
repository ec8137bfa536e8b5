"""`safety.confirm_via: desktop` on a private Xvfb with the sandbox app: the dialog answered through the
display (xdotool standing in for the person), and never answerable by the agent's own executor.

The run is a real one (loop, gate with a region rule that asks before clicking the app's OK button,
trace) watched through `agent.watch.session.Watch`; its computer captures the Xvfb with mss and sends
input with xdotool (XTEST, like the agent's executors), wrapped in the run's own executor guard.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from display_helpers import SandboxProcess, XDoTool, display_skip_reason, launch_sandbox, private_xvfb, rect_center
from PIL import Image

from actions.capture import MssCapture
from actions.geometry import Point, Screenshot
from actions.schema import parse_action
from agent.config import load_settings
from agent.run.runner import RunReport, execute
from agent.safety.confirm_desktop import DesktopConfirmer
from agent.sandbox.xvfb import Xvfb
from agent.traces.store import read_trace
from agent.watch.session import Watch
from policies.scripted.policy import ScriptedPolicy

pytestmark = [pytest.mark.display, pytest.mark.skipif(display_skip_reason() is not None,
                                                      reason=display_skip_reason() or "")]
DIALOG = (255, 248, 225)  # the dialog's background


class XdoComputer:
    """Capture with mss, input with xdotool, on one display."""

    def __init__(self, display: str, xdo: XDoTool) -> None:
        self.capture, self.xdo = MssCapture(1, 1.0, display), xdo

    def screenshot(self) -> Screenshot:
        return self.capture.grab()

    def move(self, to: Point) -> None:
        self.xdo.move(*to)

    def click(self, at: Point | None, button: str, count: int) -> None:
        if at is not None:
            self.xdo.move(*at)
        self.xdo.run("click", "--repeat", count, {"left": 1, "middle": 2, "right": 3}[button])

    def key(self, keys: tuple[str, ...]) -> None:
        self.xdo.key("+".join(keys))

    def close(self) -> None:
        self.capture.close()


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb()


@pytest.fixture(scope="module")
def app(xvfb: Xvfb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    sandbox = launch_sandbox(xvfb.env(), tmp_path_factory.mktemp("app") / "state.json")
    yield sandbox
    sandbox.stop()


class Asked:
    """A run whose first step (a click on OK) the gate puts to the desktop dialog."""

    def __init__(self, xvfb: Xvfb, app: SandboxProcess, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DISPLAY", xvfb.display)
        x, y, w, h = app.state()["widgets"]["ok_button"]
        self.ok = rect_center((x, y, w, h))
        settings = load_settings(None, {
            "settle.mode": "off", "trace.dir": str(tmp / "traces"), "safety.confirm_via": "desktop",
            "safety.confirm_timeout_s": 60.0, "safety.regions.verdict": "confirm",
            "safety.regions.rects": [[x - 5, y - 5, w + 10, h + 10]]})
        self.xdo = XDoTool(xvfb.env())
        self.computer = XdoComputer(xvfb.display, self.xdo)
        self.watch = Watch(settings, "quiet")
        hooks = self.watch.hooks()
        assert isinstance(hooks.confirmer, DesktopConfirmer)
        self.dialog: DesktopConfirmer = hooks.confirmer
        self.before = app.state().get("ok_clicks", 0)
        policy = ScriptedPolicy([parse_action({"action": "left_click", "coordinate": list(self.ok)}),
                                 parse_action({"action": "terminate", "status": "success"})])
        self.report: RunReport | None = None
        self.thread = threading.Thread(target=lambda: setattr(self, "report", execute(
            "press OK", policy, settings, computer=self.computer, hooks=hooks)), daemon=True)
        self.thread.start()

    def wait_dialog(self) -> dict[str, list[int]]:
        assert self.dialog.up.wait(30), "the dialog did not come up"
        assert self.dialog.shown is not None
        time.sleep(0.8)  # past its arming delay (0.5 s): clicks count from now on
        return self.dialog.shown

    def end(self) -> RunReport:
        self.thread.join(60)
        assert self.report is not None
        self.watch.close()
        return self.report


def dialog_pixels(path: Path, window: list[int]) -> int:
    x, y, w, h = window
    region = Image.open(path).convert("RGB").crop((x, y, x + w, y + h))
    return sum(n for n, c in region.getcolors(1 << 20) or [] if c == DIALOG)


def test_allow_clicked_on_the_dialog_lets_the_click_through(xvfb: Xvfb, app: SandboxProcess, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    run = Asked(xvfb, app, tmp_path, monkeypatch)
    shown = run.wait_dialog()
    trace_dir = run.watch.view.trace_dir
    assert trace_dir is not None and not read_trace(trace_dir).steps  # paused: no step while it is up
    run.xdo.click(*rect_center(shown["allow"]))
    report = run.end()
    assert report.result.status == "success", report.result
    app.wait_for(lambda s: s.get("ok_clicks", 0) == run.before + 1, what="the OK click after Allow")
    trace = read_trace(report.trace_dir)
    verdict = trace.steps[0].verdict
    assert verdict is not None and verdict.confirmation == "approved" and "desktop dialog" in verdict.reason
    after = report.trace_dir / (trace.steps[1].screenshot or "")
    assert dialog_pixels(after, shown["window"]) == 0  # gone before the next screenshot


def test_deny_clicked_on_the_dialog_stops_the_click(xvfb: Xvfb, app: SandboxProcess, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    run = Asked(xvfb, app, tmp_path, monkeypatch)
    run.xdo.click(*rect_center(run.wait_dialog()["deny"]))
    report = run.end()
    assert report.result.status == "denied"
    step = read_trace(report.trace_dir).steps[0]
    assert step.verdict is not None and step.verdict.confirmation == "refused"
    time.sleep(0.5)
    assert app.state().get("ok_clicks", 0) == run.before


def test_the_agents_own_input_never_answers_it(xvfb: Xvfb, app: SandboxProcess, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    run = Asked(xvfb, app, tmp_path, monkeypatch)
    shown = run.wait_dialog()
    assert run.watch.safety is not None
    agent: Any = run.watch.safety.guard(run.computer)  # the run's own executor guard, with its input ledger
    agent.click(rect_center(shown["allow"]), "left", 1)  # lands on Allow: the dialog does answer "allow"
    report = run.end()
    assert report.result.status == "denied", report.result
    verdict = read_trace(report.trace_dir).steps[0].verdict
    assert verdict is not None and verdict.confirmation == "refused" and "agent's own input" in verdict.reason
    time.sleep(0.5)
    assert app.state().get("ok_clicks", 0) == run.before


def test_input_already_on_its_way_cannot_answer_it(xvfb: Xvfb, app: SandboxProcess, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A click arriving in the dialog's first moments (armed after 0.5 s) does nothing; the timeout denies."""
    run = Asked(xvfb, app, tmp_path, monkeypatch)
    run.dialog.timeout_s = 3.0
    assert run.dialog.up.wait(30)
    assert run.dialog.shown is not None
    subprocess.run(["xdotool", "mousemove", *map(str, rect_center(run.dialog.shown["allow"])), "click", "1"],
                   env=xvfb.env(), check=True, timeout=10)
    report = run.end()
    verdict = read_trace(report.trace_dir).steps[0].verdict
    assert report.result.status == "denied" and verdict is not None and verdict.confirmation == "timed_out"
