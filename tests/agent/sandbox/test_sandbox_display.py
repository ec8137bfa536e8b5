"""Real X11 input (xdotool) against the sandbox app under a private Xvfb; skipped without Xvfb/xdotool."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from display_helpers import (
    SandboxProcess,
    XDoTool,
    launch_sandbox,
    mss_monitors,
    private_xvfb,  # pytest puts tests/ (no __init__.py) on sys.path
    rect_center,
)

from agent.sandbox.xvfb import Xvfb

pytestmark = pytest.mark.display

LaunchApp = Callable[..., SandboxProcess]
PARKED_POINTER = (1270, 790)  # bottom-right corner of the 1280x800 display, outside the app


@pytest.fixture(scope="session")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb()


@pytest.fixture
def xdo(xvfb: Xvfb) -> XDoTool:
    return XDoTool(xvfb.env())


@pytest.fixture
def launch_app(tmp_path: Path) -> Iterator[LaunchApp]:
    """Factory: ``launch_app(display_env, geometry=...)``; every app started is stopped afterwards."""
    started: list[SandboxProcess] = []

    def _launch(env: dict[str, str], **kwargs: str) -> SandboxProcess:
        app = launch_sandbox(env, tmp_path / f"state{len(started)}.json", **kwargs)
        started.append(app)
        return app

    yield _launch
    for app in started:
        assert app.stop() == 0, app.stderr_tail()


@pytest.fixture
def app(xvfb: Xvfb, xdo: XDoTool, launch_app: LaunchApp) -> SandboxProcess:
    xdo.move(*PARKED_POINTER)
    return launch_app(xvfb.env())


def test_left_click_button(app: SandboxProcess, xdo: XDoTool) -> None:
    x, y = app.center("ok_button")
    xdo.click(x, y)
    state = app.wait_for(lambda s: s["ok_clicks"] == 1, what="ok_clicks == 1")
    assert state["last_click"] == [x, y, 1]


def test_middle_click(app: SandboxProcess, xdo: XDoTool) -> None:
    xdo.click(*app.center("middle_target"), button=2)
    app.wait_for(lambda s: s["middle_clicks"] == 1, what="middle_clicks == 1")


def test_typing_ascii_and_unicode_then_triple_click_selects_all(app: SandboxProcess, xdo: XDoTool) -> None:
    entry = app.center("entry")
    xdo.click(*entry)
    app.wait_for(lambda s: s["focus"] == "entry", what="entry focused")
    xdo.type("Hello, world! ")
    xdo.type("é ü 中文")
    expected = "Hello, world! é ü 中文"
    app.wait_for(lambda s: s["entry"] == expected, what=f"entry == {expected!r}")
    xdo.click(*entry, repeat=3)
    app.wait_for(lambda s: s["entry_selection"] == expected, what="whole entry selected")


def test_typing_emoji_non_bmp(app: SandboxProcess, xdo: XDoTool) -> None:
    """xdotool sends keysym 0x1000000+codepoint; Tk 8.6.13 + Python 3.11 tkinter round-trips it intact."""
    xdo.click(*app.center("entry"))
    xdo.type("a😀b 🎉")
    app.wait_for(lambda s: s["entry"] == "a😀b 🎉", what="emoji typed")
    xdo.click(*app.center("entry"), repeat=3)
    state = app.wait_for(lambda s: s["entry_selection"] == "a😀b 🎉", what="emoji text selected")
    assert state["last_key"] == "U0001F389"


def test_checkbox_toggles(app: SandboxProcess, xdo: XDoTool) -> None:
    check = app.center("check")
    xdo.click(*check)
    app.wait_for(lambda s: s["checked"] is True, what="checked")
    xdo.click(*check)
    app.wait_for(lambda s: s["checked"] is False, what="unchecked")


def test_wheel_scrolls_listbox(app: SandboxProcess, xdo: XDoTool) -> None:
    x, y = app.center("listbox")
    xdo.wheel(x, y, button=5)
    state = app.wait_for(lambda s: s["list_top"] > 0, what="listbox scrolled down")
    xdo.wheel(x, y, button=4, notches=3)
    app.wait_for(lambda s: s["list_top"] == 0, what="listbox back at top")
    xdo.click(x, app.widget("listbox")[1] + 8)
    app.wait_for(lambda s: s["list_selected"] == "item 0", what="item 0 selected")
    assert state["list_top"] == 5  # Tk 8.6 scrolls 5 rows per wheel notch


def test_horizontal_wheel_scrolls_text(app: SandboxProcess, xdo: XDoTool) -> None:
    x, y = app.center("hscroll_target")
    xdo.wheel(x, y, button=7, notches=2)
    state = app.wait_for(lambda s: s["hscroll_events"] == 2 and s["hscroll_left"] > 0, what="scrolled right")
    xdo.wheel(x, y, button=6, notches=2)
    app.wait_for(lambda s: s["hscroll_events"] == 4 and s["hscroll_left"] == 0.0, what="scrolled back left")
    assert state["list_top"] == 0


def test_drag_slider_and_canvas_item(app: SandboxProcess, xdo: XDoTool) -> None:
    knob = app.state()["slider_knob"]
    xdo.drag(knob, (knob[0] + 200, knob[1]))
    state = app.wait_for(
        lambda s: s["slider"] > 0 and s["slider_knob"][0] > knob[0] + 150, what="slider moved"
    )
    assert 40 <= state["slider"] <= 60, state["slider"]
    assert abs(state["slider_knob"][0] - (knob[0] + 200)) <= 3
    start, centre = state["drag_item_root"], state["drag_item"]
    xdo.drag(start, (start[0] + 150, start[1] + 20))
    app.wait_for(lambda s: s["drag_item"] == [centre[0] + 150, centre[1] + 20], what="rectangle dragged")


def test_context_menu_choose_paste(app: SandboxProcess, xdo: XDoTool) -> None:
    xdo.click(*app.center("context_target"), button=3)
    state = app.wait_for(
        lambda s: s["context_menu_visible"] and s["context_menu_entries"], what="menu posted"
    )
    assert state["context_menu_opened"] == 1
    assert list(state["context_menu_entries"]) == ["Copy", "Paste"]
    xdo.click(*rect_center(state["context_menu_entries"]["Paste"]))
    state = app.wait_for(lambda s: s["context_choice"] == "Paste", what="Paste chosen")
    app.wait_for(lambda s: not s["context_menu_visible"], what="menu closed")


def test_context_menu_closes_on_escape_and_outside_click(app: SandboxProcess, xdo: XDoTool) -> None:
    target = app.center("context_target")
    xdo.click(*target, button=3)
    app.wait_for(lambda s: s["context_menu_visible"], what="menu posted")
    xdo.key("Escape")
    app.wait_for(lambda s: not s["context_menu_visible"], what="menu closed by Escape")
    xdo.click(*target, button=3)
    app.wait_for(
        lambda s: s["context_menu_visible"] and s["context_menu_opened"] == 2, what="menu posted again"
    )
    xdo.click(*app.center("double_target"))
    state = app.wait_for(lambda s: not s["context_menu_visible"], what="menu closed by outside click")
    assert state["context_choice"] is None


def test_double_and_triple_click(app: SandboxProcess, xdo: XDoTool) -> None:
    xdo.click(*app.center("double_target"), repeat=2)
    app.wait_for(lambda s: s["double_clicks"] == 1, what="double click")
    xdo.click(*app.center("triple_target"), repeat=3)
    state = app.wait_for(lambda s: s["triple_clicks"] == 1, what="triple click")
    assert state["double_clicks"] == 1


def test_hover(app: SandboxProcess, xdo: XDoTool) -> None:
    assert app.state()["hovers"] == 0
    x, y = app.center("hover_target")
    xdo.move(x, y)
    app.wait_for(lambda s: s["hovers"] == 1 and s["pointer"] == [x, y], what="hover at pointer")


def test_ctrl_s_shortcut(app: SandboxProcess, xdo: XDoTool) -> None:
    xdo.click(*app.center("entry"))
    xdo.key("ctrl+s")
    state = app.wait_for(lambda s: s["saves"] == 1, what="ctrl+s")
    assert state["entry"] == ""  # the shortcut does not insert text
    xdo.click(*app.center("double_target"))  # focus stays in the app, shortcut works anywhere
    xdo.key("ctrl+s")
    state = app.wait_for(lambda s: s["saves"] == 2, what="second ctrl+s")
    assert state["last_key"] == "s"


def test_sigterm_exits_cleanly(app: SandboxProcess) -> None:
    assert app.stop() == 0


def test_two_monitors_seen_by_mss_and_clickable(launch_app: LaunchApp, tmp_path: Path) -> None:
    pytest.importorskip("mss")
    with Xvfb(monitors=((0, 0, 1024, 768), (1024, 0, 1280, 800))) as server:
        monitors = mss_monitors(server.display)
        assert monitors == [
            {"left": 0, "top": 0, "width": 2304, "height": 800},
            {"left": 0, "top": 0, "width": 1024, "height": 768},
            {"left": 1024, "top": 0, "width": 1280, "height": 800},
        ]
        app = launch_app(server.env(), geometry="800x600+1100+50")
        assert app.state()["window"] == [1100, 50, 800, 600]
        x, y = app.center("ok_button")
        assert x > 1024
        XDoTool(server.env()).click(x, y)
        state = app.wait_for(lambda s: s["ok_clicks"] == 1, what="click on second monitor")
        assert state["last_click"] == [x, y, 1]
        app.stop()
