"""The report of three real runs — a success, a denial, a failed verification — in headless Chromium.

Each trace is written by the real loop (gate, trace writer, verifying replay) on a fake computer that
shows a drawn screen; the report is rendered, opened in Chromium (DevTools protocol), checked in its
DOM and screenshotted. Copies of the screenshots go to docs/ for the README.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from chromium_helpers import Chromium, Page, skip_reason
from PIL import Image
from trace_helpers import ui_image, write_trace

from actions.fake import FakeComputer
from actions.geometry import Monitor, Screenshot
from actions.schema import parse_action
from agent.config import load_settings
from agent.replay.verify import recorded_steps
from agent.run.runner import execute
from agent.traces.lines import Origin
from agent.traces.report import write_report
from agent.traces.store import read_trace
from policies.scripted.policy import ScriptedPolicy
from policies.scripted.verified import VerifyingReplayPolicy, VerifyOptions

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
# The README's pictures: written to docs/ with DESKPILOT_SAVE_DOCS=1 (else next to the test's files)
DOCS = Path(__file__).resolve().parents[3] / "docs" if os.environ.get("DESKPILOT_SAVE_DOCS") == "1" else None
SIZE = (800, 500)
BUTTON = (70, 110, 190)  # ui_image's button colour: found in the page's pixels when screenshots decode


class Drawn(FakeComputer):
    def __init__(self, buttons: dict[str, tuple[int, int]]) -> None:
        super().__init__(monitor=Monitor(0, 0, *SIZE))
        self.buttons = buttons

    def screenshot(self) -> Screenshot:
        return Screenshot(image=ui_image(SIZE, self.buttons), monitor=self.monitor)


def settings(tmp: Path) -> Any:
    return load_settings(None, {"settle.mode": "off", "trace.dir": str(tmp / "traces")})


def scripted(tmp: Path, actions: list[dict[str, Any]]) -> Path:
    computer = Drawn({"Save": (200, 120), "Open": (420, 300)})
    policy = ScriptedPolicy([parse_action(a) for a in actions])
    return execute("fill in the form", policy, settings(tmp), computer=computer).trace_dir


@pytest.fixture(scope="module")
def browser() -> Any:
    chromium = Chromium(1280, 1000)
    yield chromium
    chromium.close()


def show(browser: Chromium, trace: Path, tmp: Path, name: str, focus: str = "") -> Page:
    html = write_report(trace, tmp / f"{name}.html")
    page = browser.open(html.as_uri())
    page.wait_for("document.readyState === 'complete' && !!document.querySelector('#final-status')", what="the report")
    if focus:  # the part the README's picture should show
        page.eval(f"document.querySelector({focus!r}).scrollIntoView({{block: 'center'}})")
    shot = page.screenshot(tmp / f"{name}.png")
    pixels = Image.open(shot).convert("RGB").getcolors(1 << 22) or []
    assert sum(n for n, c in pixels if c == BUTTON) > 500  # screenshots were decoded and drawn
    small = Image.open(shot).convert("RGB")
    small.thumbnail((900, 900))
    where = DOCS or tmp / "docs"
    where.mkdir(exist_ok=True)
    small.quantize(colors=128).save(where / f"{name}.png", optimize=True)
    assert (where / f"{name}.png").stat().st_size < 200_000
    return page


def count(page: Page, name: str) -> int:
    return int(page.eval(f"[...document.querySelectorAll('#counts span')].find(s => s.textContent.endsWith("
                         f"'{name}')).querySelector('b').textContent"))


def test_a_success(tmp_path: Path, browser: Chromium) -> None:
    trace = scripted(tmp_path, [{"action": "left_click", "coordinate": [200, 120]},
                                {"action": "type", "text": "hello"}, {"action": "key", "keys": ["ctrl", "s"]},
                                {"action": "terminate", "status": "success"}])
    page = show(browser, trace, tmp_path, "report-success")
    assert page.eval("document.querySelector('#final-status').className") == "badge big good"
    assert count(page, "executed") == 3 and count(page, "denied") == 0
    assert page.eval("document.querySelectorAll('#strip a.thumb').length") == 5  # four steps and the end
    assert page.eval("[...document.querySelectorAll('#strip a')].map(a => a.getAttribute('href')).join()") == \
        "#step-1,#step-2,#step-3,#step-4,#end"
    pairs = page.eval("[...document.querySelectorAll('section.step')].map(s => s.querySelectorAll("
                      "'figure .img').length)")
    assert pairs == [2, 2, 2, 2]  # before and after for every step (after the last: end.png)
    assert page.eval("document.querySelectorAll('#phases .bar').length") >= 3
    assert "terminate: success" in page.eval("document.querySelector('#end').innerText")
    page.close()


def test_a_denial(tmp_path: Path, browser: Chromium) -> None:
    trace = scripted(tmp_path, [{"action": "left_click", "coordinate": [420, 300]},
                                {"action": "type", "text": "rm -rf ~/"}])
    page = show(browser, trace, tmp_path, "report-denied")
    assert page.eval("document.querySelector('#final-status').textContent") == "denied"
    assert page.eval("document.querySelector('header').className") == "t-bad"
    assert page.eval("document.querySelector('#step-2').className") == "step t-bad"
    assert "text.destructive" in page.eval("document.querySelector('#step-2').innerText")
    assert count(page, "denied") == 1 and count(page, "executed") == 1
    page.close()


def test_a_failed_verification(tmp_path: Path, browser: Chromium) -> None:
    recorded = write_trace(tmp_path / "recorded", "save", [
        ({"action": "left_click", "coordinate": [200, 120]}, ui_image(SIZE, {"Save": (200, 120)}), {}),
        ({"action": "terminate", "status": "success"}, ui_image(SIZE, {"Save": (200, 120)}), {})])
    # the policy `replay TRACE` uses, without its settle observer (which captures a real display)
    policy = VerifyingReplayPolicy(recorded_steps(read_trace(recorded), 96), VerifyOptions(), source=str(recorded))
    report = execute("save", policy, settings(tmp_path), Origin(source=str(recorded)),  # the Save button is gone
                     computer=Drawn({"Open": (420, 300)}))
    assert report.result.status == "failure"
    assert read_trace(report.trace_dir).steps[0].verify.get("result") == "diverged"
    page = show(browser, report.trace_dir, tmp_path, "report-diverged", focus="#step-1 .crops")
    assert page.eval("document.querySelector('#final-status').className") == "badge big bad"
    step = "document.querySelector('#step-1')"
    assert page.eval(f"{step}.className") == "step t-bad"  # terminate: failure is red, not green
    assert page.eval(f"{step}.querySelector('.badge').className") == "badge bad"
    crops = page.eval(f"[...{step}.querySelectorAll('.crops img')].map(i => [i.alt, i.naturalWidth])")
    assert [c[0].split(" ")[0] for c in crops] == ["recorded", "current"] and all(c[1] == 160 for c in crops)
    assert count(page, "failed") == 1
    page.close()
