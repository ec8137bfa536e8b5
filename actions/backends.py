"""Which desktop backend drives this session: X11, wlroots (sway, Hyprland…) or GNOME.

`choose_backend` turns `screen.backend` (auto|x11|wlroots|gnome) and the session's environment (passed
in, never read here) into a backend name, or raises `NoBackend` with one line that says what this
session is and what to do instead. `auto` prefers native Wayland when WAYLAND_DISPLAY is set (X11
tools under XWayland see a black screen and reach only XWayland windows), and recognises wlroots by
the protocols its compositor offers, GNOME by its name (XDG_CURRENT_DESKTOP), mutter's gtk_shell1 or
mutter's RemoteDesktop service on the session bus. Choosing gnome checks what it needs (jeepney, the
session bus, mutter's or the portal's RemoteDesktop). Not for: building the computer (agent.run.runner).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from actions.errors import DeskpilotError

BackendName = Literal["x11", "wlroots", "gnome"]
GNOME_SERVICES = ("org.gnome.Mutter.RemoteDesktop", "org.freedesktop.portal.Desktop")
GNOME_INSTEAD = "; or log in to 'GNOME on Xorg' where offered"


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
        _check_gnome(env)
        return "gnome"
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
        _check_gnome(env)
        return "gnome"
    if "kde" in desktop or "plasma" in desktop or (globals_ is not None and "org_kde_kwin_fake_input" in globals_):
        raise NoBackend("KDE Wayland: not supported yet; log in to 'Plasma (X11)' where offered, or run a wlroots "
                        "compositor (sway)")
    if problem is not None:
        raise NoBackend(problem)
    if _gnome_problem(env, GNOME_SERVICES[:1]) is None:  # mutter's own remote desktop answers on the bus
        return "gnome"
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


def _check_gnome(env: Mapping[str, str]) -> None:
    problem = _gnome_problem(env)
    if problem is not None:
        raise NoBackend(f"GNOME Wayland: the gnome backend {problem}{GNOME_INSTEAD}")


def _gnome_problem(env: Mapping[str, str], services: tuple[str, ...] = GNOME_SERVICES) -> str | None:
    """Why the gnome backend cannot start in this session (jeepney, the bus, one of `services`), or None."""
    address = env.get("DBUS_SESSION_BUS_ADDRESS", "")
    if not address:
        return "needs the D-Bus session bus, and DBUS_SESSION_BUS_ADDRESS is not set"
    from actions.gnome.bus import Bus, GnomeUnavailable

    try:
        bus = Bus(address)
    except GnomeUnavailable as exc:
        return f"cannot start: {exc}".replace("the gnome backend needs", "needs")
    try:
        if not any(bus.has_name(name) for name in services):
            return ("finds neither mutter's RemoteDesktop (org.gnome.Mutter.RemoteDesktop) nor xdg-desktop-portal "
                    "on the session bus")
        return None
    except Exception as exc:  # the bus hung up or refused the call
        return f"cannot ask the session bus: {exc}"
    finally:
        bus.close()
