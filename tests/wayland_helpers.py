"""Helpers for tests on a private headless sway (wlroots) and a native-Wayland GTK probe window.

What it is for:
    * ``sway_skip_reason()``: why wlroots tests cannot run here (no sway, no pywayland, no python3-gi), or None.
    * ``HeadlessSway`` starts sway as the unprivileged user ``nobody`` (sway refuses root) with the pixman
      renderer and N headless outputs laid out as given, in its own runtime directory; ``env()`` is what a
      client needs (WAYLAND_DISPLAY, XDG_RUNTIME_DIR, no DISPLAY).
    * ``script``, ``EVERY_ACTION`` and ``assert_every_action_landed``: the CLI tests' task of every action (on
      wlroots and on GNOME) and the check that the probe window logged each of them.
    * ``ProbeApp`` runs tests/actions/wayland/gtk_probe_app.py under Debian's /usr/bin/python3, fullscreen on
      an output, and reads the events it logs.

What it is not for:
    X11 (display_helpers.py) or GNOME. It never touches the session's own display: every process gets
    the env built here.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
APP = HERE / "actions" / "wayland" / "gtk_probe_app.py"
SYSTEM_PYTHON = "/usr/bin/python3"
Event = dict[str, Any]


def sway_skip_reason() -> str | None:
    if shutil.which("sway") is None:
        return "sway not installed (apt-get install sway python3-gi python3-gi-cairo gir1.2-gtk-3.0)"
    try:
        import pywayland  # noqa: F401
    except ImportError:
        return "pywayland not installed (pip install -e '.[wayland]')"
    check = "import gi; gi.require_version('Gtk', '3.0'); gi.require_foreign('cairo')"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, check=False)
    if probe.returncode != 0:
        return ("Debian's python3-gi with GTK 3 and cairo is not installed "
                "(apt-get install python3-gi python3-gi-cairo gir1.2-gtk-3.0)")
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv not found (util-linux): needed to run sway as nobody"
    return None


class HeadlessSway:
    """sway with headless outputs; `outputs` are (width, height, x, y) per output, or (width, height, x, y,
    scale) for a HiDPI one: width and height in physical pixels, x and y in logical layout units."""

    def __init__(self, outputs: Sequence[tuple[int, ...]] = ((1280, 800, 0, 0),)) -> None:
        self.runtime = Path(tempfile.mkdtemp(prefix="dp-sway-"))
        self.name = "wayland-dp"
        self.outputs = [(*o[:4], float(o[4]) if len(o) > 4 else 1.0) for o in outputs]
        lines = [f"output HEADLESS-{i} resolution {w}x{h} position {x} {y} scale {s:g}"
                 for i, (w, h, x, y, s) in enumerate(self.outputs, 1)]
        lines += [f"workspace {i} output HEADLESS-{i}" for i in range(1, len(self.outputs) + 1)]
        lines += [f'for_window [title="^dp-out{i}$"] move container to workspace {i}, fullscreen enable'
                  for i in range(1, len(self.outputs) + 1)]
        lines += ["default_border none", "focus_follows_mouse no", "seat * xcursor_theme dp-blank 24"]
        (self.runtime / "config").write_text("\n".join(lines) + "\n")
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.runtime, nobody.pw_uid, nobody.pw_gid)
            os.chown(self.runtime / "config", nobody.pw_uid, nobody.pw_gid)
            prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        else:
            prefix = []
        os.chmod(self.runtime, 0o700)
        write_blank_cursor_theme(self.runtime / "icons")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.runtime),
               "XDG_RUNTIME_DIR": str(self.runtime), "WAYLAND_DISPLAY": self.name,
               "WLR_BACKENDS": "headless", "WLR_RENDERER": "pixman", "WLR_LIBINPUT_NO_DEVICES": "1",
               "WLR_HEADLESS_OUTPUTS": str(len(self.outputs)), **self.cursor_env()}
        self.log = open(self.runtime.parent / f"{self.runtime.name}.log", "w")  # noqa: SIM115
        # sway names its socket itself (wayland-1...); it exports it only to its children, so find it
        self.proc = subprocess.Popen([*prefix, "sway", "-c", str(self.runtime / "config")], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_socket()

    def _wait_socket(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sway exited: {Path(self.log.name).read_text()[-2000:]}")
            sockets = [p for p in self.runtime.glob("wayland-*") if not p.name.endswith(".lock")]
            if sockets:
                self.name = sockets[0].name
                return
            time.sleep(0.05)
        raise RuntimeError("sway's socket did not appear within 20 s")

    def cursor_env(self) -> dict[str, str]:
        return {"XCURSOR_PATH": str(self.runtime / "icons"), "XCURSOR_THEME": "dp-blank", "XCURSOR_SIZE": "24"}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP")}
        env.update(XDG_RUNTIME_DIR=str(self.runtime), WAYLAND_DISPLAY=self.name, XDG_SESSION_TYPE="wayland",
                   XDG_CURRENT_DESKTOP="sway", **self.cursor_env())
        return env

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.runtime, ignore_errors=True)


def write_blank_cursor_theme(icons: Path) -> None:
    """A cursor theme whose every cursor is one transparent pixel. Headless wlroots has no hardware cursor
    plane, so it paints the cursor into every captured frame (real GPUs keep it out of screencopy); the
    tests hide it so a replay's recorded screen matches the live one, as mss's cursor-free frames do on X11."""
    cursors = icons / "dp-blank" / "cursors"
    cursors.mkdir(parents=True, exist_ok=True)
    image = struct.pack("<9I", 36, 0xFFFD0002, 24, 1, 1, 1, 0, 0, 0) + b"\0\0\0\0"
    data = b"Xcur" + struct.pack("<3I", 16, 0x10000, 1) + struct.pack("<3I", 0xFFFD0002, 24, 28) + image
    for name in ("default", "left_ptr", "text", "xterm", "pointer", "hand2", "grabbing", "all-scroll"):
        (cursors / name).write_bytes(data)
    (icons / "dp-blank" / "index.theme").write_text("[Icon Theme]\nName=dp-blank\n")
    for path in (icons, icons / "dp-blank", cursors, *cursors.iterdir(), icons / "dp-blank" / "index.theme"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


class ProbeApp:
    """The GTK probe window fullscreen on output `output` (1-based) of `sway`."""

    def __init__(self, sway: HeadlessSway, output: int = 1) -> None:
        self.log_path = sway.runtime / f"events-{output}.jsonl"
        self.log_path.touch()
        env = sway.env() | {"GDK_BACKEND": "wayland", "NO_AT_BRIDGE": "1"}
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(APP), f"dp-out{output}", str(self.log_path)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(sway.runtime / f"app-{output}.err", "w"))  # noqa: SIM115
        width, height, _, _, scale = sway.outputs[output - 1]
        size = (round(width / scale), round(height / scale))  # the window's logical size
        self.wait_for(lambda e: e["e"] == "size" and (e["width"], e["height"]) == size, timeout=30)

    def events(self) -> list[Event]:
        text = self.log_path.read_text()
        text = text[: text.rfind("\n") + 1]  # a line still being written is read next time
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def mark(self) -> int:
        return len(self.events())

    def wait_for(self, predicate: Callable[[Event], bool], since: int = 0, timeout: float = 10) -> Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events()[since:]:
                if predicate(event):
                    return event
            if self.proc.poll() is not None:
                raise RuntimeError("the probe app exited; see its log next to the event log")
            time.sleep(0.02)
        raise AssertionError(f"no matching event within {timeout} s; got {self.events()[since:][-10:]}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# Shared by the wlroots and GNOME CLI tests: one script of every action, and what the probe must log.
def script(tmp_path: Path, steps: list[dict], name: str = "task.yaml", task: str = "wayland probe") -> Path:
    """A task script of `steps` in `tmp_path`."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"task": task, "steps": steps}, allow_unicode=True))
    return path


TEXT = "Hé 中文 ✓ ß/@"
EVERY_ACTION = [
    {"action": "left_click", "coordinate": [100, 100]},
    {"action": "right_click", "coordinate": [300, 140]},
    {"action": "middle_click", "coordinate": [500, 180]},
    {"action": "double_click", "coordinate": [700, 220]},
    {"action": "triple_click", "coordinate": [900, 260]},
    {"action": "mouse_move", "coordinate": [640, 500]},
    {"action": "left_click_drag", "start_coordinate": [200, 600], "coordinate": [600, 700]},
    {"action": "scroll", "pixels": -3, "coordinate": [400, 400]},
    {"action": "hscroll", "pixels": 2, "coordinate": [410, 410]},
    {"action": "type", "text": TEXT},
    {"action": "key", "keys": ["ctrl", "shift", "t"]},
    {"action": "key", "keys": ["tab"]},
    {"action": "wait", "time": 0},
    {"action": "terminate", "status": "success"},
]


def typed(events: list[dict]) -> str:
    """What arrived as text: characters of keys pressed without Ctrl or Alt, and what Ctrl+V pasted."""
    out = []
    for e in events:
        if e["e"] == "paste":
            out.append(e["text"])
        elif e["e"] == "key" and e["char"] and not {"ctrl", "alt"} & set(e["mods"]):
            out.append(e["char"])
    return "".join(out)


def assert_every_action_landed(events: list[dict]) -> None:
    """The probe window logged every action of EVERY_ACTION where and as it was sent."""
    presses = [(e["x"], e["y"], e["button"], e["n"]) for e in events if e["e"] == "press"]
    assert (100, 100, 1, 1) in presses and (300, 140, 3, 1) in presses and (500, 180, 2, 1) in presses
    assert (700, 220, 1, 2) in presses and (900, 260, 1, 3) in presses
    assert any(e["e"] == "motion" and (e["x"], e["y"]) == (640, 500) for e in events)
    drags = [(e["x"], e["y"]) for e in events if e["e"] == "drag"]
    assert (200, 600, 1, 1) in presses and drags and drags[-1] == (600, 700)
    assert any(e["e"] == "release" and (e["x"], e["y"]) == (600, 700) for e in events)
    scrolls = [(e["x"], e["y"], e["dx"], e["dy"]) for e in events if e["e"] == "scroll"]
    assert sum(s[3] for s in scrolls if s[:2] == (400, 400)) == -3
    assert sum(s[2] for s in scrolls if s[:2] == (410, 410)) == 2
    assert typed(events).startswith(TEXT), [e for e in events if e["e"] in ("paste", "key")]
    keys = [e for e in events if e["e"] == "key"]
    assert any(e["name"].lower() == "t" and set(e["mods"]) == {"ctrl", "shift"} for e in keys)
    assert any(e["name"] == "Tab" for e in keys)


def every_action_lands_then_replays(replay: Callable[[Path, Path], subprocess.CompletedProcess], probe: ProbeApp,
                                    tmp_path: Path, backend: str) -> None:
    """Run EVERY_ACTION through the real CLI (`replay(target, cwd)`) on `backend`, check the probe logged each
    action and the run was honest about the missing listeners, then replay its trace with verification."""
    from agent.traces.store import read_trace

    mark = probe.mark()
    proc = replay(script(tmp_path, EVERY_ACTION), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    probe.wait_for(lambda e: e["e"] == "key" and e["name"] == "Tab", mark)
    assert_every_action_landed(probe.events()[mark:])
    trace_dir = Path(proc.stdout.split("trace: ")[1].split()[0])
    trace = read_trace(trace_dir)
    assert trace.header.extra.get("backend") == backend
    assert trace.header.screen.monitor == {"left": 0, "top": 0, "width": 1280, "height": 800}
    assert trace.end.status == "success" and len(trace.steps) == len(EVERY_ACTION)
    for what in ("kill switch", "takeover monitor"):  # honest about the listeners, and names what still stops it
        assert f"deskpilot: {what} unavailable (Wayland lets no client watch global keys or input); stop the run " \
               "with Ctrl+C in the terminal or `kill" in proc.stderr, proc.stderr

    mark = probe.mark()  # the recorded trace, replayed with verification of each target's surroundings
    (tmp_path / "again").mkdir()
    again = replay(trace_dir, tmp_path / "again")
    assert again.returncode == 0, again.stdout + again.stderr
    probe.wait_for(lambda e: e["e"] == "key" and e["name"] == "Tab", mark)
    assert_every_action_landed(probe.events()[mark:])


def sigterm_stops_a_run(env: dict[str, str], backend: str, probe: ProbeApp, tmp_path: Path) -> None:
    """The fallback the startup line names for the missing kill hotkey: SIGTERM ends a `backend` run (under
    `env`, its first click landing on `probe`) as cancelled, before its next step."""
    conf = tmp_path / "config.yaml"
    conf.write_text(f"screen:\n  backend: {backend}\n")
    steps = [{"action": "left_click", "coordinate": [160, 170]}, {"action": "wait", "time": 30},
             {"action": "left_click", "coordinate": [180, 190]}]
    mark = probe.mark()
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "replay", str(script(tmp_path, steps)), "--config",
                             str(conf), "--trace-dir", str(tmp_path / "traces")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env | {"PYTHONPATH": str(REPO_ROOT)})
    probe.wait_for(lambda e: e["e"] == "press" and (e["x"], e["y"]) == (160, 170), mark, timeout=60)
    time.sleep(0.5)  # into the wait step
    proc.terminate()
    out, err = proc.communicate(timeout=60)
    assert "status: cancelled" in out, out + err
    assert not any(e["e"] == "press" and (e["x"], e["y"]) == (180, 190) for e in probe.events()[mark:])


def record_is_refused_in_one_line(env: dict[str, str], session: str, tmp_path: Path) -> None:
    """`deskpilot record` in a Wayland `session` (its name in the message) says in one line that it needs X11."""
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "record", "--out", str(tmp_path / "rec")],
                          capture_output=True, text=True, env=env | {"PYTHONPATH": str(REPO_ROOT)}, cwd=tmp_path,
                          timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"recording needs X11: this {session} session" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "rec").exists(), proc.stderr
