"""Helpers for tests on a private headless mutter (GNOME) and the GTK probe window on it.

What it is for:
    * ``mutter_skip_reason()``: why GNOME tests cannot run here (no mutter, pipewire, wireplumber, dbus-daemon,
      jeepney, PyGObject with GStreamer's PipeWire plugin for this Python, python3-gi with GTK), or None.
    * ``HeadlessMutter`` starts its own D-Bus session bus, PipeWire, WirePlumber and
      ``mutter --headless --virtual-monitor WxH... --wayland --no-x11`` in a runtime directory of its own;
      ``env()`` is what a client needs (the bus, WAYLAND_DISPLAY, XDG_RUNTIME_DIR, a state dir, no DISPLAY).
    * ``GnomeProbe`` runs the probe window (tests/actions/gnome/gtk_probe_gnome.py) fullscreen on a monitor.

What it is not for:
    sway (wayland_helpers.py) or X11 (display_helpers.py). It never touches the session's own bus or display.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from wayland_helpers import SYSTEM_PYTHON, ProbeApp

HERE = Path(__file__).resolve().parent
GNOME_APP = HERE / "actions" / "gnome" / "gtk_probe_gnome.py"
BINARIES = ("mutter", "pipewire", "wireplumber", "dbus-daemon")


def mutter_skip_reason() -> str | None:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return (f"{', '.join(missing)} not installed (apt-get install mutter pipewire wireplumber dbus "
                "gstreamer1.0-pipewire gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0)")
    try:
        import jeepney  # noqa: F401
    except ImportError:
        return "jeepney not installed (pip install -e '.[gnome]')"
    from actions.gnome.bus import GnomeUnavailable
    from actions.gnome.gst import import_gst

    try:
        import_gst()
    except GnomeUnavailable as exc:
        return str(exc)
    check = "import gi; gi.require_version('Gtk', '3.0')"
    if subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, check=False).returncode != 0:
        return "Debian's python3-gi with GTK 3 is not installed (apt-get install python3-gi gir1.2-gtk-3.0)"
    return None


class HeadlessMutter:
    """mutter with virtual monitors `sizes`, on a bus of its own; mutter lays them out left to right, or at
    `positions` (x, y of each, adjacent) through DisplayConfig.ApplyMonitorsConfig, which also sets a HiDPI
    `scale` (one of those mutter lists for the mode). `logical_layout`: GNOME's fractional-scaling layout
    (the experimental feature scale-monitor-framebuffer, set through a keyfile settings backend), where
    the layout is in logical pixels; without it mutter lays monitors out in physical pixels."""

    def __init__(self, sizes: Sequence[tuple[int, int]] = ((1280, 800),),
                 positions: Sequence[tuple[int, int]] | None = None, scale: float = 1.0,
                 logical_layout: bool = False) -> None:
        self.runtime = Path(tempfile.mkdtemp(prefix="dp-mutter-"))
        os.chmod(self.runtime, 0o700)
        self.name = "wayland-dp-gnome"
        self.sizes = list(sizes)
        self.log = open(self.runtime.parent / f"{self.runtime.name}.log", "w")  # noqa: SIM115
        self.procs: list[subprocess.Popen] = []
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.runtime),
                "XDG_RUNTIME_DIR": str(self.runtime)}
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address"],
                               env=base, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.procs.append(bus)
        self.address = bus.stdout.readline().strip() if bus.stdout else ""
        if not self.address:
            self.close()
            raise RuntimeError("dbus-daemon printed no address")
        self.base = base | {"DBUS_SESSION_BUS_ADDRESS": self.address}
        self._start(["pipewire"])
        self._wait(lambda: (self.runtime / "pipewire-0").exists(), "PipeWire's socket")
        self._start(["wireplumber"])
        monitors = [a for w, h in self.sizes for a in ("--virtual-monitor", f"{w}x{h}")]
        mutter_env = self.base
        if logical_layout:
            settings = self.runtime / "config" / "glib-2.0" / "settings"
            settings.mkdir(parents=True)
            (settings / "keyfile").write_text(
                "[org/gnome/mutter]\nexperimental-features=['scale-monitor-framebuffer']\n")
            mutter_env = self.base | {"GSETTINGS_BACKEND": "keyfile", "XDG_CONFIG_HOME": str(self.runtime / "config")}
        self.procs.append(subprocess.Popen(["mutter", "--headless", *monitors, "--wayland", "--no-x11",
                                            f"--wayland-display={self.name}"], env=mutter_env, stdout=self.log,
                                           stderr=subprocess.STDOUT))
        self._wait(self._ready, "mutter's RemoteDesktop service and Wayland socket")
        self.scale = scale
        if positions is not None or scale != 1.0:
            widths = [round(w / scale) if logical_layout else w for w, _ in self.sizes]
            self._place(positions or [(sum(widths[:i]), 0) for i in range(len(widths))], scale)

    def logical_size(self, monitor: int) -> tuple[int, int]:
        """Monitor `monitor`'s (1-based) size in the logical pixels its windows see."""
        width, height = self.sizes[monitor - 1]
        return round(width / self.scale), round(height / self.scale)

    def _place(self, positions: Sequence[tuple[int, int]], scale: float = 1.0) -> None:
        from actions.gnome.bus import Bus

        name, path = "org.gnome.Mutter.DisplayConfig", "/org/gnome/Mutter/DisplayConfig"
        bus = Bus(self.address)
        try:
            serial, monitors, _logical, _props = bus.call(name, path, name, "GetCurrentState")
            config = [(x, y, scale, 0, i == 0, [(monitor[0][0], monitor[1][0][0], {})])  # connector, first mode
                      for i, ((x, y), monitor) in enumerate(zip(positions, monitors, strict=True))]
            bus.call(name, path, name, "ApplyMonitorsConfig", "uua(iiduba(ssa{sv}))a{sv}", serial, 1, config, {})
        finally:
            bus.close()

    def _start(self, command: list[str]) -> None:
        self.procs.append(subprocess.Popen(command, env=self.base, stdout=self.log, stderr=subprocess.STDOUT))

    def _ready(self) -> bool:
        if not (self.runtime / self.name).exists():
            return False
        probe = subprocess.run(["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/",
                                "org.freedesktop.DBus.NameHasOwner", "string:org.gnome.Mutter.RemoteDesktop"],
                               env=self.base, capture_output=True, text=True, check=False)
        return "boolean true" in probe.stdout

    def _wait(self, ready: object, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                self.close()
                raise RuntimeError(f"a process exited while waiting for {what}: {self.log_text()}")
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"no {what} within {timeout} s: {self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-2000:]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP")}
        env.update(self.base, WAYLAND_DISPLAY=self.name, XDG_SESSION_TYPE="wayland",
                   XDG_STATE_HOME=str(self.runtime / "state"))
        return env

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.log.close()
        shutil.rmtree(self.runtime, ignore_errors=True)


class GnomeProbe(ProbeApp):
    """The GTK probe window fullscreen on monitor `monitor` (1-based) of `mutter`, logging pastes too."""

    def __init__(self, mutter: HeadlessMutter, monitor: int = 1) -> None:
        self.log_path = mutter.runtime / f"events-{monitor}.jsonl"
        self.log_path.touch()
        env = mutter.env() | {"GDK_BACKEND": "wayland", "NO_AT_BRIDGE": "1"}
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(GNOME_APP), f"dp-out{monitor}", str(self.log_path),
                                      str(monitor - 1)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(mutter.runtime / f"app-{monitor}.err", "w"))  # noqa: SIM115
        size = mutter.logical_size(monitor)
        self.wait_for(lambda e: e["e"] == "size" and (e["width"], e["height"]) == size, timeout=30)
