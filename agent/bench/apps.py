"""`python -m agent.bench.apps`: settling on real applications, events (X DAMAGE) with and without the
applications' answers to pings (settle.ping), against polling.

Starts a private Xvfb (1920×1080 by default) with openbox, then for each application — Mousepad
(GTK 3) and Chromium (a local form page, app mode) — runs the same scripted actions through the
real runner (gate, pyautogui executor, hover first, settle, trace) with `settle.mode: events` and
`ping: true` ("ping"), `events` and `ping: false`, and `poll`, in turn on the same running app, and
reports per action kind the median settle and hover times and how often the screen changed. Needs Xvfb, openbox, xdotool
and the applications (Debian: mousepad, chromium); an application that is missing is skipped.
Not for: the sandbox benchmark against fixed sleeps (`deskpilot bench settle`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.bench.loop import run_steps
from agent.config import Settings, load_settings
from agent.traces.store import read_trace

FORM = """<!doctype html><html><head><meta charset="utf-8"><title>bench form</title><style>
body{margin:0;font:16px sans-serif} input{position:absolute;left:40px;width:420px;height:28px;font:16px sans-serif}
button{position:absolute;left:40px;top:340px;width:120px;height:32px}</style></head><body>
<input id="a" style="top:40px"><input id="b" style="top:110px"><input id="c" style="top:180px">
<input id="d" style="top:250px"><button onclick="document.title='sent '+Date.now()">Send</button>
</body></html>"""
# The settle variants compared, each round in turn on the same running app.
VARIANTS: dict[str, dict[str, Any]] = {"ping": {"mode": "events", "ping": True},  # events + _NET_WM_PING answers
                                       "events": {"mode": "events", "ping": False}, "poll": {"mode": "poll"}}
FIELDS = {"a": (250, 54), "b": (250, 124), "c": (250, 194), "d": (250, 264)}  # CSS px of each field's centre


class Desk:
    """Xvfb + openbox; applications launched here are stopped on close."""

    def __init__(self, size: tuple[int, int]) -> None:
        from agent.sandbox.xvfb import Xvfb

        self.xvfb = Xvfb(screens=(size,))
        self.xvfb.start()
        self.home = Path(tempfile.mkdtemp(prefix="deskpilot-bench-apps-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.launch(["openbox", "--sm-disable"])
        self.wait(lambda: "window id" in self.run("xprop", "-root", "_NET_SUPPORTING_WM_CHECK"), "openbox")

    def env(self) -> dict[str, str]:
        env = self.xvfb.env()
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"), NO_AT_BRIDGE="1",
                   XDG_CACHE_HOME=str(self.home / ".cache"), GTK_A11Y="none", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        return env

    def launch(self, argv: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env=self.env(), cwd=self.home, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, *argv: str) -> str:
        return subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=30, check=False).stdout

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := condition()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.1)
        return value

    def window(self, name: str) -> tuple[int, int, int, int]:
        """The geometry (x, y, width, height) of the first visible window whose title matches."""
        wid = self.wait(lambda: self.run("xdotool", "search", "--onlyvisible", "--name", name).split(), name)[0]
        time.sleep(1.0)  # let it finish its first drawing
        info = dict(line.strip().split(":", 1) for line in self.run("xwininfo", "-id", wid).splitlines()
                    if ":" in line)  # xwininfo: the client area's absolute place (xdotool's is off by the frame)
        return tuple(int(info[k]) for k in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height"))

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.xvfb.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def mousepad_steps(desk: Desk) -> list[dict[str, Any]]:
    x, y, w, h = desk.window("Mousepad")
    text = [x + w // 2, y + h // 2]
    return [{"action": "left_click", "coordinate": text}, {"action": "type", "text": "Hello settle "},
            {"action": "key", "keys": ["enter"]}, {"action": "type", "text": "damage"},
            {"action": "key", "keys": ["ctrl", "a"]}, {"action": "key", "keys": ["delete"]},
            {"action": "left_click", "coordinate": [x + 20, y + 12]},  # the File menu opens
            {"action": "key", "keys": ["esc"]}, {"action": "double_click", "coordinate": text}]


def chromium_steps(desk: Desk) -> list[dict[str, Any]]:
    x, y, _, _ = desk.window("bench form")
    steps: list[dict[str, Any]] = []
    for field, (fx, fy) in FIELDS.items():
        steps += [{"action": "left_click", "coordinate": [x + fx, y + fy]}, {"action": "key", "keys": ["ctrl", "a"]},
                  {"action": "type", "text": f"value {field}"}]
    return [*steps, {"action": "left_click", "coordinate": [x + 100, y + 356]}, {"action": "scroll", "pixels": -3,
            "coordinate": [x + 700, y + 300]}]


@contextmanager
def app(desk: Desk, name: str) -> Iterator[list[dict[str, Any]]]:
    if name == "mousepad":
        proc = desk.launch(["mousepad", "--disable-server"])
        steps = mousepad_steps(desk)
    else:
        page = desk.home / "form.html"
        page.write_text(FORM, encoding="utf-8")
        chromium = shutil.which("chromium") or "chromium"
        proc = desk.launch([chromium, "--no-sandbox", "--test-type", "--disable-gpu", "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-dev-shm-usage", f"--user-data-dir={desk.home / 'chromium'}",
                            "--password-store=basic", "--disable-background-networking", "--disable-sync",
                            "--disable-component-update", "--window-position=0,0", "--window-size=1280,800",
                            f"--app=file://{page}"])
        steps = chromium_steps(desk)
    try:
        yield steps
    finally:
        proc.terminate()
        proc.wait(10)


def bench_apps(settings: Settings, size: tuple[int, int], rounds: int, apps: tuple[str, ...]) -> dict[str, Any]:
    from agent.bench.loop import _in
    from agent.sandbox.launch import pointing_at

    out: dict[str, Any] = {"screen": f"{size[0]}x{size[1]}", "rounds": rounds}
    desk = Desk(size)
    try:
        with tempfile.TemporaryDirectory(prefix="deskpilot-bench-") as tmp, pointing_at(desk.xvfb.display):
            base = _in(settings, tmp)
            for name in apps:
                if shutil.which(name) is None:
                    out[name] = f"skipped: {name} is not installed"
                    continue
                with app(desk, name) as steps:
                    per: dict[str, dict[str, list[Any]]] = {mode: {} for mode in VARIANTS}
                    for _ in range(rounds):
                        for mode, variant in VARIANTS.items():
                            cfg = base.model_copy(update={"settle": base.settle.model_copy(update=variant)})
                            trace_dir, _ = run_steps(cfg, steps)
                            for step in read_trace(trace_dir).steps:
                                if step.action is not None:
                                    per[mode].setdefault(str(step.action["action"]), []).append(step)
                    out[name] = {mode: _summary(kinds) for mode, kinds in per.items()}
    finally:
        desk.close()
    return out


def _summary(kinds: dict[str, list[Any]]) -> dict[str, Any]:
    def med(steps: list[Any], phase: str) -> float:
        return round(statistics.median(s.timings_ms.get(phase, 0.0) for s in steps), 1)

    kinds = {kind: steps for kind, steps in kinds.items() if any("settle" in s.timings_ms for s in steps)}
    every = [s for steps in kinds.values() for s in steps]  # the actions that settle (not terminate)
    out = {kind: {"settle_ms": med(steps, "settle"), "hover_ms": med(steps, "hover"), "n": len(steps),
                  "changed": sum(1 for s in steps if s.effect is not None and s.effect.changed)}
           for kind, steps in kinds.items()}
    changed = [s for s in every if s.effect is not None and s.effect.changed]
    out["all"] = {"settle_ms": med(every, "settle"), "hover_ms": med(every, "hover"), "n": len(every),
                  "changed": len(changed)}
    if changed:
        out["changed_only"] = {"settle_ms": med(changed, "settle"), "n": len(changed)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.bench.apps", description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--apps", default="mousepad,chromium")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    result = bench_apps(load_settings(None), (width, height), args.rounds, tuple(args.apps.split(",")))
    for name in args.apps.split(","):
        print(f"{name}: " + (result[name] if isinstance(result[name], str) else ""))
        if isinstance(result[name], dict):
            for mode, kinds in result[name].items():
                for kind, s in kinds.items():
                    hover = f"hover {s['hover_ms']:>6.1f}  " if "hover_ms" in s else " " * 15
                    changed = f"changed {s['changed']}/{s['n']}" if "changed" in s else f"n {s['n']}"
                    print(f"  {mode:<7}{kind:<14}{hover}settle {s['settle_ms']:>6.1f} ms median  {changed}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
