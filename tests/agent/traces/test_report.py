"""`deskpilot report`: one self-contained HTML file per trace, checked as text and in headless Chromium."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from trace_helpers import ui_image, write_trace

from agent.cli.main import main
from agent.traces.lines import Origin
from agent.traces.report import render
from agent.traces.store import Trace, read_trace

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
    ], origin=Origin(model={"backend": "openai", "name": "stand-in"}))
    (path / "step-0006.png").unlink()  # a lost screenshot must not break the page
    return path


def test_the_page_is_self_contained_and_shows_every_step(trace: Path) -> None:
    page = render(read_trace(trace))
    steps = re.findall(r'<section class="step [^"]*" id="step-(\d+)"', page)
    assert steps == [str(i) for i in range(1, 8)]
    assert page.count('url("data:image/png;base64,') == 6 and "no screenshot for this step" in page  # each once
    sources = re.findall(r'(?:src|href)="([^"]*)"', page) + re.findall(r"url\(([^)]*)\)", page)
    local = ("data:", "#step-", "#end", "#arrow-")  # nothing to fetch
    assert sources and all(s.strip('"').startswith(local) for s in sources)
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
    assert dom.stdout.count('role="img"') == 6 + 5 and dom.stdout.count("<svg") == 4  # 6 before, 5 after
    assert dom.stdout.count('class="crops"') == 1  # the moved target: the screen where it was expected
    shot = chromium(f"--screenshot={tmp_path / 'page.png'}", "--window-size=1280,1400", url)
    assert shot.returncode == 0 and (tmp_path / "page.png").is_file(), shot.stderr[-2000:]
    page = Image.open(tmp_path / "page.png").convert("RGB")
    colours = page.getcolors(maxcolors=1 << 20) or []
    magenta = sum(n for n, c in colours if c == MAGENTA)
    assert magenta > 100_000  # the first step's screenshot was decoded and drawn (scaled into the page)


HOSTILE = '"><script>alert(1)</script><img src=x onerror="alert(2)'


def test_every_value_from_the_trace_is_escaped(tmp_path: Path) -> None:
    screen = ui_image((400, 300), {"Save": (200, 120)})
    path = write_trace(tmp_path / "hostile", HOSTILE, [
        ({"action": "left_click", "coordinate": [200, 120]}, screen, {
            "outcome": {"status": HOSTILE, "detail": HOSTILE}, "feedback": HOSTILE, "error": HOSTILE,
            "verdict": {"decision": "deny", "rule": HOSTILE, "reason": HOSTILE},  # a decision is one of three
            "policy": {"stop_reason": HOSTILE, "verify": {"result": HOSTILE, "expected": [200, 120], "moved_by": "x"}},
            "timings_ms": {HOSTILE: HOSTILE}, "effect": {HOSTILE: 1}}),
        ({"action": "scroll", "pixels": 1e300, "coordinate": [1e300, float("nan")]}, screen, {"policy": None}),
    ], status=HOSTILE, origin=Origin(source=HOSTILE, model={HOSTILE: HOSTILE}, config={HOSTILE: HOSTILE}))
    page = render(read_trace(path))
    assert "<script" not in page and "<img src=x" not in page and 'onerror="' not in page
    assert page.count("&lt;script&gt;") >= 10


def test_a_step_index_that_is_not_a_number_cannot_inject_markup(trace: Path) -> None:
    """read_trace refuses such a trace; the page escapes the index all the same (defence in depth)."""
    loaded = read_trace(trace)
    steps = (dataclasses.replace(loaded.steps[0], index=HOSTILE), *loaded.steps[1:])
    page = render(Trace(loaded.dir, loaded.header, steps, loaded.end))
    assert "<script" not in page and 'onerror="' not in page
    assert 'id="step-&quot;&gt;&lt;script&gt;' in page


def test_a_recorded_step_with_a_null_policy_renders(tmp_path: Path) -> None:
    screen = ui_image((400, 300))
    path = write_trace(tmp_path / "t", "x", [({"action": "left_click", "coordinate": [5, 5]}, screen,
                                              {"policy": None, "verdict": None, "raw_text": None})])
    assert '<section class="step t-good" id="step-1"' in render(read_trace(path))


@pytest.mark.parametrize("where", ["missing/dir/r.html", "."])
def test_an_unwritable_out_is_one_line_exit_2_and_nothing_is_left(trace: Path, tmp_path: Path, where: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / where
    assert main(["report", str(trace), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"deskpilot: cannot write {out}") and err.count("\n") == 1
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_a_malformed_trace_is_one_line_exit_2(trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (trace / "trace.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"timings_ms":{', '"timings_ms":[1],"x":{')
    (trace / "trace.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["report", str(trace)]) == 2
    assert "line 3: `timings_ms` must be an object or null, not a list" in capsys.readouterr().err
    assert not (trace / "report.html").exists()
