"""Both executors type exactly, press the keys named and click every pixel, on a private Xvfb with real layouts.

One Xvfb and one sandbox app (covering the whole screen, so the corner pixels are its own) per module;
each test sets the keyboard layout it needs with setxkbmap. The app writes its entry's text, the last
key's keysym, its Ctrl+S count and the last click to JSON, which the tests read back.
"""

from __future__ import annotations

import gc
import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from display_helpers import SandboxProcess, display_skip_reason, launch_sandbox

from agent.sandbox.xvfb import Xvfb

WIDTH, HEIGHT = 1024, 768
LAYOUTS = {"us": ["-layout", "us"], "us(pc105)": ["-model", "pc105", "-layout", "us"], "de": ["-layout", "de"],
           "fr": ["-layout", "fr"], "ru": ["-layout", "ru"]}
EXECUTORS = ("pyautogui", "pynput")
PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
UNICODE_SAMPLE = "é ü ß 中文 ✓ Zoë"


def _skip_reason() -> str | None:
    return display_skip_reason() or (None if shutil.which("setxkbmap") else "setxkbmap not found (apt: x11-xkb-utils)")


pytestmark = [pytest.mark.display, pytest.mark.skipif(bool(_skip_reason()), reason=str(_skip_reason()))]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Xvfb, SandboxProcess]]:
    with Xvfb(screens=((WIDTH, HEIGHT),)) as xvfb, pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", xvfb.display)  # pyautogui and pynput connect to $DISPLAY
        state = tmp_path_factory.mktemp("x11-input") / "state.json"
        with launch_sandbox(xvfb.env(), state, geometry=f"{WIDTH}x{HEIGHT}+0+0") as app:
            yield xvfb, app


@pytest.fixture
def make_computer(desktop: tuple[Xvfb, SandboxProcess]) -> Iterator[Callable[[str], Any]]:
    built: list[Any] = []

    def make(backend: str) -> Any:
        from actions.capture import MssCapture

        capture = MssCapture(display=desktop[0].display)
        if backend == "pynput":
            from actions.pynput_computer import PynputComputer

            built.append(PynputComputer(capture))
        else:
            from actions.pyautogui_computer import PyAutoGuiComputer

            built.append(PyAutoGuiComputer(capture))
        return built[-1]

    yield make
    for computer in built:
        computer.close()
    built.clear()
    gc.collect()  # pynput's controllers close their connections when collected: while the Xvfb is up


def set_layout(xvfb: Xvfb, layout: str) -> None:
    subprocess.run(["setxkbmap", "-option", "", *LAYOUTS[layout]], env=xvfb.env(), check=True, timeout=20)


def clear_entry(computer: Any, app: SandboxProcess) -> None:
    computer.click(app.center("entry"), "left", 1)
    computer.key(("ctrl", "/"))  # Tk's select-all: Ctrl + whichever key types "/" on this layout
    computer.key(("backspace",))
    app.wait_for(lambda s: s["entry"] == "" and s["focus"] == "entry", what="an empty, focused entry")


def type_and_read(computer: Any, app: SandboxProcess, text: str) -> str:
    clear_entry(computer, app)
    computer.type_text(text)
    try:
        return str(app.wait_for(lambda s: s["entry"] == text, timeout=5, what="the typed text")["entry"])
    except AssertionError:
        return str(app.state().get("entry"))


@pytest.mark.parametrize("backend", EXECUTORS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_text_is_typed_exactly_on_every_layout(desktop: tuple[Xvfb, SandboxProcess],
                                               make_computer: Callable[[str], Any], layout: str, backend: str) -> None:
    xvfb, app = desktop
    set_layout(xvfb, layout)
    computer = make_computer(backend)
    for text in (PRINTABLE_ASCII, UNICODE_SAMPLE):
        assert type_and_read(computer, app, text) == text


@pytest.mark.parametrize("backend", EXECUTORS)
def test_a_layout_changed_during_a_run_is_followed(desktop: tuple[Xvfb, SandboxProcess],
                                                   make_computer: Callable[[str], Any], backend: str) -> None:
    xvfb, app = desktop
    computer = make_computer(backend)  # one executor for the whole run
    text = "a/z@<y.é"
    for layout in ("us", "de", "fr", "us(pc105)", "ru", "us"):
        set_layout(xvfb, layout)
        assert type_and_read(computer, app, text) == text, f"after switching to {layout}"


@pytest.mark.parametrize("backend", EXECUTORS)
@pytest.mark.parametrize(("layout", "letters"), [("fr", "aqzws"), ("de", "zys"), ("ru", "as")])
def test_shortcuts_press_the_key_that_produces_the_named_letter(
    desktop: tuple[Xvfb, SandboxProcess], make_computer: Callable[[str], Any], layout: str, letters: str,
    backend: str,
) -> None:
    xvfb, app = desktop
    set_layout(xvfb, layout)
    computer = make_computer(backend)
    computer.click(app.center("entry"), "left", 1)
    for letter in letters:
        saves = app.state()["saves"]
        computer.key(("esc",))
        app.wait_for(lambda s: s["last_key"] == "Escape", what="Escape")
        computer.key(("ctrl", letter))
        state = app.wait_for(lambda s, letter=letter: s["last_key"] == letter, what=f"ctrl+{letter} on {layout}")
        assert state["saves"] == saves + (letter == "s")


@pytest.mark.parametrize("backend", EXECUTORS)
def test_every_corner_pixel_is_clickable_and_reachable(desktop: tuple[Xvfb, SandboxProcess],
                                                       make_computer: Callable[[str], Any], backend: str) -> None:
    _, app = desktop
    computer = make_computer(backend)
    corners = [(0, 0), (WIDTH - 1, 0), (0, HEIGHT - 1), (WIDTH - 1, HEIGHT - 1)]
    for x, y in corners:
        computer.click((x, y), "left", 1)
        app.wait_for(lambda s, x=x, y=y: s["last_click"] == [x, y, 1], what=f"a click at {(x, y)}")
    for x, y in corners:
        computer.move((WIDTH // 2, HEIGHT // 2))
        computer.move((x, y))
        app.wait_for(lambda s, x=x, y=y: s["pointer"] == [x, y], what=f"the pointer at {(x, y)}")
    computer.drag((WIDTH // 2, HEIGHT // 2), (WIDTH - 1, HEIGHT - 1))
    app.wait_for(lambda s: s["pointer"] == [WIDTH - 1, HEIGHT - 1], what="a drag ending in the corner")



def test_caps_lock_does_not_change_the_case_of_typed_text(desktop: tuple[Xvfb, SandboxProcess],
                                                          make_computer: Callable[[str], Any]) -> None:
    from Xlib.display import Display

    xvfb, app = desktop
    set_layout(xvfb, "de")
    computer = make_computer("pyautogui")
    display = Display(xvfb.display)
    try:
        computer.key(("capslock",))
        assert display.screen().root.query_pointer().mask & 0x2, "Caps Lock did not turn on"
        assert type_and_read(computer, app, "aB zY ä") == "aB zY ä"
        assert display.screen().root.query_pointer().mask & 0x2, "Caps Lock was not turned back on"
    finally:
        computer.key(("capslock",))
        display.close()
