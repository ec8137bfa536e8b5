"""The local web console in real headless Chromium (DevTools protocol): token, live steps, confirmations.

A real run (the loop, the gate, the trace) on a fake computer that shows a drawn screen, watched
through `agent.watch.session.Watch` with `safety.confirm_via: console`: the page loads only with the
token, shows the steps as they happen, and its Allow and Deny buttons — clicked with real mouse
events — reach the gate; closing the page while a question is open denies it.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from chromium_helpers import Chromium, Page, skip_reason
from PIL import Image
from trace_helpers import ui_image

from actions.fake import FakeComputer
from actions.geometry import Screenshot
from actions.schema import parse_action
from agent.config import load_settings
from agent.run.runner import RunReport, execute
from agent.traces.store import read_trace
from agent.watch.session import Watch
from policies.scripted.policy import ScriptedPolicy

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
# The README's pictures: written to docs/ with DESKPILOT_SAVE_DOCS=1 (else next to the test's files)
DOCS = Path(__file__).resolve().parents[3] / "docs" if os.environ.get("DESKPILOT_SAVE_DOCS") == "1" else None
BUTTONS = {"Save": (300, 200), "Open": (520, 380), "Terminal": (760, 200)}


class DrawnScreen(FakeComputer):
    """The fake computer, showing a window-like screen instead of a flat colour."""

    def screenshot(self) -> Screenshot:
        image = ui_image((self.monitor.width, self.monitor.height), BUTTONS)
        return Screenshot(image=image, monitor=self.monitor, scale=self.scale)


@pytest.fixture(scope="module")
def browser() -> Any:
    chromium = Chromium(1280, 900)
    yield chromium
    chromium.close()


def script(text: str) -> ScriptedPolicy:
    return ScriptedPolicy([parse_action(a) for a in (
        {"action": "left_click", "coordinate": [300, 200]}, {"action": "wait", "time": 0.3},
        {"action": "left_click", "coordinate": [760, 200]}, {"action": "type", "text": text},
        {"action": "key", "keys": ["Return"]}, {"action": "terminate", "status": "success"})])


class Run:
    """A watched run on its own thread; `report` once it ends."""

    def __init__(self, tmp: Path, text: str, timeout_s: float = 60.0) -> None:
        settings = load_settings(None, {"settle.mode": "off", "trace.dir": str(tmp / "traces"),
                                        "safety.confirm_via": "console", "safety.confirm_timeout_s": timeout_s})
        self.watch = Watch(settings, "quiet")
        self.computer = DrawnScreen()
        self.report: RunReport | None = None
        hooks = self.watch.hooks()
        self.thread = threading.Thread(target=lambda: setattr(self, "report", execute(
            "run sudo in the terminal", script(text), settings, computer=self.computer, hooks=hooks)), daemon=True)

    def start(self) -> Run:
        self.thread.start()
        return self

    def end(self, timeout: float = 30.0) -> RunReport:
        self.thread.join(timeout)
        assert self.report is not None, "the run did not end"
        self.watch.finish(self.report)  # as the CLI does: the summary, and the end on the page
        return self.report

    def close(self) -> None:
        self.watch.close()


@pytest.fixture
def runs() -> Any:
    """Makes watched runs and closes their consoles after the test."""
    made: list[Run] = []

    def make(tmp: Path, text: str, timeout_s: float = 60.0) -> Run:
        made.append(Run(tmp, text, timeout_s))
        return made[-1]

    yield make
    for run in made:
        run.close()


def open_console(browser: Chromium, run: Run) -> Page:
    page = browser.open(run.watch.console_url)
    page.wait_for("document.querySelector('#status') && document.querySelector('#status').textContent === "
                  "'watching' || document.querySelectorAll('#steps li.step').length > 0", what="the page to connect")
    return page


def question_up(page: Page) -> None:
    page.wait_for("!document.querySelector('#question').hidden && !document.querySelector('#allow').disabled",
                  what="the confirmation on the page")


def test_the_page_needs_its_token(tmp_path: Path, browser: Chromium, runs: Any) -> None:
    run = runs(tmp_path, "sudo ls")
    url = run.watch.console_url
    base = url.split("?")[0]
    for wrong in (base, base + "?token=nope", base + "api/state?token=x"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(wrong, timeout=5)
        assert refused.value.code == 403
    page = browser.open(base)
    page.wait_for("document.body && document.body.innerText.includes('forbidden')", what="the refusal")
    assert "deskpilot" not in page.eval("document.title")
    page.close()
    with urllib.request.urlopen(url, timeout=5) as ok:
        assert ok.status == 200 and b"deskpilot console" in ok.read()
    assert url.startswith("http://127.0.0.1:") and len(run.watch.console_url.split("token=")[1]) >= 40


def test_steps_show_as_the_run_goes_and_allow_reaches_the_gate(tmp_path: Path, browser: Chromium, runs: Any) -> None:
    run = runs(tmp_path, "sudo ls")
    page = open_console(browser, run)
    run.start()
    page.wait_for("document.querySelectorAll('#steps li.step').length >= 2", what="the first steps")
    assert run.thread.is_alive()  # shown while the run goes on: it waits for the question below
    question_up(page)
    assert "sudo ls" in page.eval("document.querySelector('#q-action').textContent")
    assert "privilege" in page.eval("document.querySelector('#q-rule').textContent")
    page.wait_for("document.querySelector('#q-preview').naturalWidth > 0 && "
                  "document.querySelector('#screen').naturalWidth > 0", what="the preview and the screen")
    # the buttons sit above the late-loading preview: it cannot push them from under the pointer
    assert page.eval("document.querySelector('#deny').getBoundingClientRect().bottom <= "
                     "document.querySelector('#q-preview').getBoundingClientRect().top")
    _save_doc_screenshot(page, tmp_path, "console.png")
    page.click("#allow")
    report = run.end()
    assert report.result.status == "success", report.result
    typed = read_trace(report.trace_dir).steps[3]
    assert typed.action == {"action": "type", "text": "sudo ls"} and typed.outcome.status == "executed"
    assert typed.verdict is not None and typed.verdict.confirmation == "approved"
    assert "answered on the console" in typed.verdict.reason
    assert ("type", "sudo ls") in run.computer.calls
    page.wait_for("document.querySelector('#status').textContent === 'success'", what="the end on the page")
    page.close()


def test_deny_reaches_the_gate(tmp_path: Path, browser: Chromium, runs: Any) -> None:
    run = runs(tmp_path, "sudo rm -f /tmp/nothing")
    page = open_console(browser, run)
    run.start()
    question_up(page)
    page.click("#deny")
    report = run.end()
    assert report.result.status == "denied", report.result
    step = read_trace(report.trace_dir).steps[3]
    assert step.outcome.status == "denied" and step.verdict is not None and step.verdict.confirmation == "refused"
    assert not any(call[0] == "type" for call in run.computer.calls)
    page.close()


def test_closing_the_page_mid_question_denies(tmp_path: Path, browser: Chromium, runs: Any) -> None:
    run = runs(tmp_path, "sudo ls", timeout_s=120.0)
    page = open_console(browser, run)
    run.start()
    question_up(page)
    started = time.monotonic()
    page.close()
    report = run.end(timeout=30)
    assert time.monotonic() - started < 20  # the page closing, not the 120 s timeout, ended the question
    assert report.result.status == "denied"
    step = read_trace(report.trace_dir).steps[3]
    assert step.verdict is not None and "the console page was closed" in step.verdict.reason
    assert not any(call[0] == "type" for call in run.computer.calls)


def _save_doc_screenshot(page: Page, tmp: Path, name: str) -> None:
    """The README's picture of the console: taken here, kept small."""
    shot = page.screenshot(tmp / name)
    image = Image.open(shot).convert("RGB")
    image.thumbnail((1000, 1000))
    image = image.quantize(colors=128)
    where = DOCS or tmp / "docs"
    where.mkdir(exist_ok=True)
    image.save(where / name, optimize=True)
    assert (where / name).stat().st_size < 200_000
