"""The wlroots backend end to end: the real CLI on a private headless sway with two outputs, driving a
native-Wayland GTK window on each (no XWayland, no DISPLAY).

One sway and one probe window per output for the whole module. Proves: every action type lands, with
Unicode text and layout-independent shortcuts; scroll and drag; a click on the second output (offset
1280,200) lands at the right pixel; every corner pixel is clickable; a trace replays with verification;
the gate still denies before acting; the trace header names the backend. Latency medians are printed
(run with -s to see them). Skips with a reason when sway, pywayland or python3-gi are missing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from wayland_helpers import (
    REPO_ROOT,
    HeadlessSway,
    ProbeApp,
    every_action_lands_then_replays,
    record_is_refused_in_one_line,
    script,
    sigterm_stops_a_run,
    sway_skip_reason,
)

from agent.traces.store import read_trace

pytestmark = pytest.mark.skipif(sway_skip_reason() is not None, reason=str(sway_skip_reason()))
OUTPUTS = ((1280, 800, 0, 0), (800, 600, 1280, 200))


@pytest.fixture(scope="module")
def sway() -> Iterator[HeadlessSway]:
    s = HeadlessSway(OUTPUTS)
    yield s
    s.close()


@pytest.fixture(scope="module")
def apps(sway: HeadlessSway) -> Iterator[tuple[ProbeApp, ProbeApp]]:
    first = ProbeApp(sway, 1)
    second = ProbeApp(sway, 2)
    yield first, second
    first.close()
    second.close()


def replay(sway: HeadlessSway, target: Path, tmp_path: Path, config: str = "") -> subprocess.CompletedProcess:
    conf = tmp_path / "config.yaml"
    conf.write_text(config or "screen:\n  backend: auto\n")
    env = sway.env() | {"PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "agent.cli", "replay", str(target), "--config", str(conf),
                           "--trace-dir", str(tmp_path / "traces")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=180)


def test_every_action_lands_and_the_trace_replays_verified(sway: HeadlessSway, apps: tuple, tmp_path: Path) -> None:
    """Every action lands on wlroots (auto picks it), the run is honest about its listeners, and its trace
    replays with verification."""
    every_action_lands_then_replays(lambda target, cwd: replay(sway, target, cwd), apps[0], tmp_path, "wlroots")


def test_the_second_output_with_its_offset(sway: HeadlessSway, apps: tuple, tmp_path: Path) -> None:
    _, second = apps
    mark = second.mark()
    steps = [{"action": "left_click", "coordinate": [50, 60]}, {"action": "double_click", "coordinate": [799, 599]},
             {"action": "type", "text": "zweiter ✓"}]
    proc = replay(sway, script(tmp_path, steps), tmp_path, "screen:\n  backend: wlroots\n  monitor: 2\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second.wait_for(lambda e: e["e"] == "key" and e["char"] == "✓", mark)
    presses = [(e["x"], e["y"], e["n"]) for e in second.events()[mark:] if e["e"] == "press"]
    assert (50, 60, 1) in presses and (799, 599, 2) in presses
    header = read_trace(next((tmp_path / "traces").iterdir())).header
    assert header.screen.monitor == {"left": 1280, "top": 200, "width": 800, "height": 600}


def test_the_gate_stands_before_every_action(sway: HeadlessSway, apps: tuple, tmp_path: Path) -> None:
    first, _ = apps
    mark = first.mark()
    steps = [{"action": "left_click", "coordinate": [120, 130]}, {"action": "left_click", "coordinate": [5000, 5000]},
             {"action": "left_click", "coordinate": [140, 150]}]
    proc = replay(sway, script(tmp_path, steps), tmp_path)
    assert proc.returncode == 1 and "denied" in proc.stdout, proc.stdout + proc.stderr
    first.wait_for(lambda e: e["e"] == "press" and (e["x"], e["y"]) == (120, 130), mark)
    time.sleep(0.3)  # a click that wrongly went through would have arrived by now (clicks land in ~10 ms)
    assert not any(e["e"] == "press" and (e["x"], e["y"]) == (140, 150) for e in first.events()[mark:])


def test_window_rules_fail_closed_without_x11(sway: HeadlessSway, apps: tuple, tmp_path: Path) -> None:
    """Enter may submit a terminal command; the rule that checks needs X11 window information, which a
    Wayland session does not give (XWayland's DISPLAY shows only XWayland windows): it denies, not guesses."""
    from agent.sandbox.xvfb import Xvfb, available

    first, _ = apps
    mark = first.mark()
    if available() is not None:
        pytest.skip(f"needs Xvfb to stand in for XWayland: {available()}")
    with Xvfb() as xwayland:  # an X display beside the Wayland one (XWayland): it must not be trusted
        env = sway.env() | {"DISPLAY": xwayland.display, "PYTHONPATH": str(REPO_ROOT)}
        conf = tmp_path / "config.yaml"
        conf.write_text("screen:\n  backend: auto\n")
        proc = subprocess.run([sys.executable, "-m", "agent.cli", "replay",
                               str(script(tmp_path, [{"action": "key", "keys": ["enter"]}])), "--config", str(conf),
                               "--trace-dir", str(tmp_path / "traces")], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)
    assert proc.returncode == 1 and "terminal_enter" in proc.stdout, proc.stdout + proc.stderr
    assert "window information needs X11" in proc.stdout
    time.sleep(0.3)
    assert not any(e["e"] == "key" and e["name"] == "Return" for e in first.events()[mark:])


def test_record_says_in_one_line_that_it_needs_x11(sway: HeadlessSway, tmp_path: Path) -> None:
    record_is_refused_in_one_line(sway.env(), "wlroots", tmp_path)


def test_sigterm_stops_a_wayland_run(sway: HeadlessSway, apps: tuple, tmp_path: Path) -> None:
    """The fallback the startup line names: SIGTERM ends the run as cancelled, before its next step."""
    sigterm_stops_a_run(sway.env(), "wlroots", apps[0], tmp_path)


def test_the_demo_inside_a_wayland_session_stays_on_its_own_x_display(sway: HeadlessSway, apps: tuple,
                                                                      tmp_path: Path) -> None:
    from agent.sandbox.xvfb import available

    if available() is not None:
        pytest.skip(f"the demo needs Xvfb: {available()}")
    first, second = apps
    marks = first.mark(), second.mark()
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "demo", "--trace-dir", str(tmp_path / "t")],
                          capture_output=True, text=True, env=sway.env() | {"PYTHONPATH": str(REPO_ROOT)},
                          cwd=tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert read_trace(next((tmp_path / "t").iterdir())).header.extra.get("backend") == "x11"
    assert not [e for e in first.events()[marks[0]:] if e["e"] in ("press", "key")]
    assert not [e for e in second.events()[marks[1]:] if e["e"] in ("press", "key")]


def test_every_corner_pixel_and_latency(sway: HeadlessSway, apps: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sway.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DISPLAY", raising=False)
    from actions.geometry import to_desktop
    from actions.wayland.computer import WlrootsComputer

    clicks: list[float] = []
    calls: list[float] = []
    captures: list[float] = []
    for index, app in enumerate(apps, 1):
        computer = WlrootsComputer(index)
        try:
            shot = computer.screenshot()
            w, h = shot.size
            for point in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1), (w // 2, h // 2)):
                mark = app.mark()
                started = time.perf_counter()
                computer.click(to_desktop(point, shot.monitor, shot.scale), "left", 1)
                calls.append((time.perf_counter() - started) * 1000)
                app.wait_for(lambda e, p=point: e["e"] == "press" and (e["x"], e["y"]) == p, mark)
                clicks.append((time.perf_counter() - started) * 1000)
            for _ in range(10):
                started = time.perf_counter()
                computer.screenshot()
                captures.append((time.perf_counter() - started) * 1000)
        finally:
            computer.close()
    print(f"\nwlroots: capture median {statistics.median(captures):.1f} ms (1280x800 and 800x600), "
          f"click call (move + press + release, each acknowledged by a round trip) median "
          f"{statistics.median(calls):.1f} ms, click to the app's logged event median "
          f"{statistics.median(clicks):.1f} ms (polled every 20 ms)")


def test_monitor_0_joins_the_outputs(sway: HeadlessSway, apps: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """screen.monitor: 0, as mss's monitor 0 on X11: one canvas of the layout's bounding box; each output's
    pixels where it sits, black where none is; a click anywhere reaches the output under it."""
    for key, value in sway.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DISPLAY", raising=False)
    from actions.geometry import to_desktop
    from actions.wayland.computer import WlrootsComputer

    joined, second = WlrootsComputer(0), WlrootsComputer(2)
    try:
        shot, alone = joined.screenshot(), second.screenshot()
        assert shot.size == (2080, 800) and (shot.monitor.left, shot.monitor.top) == (0, 0)
        pixels = shot.pixels()
        same = pixels[200:800, 1280:2080] == alone.pixels()  # the second output, where it sits: the same
        same[-24:, -24:] = True  # but the probe's last-event corner, which an input device's arrival repaints
        assert same.all()
        assert not (pixels[:200, 1280:] & 0xFFFFFF).any()  # above it no output: black
        for point, index, want in (((0, 0), 0, (0, 0)), ((1279, 799), 0, (1279, 799)), ((1280, 200), 1, (0, 0)),
                                   ((2079, 799), 1, (799, 599)), ((1700, 500), 1, (420, 300))):
            app = apps[index]
            mark = app.mark()
            joined.click(to_desktop(point, shot.monitor, shot.scale), "left", 1)
            got = app.wait_for(lambda e: e["e"] == "press" and e["n"] == 1, mark)
            assert (got["x"], got["y"]) == want, point
    finally:
        joined.close()
        second.close()
