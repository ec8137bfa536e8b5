"""Choosing a desktop backend from the session, and the one line a session without one gets (no compositor
needed: an absent Wayland socket or a named desktop is enough). Also: the committed pywayland bindings are
exactly what the generator makes from the shipped protocol XML, and keymaps hold what a text needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actions.backends import NoBackend, choose_backend
from actions.wayland.xkb import MAX_SYMBOLS, build_keymap, chunks, keysym

ROOT = Path(__file__).resolve().parents[3]


def test_explicit_and_x11_sessions() -> None:
    assert choose_backend("x11", {"WAYLAND_DISPLAY": "wayland-0"}) == "x11"
    assert choose_backend("wlroots", {}) == "wlroots"
    assert choose_backend("auto", {"DISPLAY": ":0"}) == "x11"
    assert choose_backend("auto", {}) == "x11"  # no session at all: the X11 executor names the problem


@pytest.mark.parametrize(("desktop", "fragment"), [
    ("KDE", "KDE Wayland: not supported yet"),
    ("GNOME", "GNOME Wayland: the gnome backend"),
    ("ubuntu:GNOME", "GNOME Wayland"),
])
def test_unsupported_wayland_desktops_get_one_line(desktop: str, fragment: str, tmp_path: Path) -> None:
    env = {"WAYLAND_DISPLAY": str(tmp_path / "no-such-socket"), "XDG_CURRENT_DESKTOP": desktop}
    with pytest.raises(NoBackend, match=fragment) as info:
        choose_backend("auto", env)
    assert "\n" not in str(info.value)
    with pytest.raises(NoBackend, match="GNOME"):
        choose_backend("gnome", {})


def test_an_unreachable_wayland_session_says_so(tmp_path: Path) -> None:
    pytest.importorskip("pywayland")
    with pytest.raises(NoBackend, match="cannot connect to the Wayland display"):
        choose_backend("auto", {"WAYLAND_DISPLAY": str(tmp_path / "gone"), "XDG_CURRENT_DESKTOP": "Hyprland"})


@pytest.mark.parametrize("desktop", ["KDE", "GNOME"])
def test_the_cli_prints_the_startup_line(tmp_path: Path, desktop: str) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("steps:\n  - {action: wait, time: 0}\n")
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"} | {
        "WAYLAND_DISPLAY": str(tmp_path / "no-socket"), "XDG_CURRENT_DESKTOP": desktop, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "agent.cli", "replay", str(script), "--trace-dir", str(tmp_path / "t")]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{desktop} Wayland" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_committed_bindings_match_a_fresh_generation() -> None:
    pytest.importorskip("pywayland")
    from actions.wayland.generate import GENERATED, render

    for name, text in render().items():
        assert (GENERATED / name).read_text() == text, f"{name} is stale: run python -m actions.wayland.generate"


def test_keymaps_hold_the_text_and_the_modifiers() -> None:
    keymap = build_keymap(["é", "中", "enter", "a"])
    assert {"shift", "ctrl", "alt", "super", "é", "中", "enter", "a"} <= set(keymap.keycodes)
    assert len(set(keymap.keycodes.values())) == len(keymap.keycodes)
    assert "U00E9" in keymap.text and "U4E2D" in keymap.text and "Return" in keymap.text
    assert "modifier_map Control" in keymap.text and keysym("\n") == "Return" and keysym("f12") == "F12"
    text = "".join(chr(0x4E00 + i) for i in range(MAX_SYMBOLS + 10))
    pieces = chunks(text)
    assert "".join(pieces) == text and len(pieces) == 2
    assert all(len(set(p)) + 4 <= MAX_SYMBOLS for p in pieces)


def test_a_sway_session_without_pywayland_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pywayland", None)  # import pywayland now raises ImportError
    monkeypatch.setitem(sys.modules, "pywayland.client", None)
    with pytest.raises(NoBackend, match=r"pip install 'deskpilot\[wayland\]'"):
        choose_backend("auto", {"WAYLAND_DISPLAY": "wayland-1", "XDG_CURRENT_DESKTOP": "sway"})
