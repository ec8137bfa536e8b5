"""xterm and galculator, the other two real applications CI installs, under openbox on a private Xvfb.

* xterm: every printable ASCII character and a Unicode sample typed by both executors into `cat > FILE`
  under each layout of the layouts x executors matrix (tests/actions/test_x11_input_display.py types the
  same texts into the Tk sandbox): the bytes on disk must be exactly the text, UTF-8. One xterm (a shell)
  serves the module; the command line itself is typed under the layout being tested too.
* galculator: clicks on its buttons, through the runner with either executor, compute 12 × 34 − 5; the
  result is read back from the X clipboard after its Ctrl+C (its display is a GTK label: no other way to
  read it without AT-SPI).
"""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from realapps_helpers import Desktop, app_skip_reason, wait_until

from actions.schema import parse_action
from agent.config import load_settings
from agent.run.runner import execute
from agent.sandbox.launch import pointing_at
from policies.scripted.policy import ScriptedPolicy

LAYOUTS = {"us": ["-layout", "us"], "us(pc105)": ["-model", "pc105", "-layout", "us"], "de": ["-layout", "de"],
           "fr": ["-layout", "fr"], "ru": ["-layout", "ru"]}  # as in tests/actions/test_x11_input_display.py
EXECUTORS = ("pyautogui", "pynput")
PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
UNICODE_SAMPLE = "é ü ß 中文 ✓ Zoë Łódź Ἀθῆναι"

pytestmark = pytest.mark.display


@pytest.fixture(scope="module")
def desk() -> Iterator[Desktop]:
    reason = app_skip_reason("setxkbmap")
    if reason:
        pytest.skip(reason)
    d = Desktop((1280, 800))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", d.display)  # pyautogui and pynput connect to $DISPLAY
        patch.delenv("WAYLAND_DISPLAY", raising=False)
        yield d
    gc.collect()  # pynput's controllers close their connections when collected: while the Xvfb is up
    d.close()


@pytest.fixture(scope="module")
def xterm(desk: Desktop) -> Iterator[int]:
    if reason := app_skip_reason("xterm"):
        pytest.skip(reason)
    proc = desk.launch(["xterm", "-u8", "-title", "deskpilot-xterm", "-geometry", "120x30+0+0",
                        "-e", "env", "PS1=$ ", "sh"])
    window = desk.window(name="deskpilot-xterm", timeout=30)
    yield window
    desk.stop(proc)
    subprocess.run(["setxkbmap", "-option", "", "-layout", "us"], env=desk.env(), check=False, timeout=20)


def computer(backend: str, desk: Desktop) -> Any:
    from actions.capture import MssCapture

    capture = MssCapture(display=desk.display)
    if backend == "pynput":
        from actions.pynput_computer import PynputComputer

        return PynputComputer(capture)
    from actions.pyautogui_computer import PyAutoGuiComputer

    return PyAutoGuiComputer(capture)


@pytest.mark.parametrize("backend", EXECUTORS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_xterm_gets_every_character_exactly(desk: Desktop, xterm: int, layout: str, backend: str,
                                            tmp_path: Path) -> None:
    subprocess.run(["setxkbmap", "-option", "", *LAYOUTS[layout]], env=desk.env(), check=True, timeout=20)
    desk.xdotool("windowactivate", "--sync", xterm, check=False)
    target = tmp_path / "typed.txt"
    text = f"{PRINTABLE_ASCII}\n{UNICODE_SAMPLE}\n"
    c = computer(backend, desk)
    try:
        c.type_text(f"cat > {target}\n")
        wait_until(target.exists, 10, "cat to create the file")
        c.type_text(text)
        c.key(("ctrl", "d"))  # end of input: cat writes what it has and exits
        wait_until(lambda: target.read_bytes() == text.encode(), 10,
                   f"the typed text in {target} (has {target.read_bytes()!r})")
    finally:
        c.close()


def clipboard(desk: Desktop) -> str:
    """The X CLIPBOARD's text (Tk asks its owner for it)."""
    code = "import tkinter as t; r = t.Tk(); r.withdraw(); print(r.clipboard_get(), end='')"
    result = subprocess.run([sys.executable, "-c", code], env=desk.env(), capture_output=True, text=True, timeout=20)
    return result.stdout


# galculator 2.1 (GTK 3, Debian) in its basic mode, at the size it opens with (331 x 343): the centre of each
# button used, from the top left of its window as xdotool reports it (measured on a screenshot)
BUTTONS = {"1": (33, 259), "2": (99, 259), "3": (164, 259), "4": (33, 219), "5": (99, 219), "*": (229, 219),
           "-": (229, 259), "=": (294, 279), "AC": (240, 94)}


@pytest.fixture
def galculator(desk: Desktop) -> Iterator[int]:
    if reason := app_skip_reason("galculator"):
        pytest.skip(reason)
    proc = desk.launch(["galculator"])
    try:
        yield desk.window(cls="galculator", timeout=30)
    finally:
        desk.stop(proc)


@pytest.mark.parametrize("backend", EXECUTORS)
def test_galculator_computes_what_its_buttons_were_clicked_for(desk: Desktop, galculator: int, backend: str,
                                                               tmp_path: Path) -> None:
    desk.xdotool("windowmove", "--sync", galculator, 700, 100)  # all of it on the screen, away from xterm
    desk.xdotool("windowactivate", "--sync", galculator, check=False)
    seen: list[tuple[int, int, int, int]] = []

    def moved() -> tuple[int, int, int, int] | None:  # at the new place (inside its frame), and staying there
        seen.append(desk.geometry(galculator))
        return seen[-1] if len(seen) > 1 and seen[-1] == seen[-2] and 700 <= seen[-1][0] < 760 else None

    left, top, width, height = wait_until(moved, 10, "galculator to move", poll=0.1)
    assert (width, height) == (331, 343), "galculator opened at another size: BUTTONS no longer fit"
    steps = [{"action": "left_click", "coordinate": [left + BUTTONS[b][0], top + BUTTONS[b][1]]}
             for b in ("AC", "1", "2", "*", "3", "4", "-", "5", "=")]  # 12 × 34 − 5
    steps.append({"action": "key", "keys": ["ctrl", "c"]})
    settings = load_settings(None, {"trace.dir": str(tmp_path), "safety.limits.max_actions_per_minute": 0,
                                    "executor.backend": backend})
    with pointing_at(desk.display):
        report = execute("compute 12 × 34 − 5", ScriptedPolicy([parse_action(s) for s in steps]), settings)
    assert report.result.status == "success", report.result.reason
    assert wait_until(lambda: clipboard(desk).strip() == "403", 10, "the result on the clipboard")
