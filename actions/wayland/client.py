"""One connection to a wlroots compositor: its globals, its outputs and their layout.

pywayland is imported here, lazily (`WaylandUnavailable` names the extra to install). Not thread-safe
on its own: the computer serialises every call through one lock. Not for: capture or input (see
`capture` and `inputs`), or choosing a backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actions.errors import DeskpilotError

WLROOTS_GLOBALS = ("zwlr_screencopy_manager_v1", "zwlr_virtual_pointer_manager_v1",
                   "zwp_virtual_keyboard_manager_v1")


class WaylandUnavailable(DeskpilotError, RuntimeError):
    """No Wayland connection, no pywayland, or a compositor without the protocols we need."""


def import_pywayland() -> Any:
    try:
        import pywayland.client
    except ImportError as exc:
        raise WaylandUnavailable("the wayland backend needs pywayland: pip install 'deskpilot[wayland]'") from exc
    return pywayland.client


@dataclass
class Output:
    """One wl_output as announced: position (logical), mode size (physical pixels), scale."""

    proxy: Any
    name: str = ""
    x: int = 0
    y: int = 0
    width: int = 0
    height: int = 0
    scale: int = 1
    logical_size: tuple[int, int] | None = None  # from xdg-output where offered (fractional scales)

    @property
    def logical(self) -> tuple[int, int, int, int]:
        width, height = self.logical_size or (self.width // self.scale, self.height // self.scale)
        return self.x, self.y, width, height


@dataclass
class Connection:
    """The display, the globals the compositor offers, and the bound objects we use."""

    display: Any
    registry: Any
    globals: dict[str, tuple[int, int]] = field(default_factory=dict)
    outputs: list[Output] = field(default_factory=list)
    bound: dict[str, Any] = field(default_factory=dict)

    def bind(self, name: str, interface: Any, version: int = 1) -> Any:
        if name not in self.bound:
            if name not in self.globals:
                raise WaylandUnavailable(f"the compositor does not offer {name}")
            gid, offered = self.globals[name]
            self.bound[name] = self.registry.bind(gid, interface, min(version, offered))
        return self.bound[name]

    def layout(self) -> tuple[int, int, int, int]:
        """The bounding box of all outputs in logical coordinates: left, top, width, height."""
        boxes = [o.logical for o in self.outputs]
        left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
        right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
        return left, top, right - left, bottom - top

    def close(self) -> None:
        try:
            self.display.disconnect()
        except Exception:  # already gone; nothing to release
            pass


def connect(name: str | None = None) -> Connection:
    """Connect to `name` (None: $WAYLAND_DISPLAY as libwayland reads it) and learn its globals and outputs."""
    client = import_pywayland()
    from pywayland.protocol.wayland import WlOutput

    display = client.Display(name)
    try:
        display.connect()
    except Exception as exc:  # pywayland raises ValueError when the socket is missing
        where = name or "(WAYLAND_DISPLAY)"
        raise WaylandUnavailable(f"cannot connect to the Wayland display {where}: {exc}") from None
    registry = display.get_registry()
    conn = Connection(display, registry)

    def on_global(registry: Any, gid: int, interface: str, version: int) -> None:
        conn.globals.setdefault(interface, (gid, version))
        if interface == "wl_output":
            output = Output(registry.bind(gid, WlOutput, min(version, 4)))
            _watch_output(output)
            conn.outputs.append(output)

    registry.dispatcher["global"] = on_global
    display.roundtrip()
    display.roundtrip()  # the outputs' geometry, mode and scale events
    if "zxdg_output_manager_v1" in conn.globals:  # wl_output's geometry x, y is 0 on wlroots: ask xdg-output
        from pywayland.protocol.xdg_output_unstable_v1 import ZxdgOutputManagerV1

        manager = conn.bind("zxdg_output_manager_v1", ZxdgOutputManagerV1, 3)
        for output in conn.outputs:
            _watch_xdg_output(output, manager.get_xdg_output(output.proxy))
        display.roundtrip()
    conn.outputs.sort(key=lambda o: (o.x, o.y))
    return conn


def _watch_output(output: Output) -> None:
    proxy = output.proxy

    def geometry(_p: Any, x: int, y: int, *_rest: Any) -> None:
        output.x, output.y = x, y

    def mode(_p: Any, flags: int, width: int, height: int, _refresh: int) -> None:
        if flags & 1:  # the current mode
            output.width, output.height = width, height

    def scale(_p: Any, factor: int) -> None:
        output.scale = max(1, factor)

    def name(_p: Any, value: str) -> None:
        output.name = value

    proxy.dispatcher["geometry"] = geometry
    proxy.dispatcher["mode"] = mode
    proxy.dispatcher["scale"] = scale
    proxy.dispatcher["name"] = name


def _watch_xdg_output(output: Output, xdg: Any) -> None:
    def position(_p: Any, x: int, y: int) -> None:
        output.x, output.y = x, y

    def size(_p: Any, width: int, height: int) -> None:
        output.logical_size = (width, height)

    xdg.dispatcher["logical_position"] = position
    xdg.dispatcher["logical_size"] = size
