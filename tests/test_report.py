"""`deskpilot report`: one self-contained HTML file per trace, checked as text and in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from trace_helpers import ui_image, write_trace

from agent.cli import main
from agent.report import render
from agent.trace import read_trace

MAGENTA = (255, 0, 255)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "no chromium on PATH (Debian: apt-get install -y chromium)"


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    screen = ui_image((800, 500), {"Save": (200, 120), "Open": (420, 300)})
    first = Image.new("RGB", (800, 500), MAGENTA)  # a colour to find in Chromium's screenshot
    verify = {"replay_step": 2, "verify": {"result": "moved", "expected": [150, 100], "score": 0.12,
                                           "moved_by": [50, 20], "match": {"score": 0.99}}}
    path = write_trace(tmp_path / "t", "save the <draft> & quit", [
        ({"action": "left_click", "coordinate": [200, 120]}, first,
         {"raw_text": 'Saving first. <script>alert(1)</script>\n<tool_call>{"name": "computer_use"}</tool_call>'}),
        ({"action": "double_click", "coordinate": [200, 120]}, screen, {"policy": verify}),
        ({"action": "left_click_drag", "start_coordinate": [100, 400], "coordinate": [600, 420]}, screen, {}),
        ({"action": "scroll", "pixels": -5, "coordinate": [420, 300]}, screen, {}),
        ({"action": "type", "text": "hello"}, screen, {"feedback": "The last action had no visible effect."}),
        ({"action": "key", "keys": ["ctrl", "s"]}, screen, {}),
        ({"action": "terminate", "status": "success"}, screen, {}),
    ], header={"model": {"backend": "openai", "name": "stand-in"}})
    (path / "step-0006.png").unlink()  # a lost screenshot must not break the page
    return path


def test_the_page_is_self_contained_and_shows_every_step(trace: Path) -> None:
    page = render(read_trace(trace))
    steps = re.findall(r'<section class="step" id="step-(\d+)"', page)
    assert steps == [str(i) for i in range(1, 8)]
    assert page.count('src="data:image/png;base64,') == 6 and "no screenshot for this step" in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:") for s in sources)  # nothing to fetch
    assert "<script" not in page and "<link" not in page and "@import" not in page and "url(http" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "save the &lt;draft&gt; &amp; quit" in page
    assert page.count("<circle") >= 6 and "<line" in page  # click rings, drag path, scroll arrow
    assert 'stroke-dasharray="6 4"' in page  # where the verified replay expected the target
    assert 'id="final-status">success<' in page and "stand-in" in page


def test_the_cli_writes_report_html_into_the_trace(trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(trace)]) == 0
    assert (trace / "report.html").stat().st_size > 10_000 and "report: " in capsys.readouterr().out
    assert main(["report", str(trace.parent / "nope")]) == 2


def chromium(*args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"]
        return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_headless_chromium_renders_every_step(trace: Path, tmp_path: Path) -> None:
    assert main(["report", str(trace), "--out", str(tmp_path / "r.html")]) == 0
    url = (tmp_path / "r.html").as_uri()
    dom = chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.findall(r'id="step-(\d+)"', dom.stdout) == [str(i) for i in range(1, 8)]
    assert dom.stdout.count("<img ") == 6 and dom.stdout.count("<svg") == 4  # type, key, terminate: no marks
    shot = chromium(f"--screenshot={tmp_path / 'page.png'}", "--window-size=1280,1400", url)
    assert shot.returncode == 0 and (tmp_path / "page.png").is_file(), shot.stderr[-2000:]
    page = Image.open(tmp_path / "page.png").convert("RGB")
    colours = page.getcolors(maxcolors=1 << 20) or []
    magenta = sum(n for n, c in colours if c == MAGENTA)
    assert magenta > 100_000  # the first step's screenshot was decoded and drawn (scaled into the page)
