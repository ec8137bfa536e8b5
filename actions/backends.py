"""Which desktop backend drives this session: X11, wlroots (sway, Hyprland…) or GNOME.

`choose_backend` turns `screen.backend` (auto|x11|wlroots|gnome) and the session's environment (passed
in, never read here) into a backend name, or raises `NoBackend` with one line that says what this
session is and what to do instead. `auto` prefers native Wayland when WAYLAND_DISPLAY is set (X11
tools under XWayland see a black screen and reach only XWayland windows), and recognises wlroots by
the protocols its compositor offers. Not for: building the computer (agent.run.runner does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from actions.errors import DeskpilotError

BackendName = Literal["x11", "wlroots", "gnome"]
GNOME_UNAVAILABLE = ("GNOME Wayland: the gnome backend (mutter RemoteDesktop + ScreenCast) is not available in "
                     "this version; log in to 'GNOME on Xorg' where offered, or use a wlroots compositor (sway)")


class NoBackend(DeskpilotError, RuntimeError):
    """This session has no backend deskpilot can drive; the message is one line."""


def desktop_name(env: Mapping[str, str]) -> str:
    return env.get("XDG_CURRENT_DESKTOP", "") or env.get("XDG_SESSION_DESKTOP", "") or env.get("DESKTOP_SESSION", "")


def choose_backend(requested: str, env: Mapping[str, str]) -> BackendName:
    """The backend to use: `requested`, or for `auto` the one this session offers."""
    if requested == "x11":
        return "x11"
    if requested == "wlroots":
        return "wlroots"
    if requested == "gnome":
        raise NoBackend(GNOME_UNAVAILABLE)
    if not env.get("WAYLAND_DISPLAY"):
        return "x11"  # an X11 session, or none at all: the X11 executor says which
    return _wayland_backend(env)


def _wayland_backend(env: Mapping[str, str]) -> BackendName:
    desktop = desktop_name(env).lower()
    globals_, problem = _offered_globals(env["WAYLAND_DISPLAY"])
    from actions.wayland.client import WLROOTS_GLOBALS

    if globals_ is not None and all(g in globals_ for g in WLROOTS_GLOBALS):
        return "wlroots"
    if "gnome" in desktop or (globals_ is not None and "gtk_shell1" in globals_):
        raise NoBackend(GNOME_UNAVAILABLE)
    if "kde" in desktop or "plasma" in desktop or (globals_ is not None and "org_kde_kwin_fake_input" in globals_):
        raise NoBackend("KDE Wayland: not supported yet; log in to 'Plasma (X11)' where offered, or run a wlroots "
                        "compositor (sway)")
    if problem is not None:
        raise NoBackend(problem)
    name = desktop or "this Wayland compositor"
    raise NoBackend(f"{name}: offers neither wlroots' screencopy and virtual input protocols nor GNOME's remote "
                    "desktop; run an X11 session or a wlroots compositor (sway, Hyprland, river, labwc)")


def _offered_globals(display: str) -> tuple[frozenset[str] | None, str | None]:
    """The globals the compositor offers, or None and why they could not be read."""
    from actions.wayland.client import WaylandUnavailable, connect

    try:
        conn = connect(display)
    except WaylandUnavailable as exc:
        return None, f"Wayland session ({display}): {exc}"
    try:
        return frozenset(conn.globals), None
    finally:
        conn.close()
