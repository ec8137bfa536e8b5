"""The gnome backend end to end: the real CLI on a private headless mutter with two virtual monitors (the second
placed at offset 1280,200 through DisplayConfig), driving a native-Wayland GTK window on each.

One mutter (with its own D-Bus bus, PipeWire and WirePlumber) and one probe window per monitor for the
whole module. Proves: `auto` picks gnome; every action type lands, with Unicode text (pasted through the
session's clipboard) and shortcuts; scroll and drag; a click on the second monitor lands at the right pixel;
a trace replays with verification; the gate still denies before acting; the trace header names the
backend; record refuses in one line; SIGTERM (the fallback for the missing kill hotkey) stops a run; the
clipboard is restored after a paste. Capture and click latency medians are printed (run with -s).
Skips with a reason when mutter, PipeWire, jeepney or PyGObject with GStreamer are missing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gnome_helpers import GnomeProbe, HeadlessMutter, mutter_skip_reason
from wayland_helpers import (
    REPO_ROOT,
    every_action_lands_then_replays,
    record_is_refused_in_one_line,
    script,
    sigterm_stops_a_run,
    typed,
)

from agent.traces.store import read_trace

pytestmark = pytest.mark.skipif(mutter_skip_reason() is not None, reason=str(mutter_skip_reason()))
SIZES = ((1280, 800), (800, 600))
POSITIONS = ((0, 0), (1280, 200))


@pytest.fixture(scope="module")
def mutter() -> Iterator[HeadlessMutter]:
    m = HeadlessMutter(SIZES, POSITIONS)
    yield m
    m.close()


@pytest.fixture(scope="module")
def apps(mutter: HeadlessMutter) -> Iterator[tuple[GnomeProbe, GnomeProbe]]:
    first = GnomeProbe(mutter, 1)
    second = GnomeProbe(mutter, 2)
    yield first, second
    first.close()
    second.close()


def cli(mutter: HeadlessMutter, args: list[str], tmp_path: Path, config: str = "",
        timeout: float = 120) -> subprocess.CompletedProcess:
    conf = tmp_path / "config.yaml"
    conf.write_text(config or "screen:\n  backend: auto\n")
    return subprocess.run([sys.executable, "-m", "agent.cli", *args, "--config", str(conf)], capture_output=True,
                          text=True, env=mutter.env() | {"PYTHONPATH": str(REPO_ROOT)}, cwd=tmp_path,
                          timeout=timeout)


def replay(mutter: HeadlessMutter, target: Path, tmp_path: Path, config: str = "") -> subprocess.CompletedProcess:
    return cli(mutter, ["replay", str(target), "--trace-dir", str(tmp_path / "traces")], tmp_path, config)


def test_every_action_lands_and_the_trace_replays_verified(mutter: HeadlessMutter, apps: tuple,
                                                           tmp_path: Path) -> None:
    """Every action lands on gnome (auto picks it), the run is honest about its listeners, and its trace
    replays with verification."""
    every_action_lands_then_replays(lambda target, cwd: replay(mutter, target, cwd), apps[0], tmp_path, "gnome")


def test_the_second_monitor_with_its_offset(mutter: HeadlessMutter, apps: tuple, tmp_path: Path) -> None:
    _, second = apps
    mark = second.mark()
    steps = [{"action": "left_click", "coordinate": [50, 60]}, {"action": "double_click", "coordinate": [799, 599]},
             {"action": "type", "text": "zweiter ✓"}]
    proc = replay(mutter, script(tmp_path, steps), tmp_path, "screen:\n  backend: gnome\n  monitor: 2\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second.wait_for(lambda e: e["e"] == "paste" and e["text"] == "✓", mark)
    events = second.events()[mark:]
    presses = [(e["x"], e["y"], e["n"]) for e in events if e["e"] == "press"]
    assert (50, 60, 1) in presses and (799, 599, 2) in presses
    assert typed(events) == "zweiter ✓"
    header = read_trace(next((tmp_path / "traces").iterdir())).header
    assert header.screen.monitor == {"left": 1280, "top": 200, "width": 800, "height": 600}


def test_the_gate_stands_before_every_action(mutter: HeadlessMutter, apps: tuple, tmp_path: Path) -> None:
    first, _ = apps
    mark = first.mark()
    steps = [{"action": "left_click", "coordinate": [120, 130]}, {"action": "left_click", "coordinate": [5000, 5000]},
             {"action": "left_click", "coordinate": [140, 150]}]
    proc = replay(mutter, script(tmp_path, steps), tmp_path)
    assert proc.returncode == 1 and "denied" in proc.stdout, proc.stdout + proc.stderr
    first.wait_for(lambda e: e["e"] == "press" and (e["x"], e["y"]) == (120, 130), mark)
    time.sleep(0.3)  # a click that wrongly went through would have arrived by now (clicks land in a few ms)
    assert not any(e["e"] == "press" and (e["x"], e["y"]) == (140, 150) for e in first.events()[mark:])


def test_record_says_in_one_line_that_it_needs_x11(mutter: HeadlessMutter, tmp_path: Path) -> None:
    record_is_refused_in_one_line(mutter.env(), "gnome", tmp_path)


def test_sigterm_stops_a_gnome_run(mutter: HeadlessMutter, apps: tuple, tmp_path: Path) -> None:
    """No kill hotkey on GNOME Wayland: SIGTERM, the fallback the startup line names, cancels the run."""
    sigterm_stops_a_run(mutter.env(), "gnome", apps[0], tmp_path)


def test_clipboard_is_restored_after_pasting(mutter: HeadlessMutter, apps: tuple,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """What the user had on the clipboard is there again after é was pasted, and still there once deskpilot's
    session has ended (mutter's clipboard manager keeps a copy of what the session restored)."""
    for key, value in mutter.env().items():
        monkeypatch.setenv(key, value)
    from actions.gnome.start import open_computer

    first, _ = apps
    owner = open_computer(1, "mutter")
    owner.clipboard().offer_text("before")  # someone copied "before", then quit: mutter keeps a copy
    owner.close()
    reader = open_computer(1, "mutter")
    try:
        mark = first.mark()
        reader.click((20, 20), "left", 1)
        reader.type_text("é")
        first.wait_for(lambda e: e["e"] == "paste" and e["text"] == "é", mark)
    finally:
        reader.close()
    checker = open_computer(1, "mutter")
    try:
        assert checker.clipboard().read_text() == "before"
    finally:
        checker.close()


def test_capture_and_click_latency(mutter: HeadlessMutter, apps: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in mutter.env().items():
        monkeypatch.setenv(key, value)
    from actions.geometry import to_desktop
    from actions.gnome.start import open_computer

    first, _ = apps
    computer = open_computer(1, "mutter")
    calls, clicks, grabs, frames = [], [], [], []
    try:
        shot = computer.screenshot()
        w, h = shot.size
        points = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1), (w // 2, h // 2)] * 4
        for point in points:
            mark = first.mark()
            computer._capture.wait_frame(0)  # drop a pending frame: the next one shows this click's effect
            started = time.perf_counter()
            computer.click(to_desktop(point, shot.monitor, shot.scale), "left", 1)
            calls.append((time.perf_counter() - started) * 1000)
            first.wait_for(lambda e, p=point: e["e"] == "press" and (e["x"], e["y"]) == p, mark)
            clicks.append((time.perf_counter() - started) * 1000)
            if computer._capture.wait_frame(2.0) is not None:  # the repaint (corner indicator) as a frame
                frames.append((time.perf_counter() - started) * 1000)
        for _ in range(20):
            started = time.perf_counter()
            computer.screenshot()
            grabs.append((time.perf_counter() - started) * 1000)
    finally:
        computer.close()
    assert frames, "no frame followed a click"
    print(f"\ngnome (mutter): screenshot() median {statistics.median(grabs):.3f} ms (newest frame of the running "
          f"stream, 1280x800), click call (move + press + release sent as one burst, ending in a D-Bus round trip) "
          f"median "
          f"{statistics.median(calls):.1f} ms, click to the app's logged event median "
          f"{statistics.median(clicks):.1f} ms (polled every 20 ms), click to a frame showing its repaint "
          f"median {statistics.median(frames):.1f} ms")


@pytest.mark.parametrize("desktop", ["", "GNOME", "ubuntu:GNOME"])
def test_auto_picks_gnome(mutter: HeadlessMutter, desktop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """By the desktop's name, or unnamed by mutter's gtk_shell1 global (the Wayland socket is mutter's)."""
    from actions.backends import choose_backend

    monkeypatch.setenv("XDG_RUNTIME_DIR", mutter.env()["XDG_RUNTIME_DIR"])  # where libwayland finds the socket
    env = mutter.env() | ({"XDG_CURRENT_DESKTOP": desktop} if desktop else {})
    assert choose_backend("auto", env) == "gnome"


def test_the_early_check_probes_without_opening_a_session(mutter: HeadlessMutter,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`deskpilot run` checks the desktop before loading a model; on GNOME that must not open a session (on a
    portal it would show the consent dialog a second time), yet must name what is missing."""
    from actions.gnome.bus import GnomeUnavailable
    from actions.gnome.start import probe

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", mutter.env()["DBUS_SESSION_BUS_ADDRESS"])
    assert probe("mutter") == "mutter"
    with pytest.raises(GnomeUnavailable, match="no RemoteDesktop portal"):
        probe("portal")


def test_monitor_0_joins_the_monitors(mutter: HeadlessMutter, apps: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """screen.monitor: 0 records the layout's bounding box (RecordArea): each monitor where it sits, black
    where none is; a click anywhere reaches the window under it."""
    for key, value in mutter.env().items():
        monkeypatch.setenv(key, value)
    from actions.geometry import to_desktop
    from actions.gnome.start import open_computer

    computer = open_computer(0, "mutter")
    try:
        shot = computer.screenshot()
        assert shot.size == (2080, 800) and (shot.monitor.left, shot.monitor.top) == (0, 0)
        assert not (shot.pixels()[:200, 1280:] & 0xFFFFFF).any()  # above the second monitor: none
        for point, index, want in (((0, 0), 0, (0, 0)), ((1279, 799), 0, (1279, 799)), ((1280, 200), 1, (0, 0)),
                                   ((2079, 799), 1, (799, 599)), ((1700, 500), 1, (420, 300))):
            app = apps[index]
            mark = app.mark()
            computer.click(to_desktop(point, shot.monitor, shot.scale), "left", 1)
            got = app.wait_for(lambda e: e["e"] == "press" and e["n"] == 1, mark)
            assert (got["x"], got["y"]) == want, point
            time.sleep(0.5)  # past the double-click time
    finally:
        computer.close()
