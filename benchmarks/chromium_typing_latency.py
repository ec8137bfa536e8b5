"""How long Chromium takes to react to a click right after an executor typed text into it.

Issue 11: after non-ASCII text was typed through remapped spare keycodes, Chromium took 100-760 ms to
react to the next click (5-17 ms after ASCII), long enough for the agent's settle to end first.
This script measures that reaction, for ASCII text and for 20 distinct non-ASCII characters:

    python benchmarks/chromium_typing_latency.py [--executor pyautogui|pynput] [--trials 9] [--wm openbox]

It starts a private Xvfb (never your display), optionally a window manager, and Debian's `chromium`
(headful, under that Xvfb) on a local page: a large text area and a capture-phase `mousedown` listener
that puts `performance.timeOrigin + performance.now()` and the text area's value into document.title,
read back over the DevTools HTTP endpoint (`/json/list`, loopback only). Each trial builds a fresh
executor (so no character is mapped yet), clicks the text area, clears it, types the text in chunks of
`--chunk` characters (the agent's guard types 8 at a time), and clicks again at once: the reaction is
the listener's timestamp minus the time just before that click. The typed text is checked too. Prints
one JSON object (medians and every trial, and the typing time, in milliseconds). Needs: xvfb, chromium.
Not for: CI (timings on a shared 2-core runner are too noisy for a pass/fail threshold).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.sandbox.xvfb import Xvfb

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>ready</title><style>
#f{position:absolute;left:40px;top:40px;width:700px;height:300px;font-size:20px}</style></head>
<body><textarea id="f" autofocus></textarea><script>
let clicks = 0, at = 0;
const f = document.getElementById('f');
function show() { document.title = JSON.stringify({n: clicks, at: at, v: f.value}); }
document.addEventListener('mousedown', () => {
  clicks++; at = performance.timeOrigin + performance.now(); show();
}, true);
f.addEventListener('input', show);
</script></body></html>"""
FIELD = (390, 190)  # inside the text area (the --app window has no toolbar; no WM decorations at 0,0)
ASCII_TEXT = "Hello, World! 123 ok"  # 20 characters, shifted and unshifted ones
POOL = [chr(c) for c in range(0xC0, 0x100) if chr(c).isalpha()] + [chr(c) for c in range(0x100, 0x180)]
QUIET_S = 1.0


class Chromium:
    """Debian's chromium on `page`, with the DevTools HTTP endpoint on a free loopback port."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        page = workdir / "page.html"
        page.write_text(PAGE, encoding="utf-8")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = ["chromium", "--no-sandbox", "--no-first-run", "--disable-gpu", "--ozone-platform=x11",
               f"--user-data-dir={workdir / 'profile'}", f"--remote-debugging-port={self.port}",
               "--remote-debugging-address=127.0.0.1", "--window-position=0,0", "--window-size=900,500",
               "--disable-features=Translate", f"--app=file://{page}"]
        # /usr/bin/chromium is a shell wrapper: its own session lets close() end the browser and its children
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.wait(lambda s: True, timeout=60)

    def state(self) -> dict[str, Any] | None:
        """The page's title as data: {} before the first event, None before the page has loaded."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as reply:
                pages = [p for p in json.load(reply) if p.get("type") == "page"]
        except OSError:
            return None
        title = html.unescape(pages[0]["title"]) if pages else ""
        return {} if title == "ready" else json.loads(title) if title.startswith("{") else None

    def wait(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state is not None and predicate(state):
                return state
            time.sleep(0.003)
        raise TimeoutError(f"chromium's page did not get there in {timeout} s (state: {self.state()})")

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def build_executor(name: str, display: str) -> Any:
    from actions.capture import MssCapture

    if name == "pynput":
        from actions.pynput_computer import PynputComputer

        return PynputComputer(MssCapture(display=display))
    from actions.pyautogui_computer import PyAutoGuiComputer

    return PyAutoGuiComputer(MssCapture(display=display))


def clear(browser: Chromium, computer: Any) -> None:
    """Empty the text area: select all, delete; again if a late mouse-up collapsed the selection first."""
    computer.click(FIELD, "left", 1)
    for _ in range(5):
        time.sleep(0.2)
        computer.key(("ctrl", "a"))
        computer.key(("backspace",))
        try:
            browser.wait(lambda s: s.get("v") == "", timeout=1)
            return
        except TimeoutError:
            continue
    raise TimeoutError("could not empty the text area")


def trial(browser: Chromium, executor_name: str, display: str, text: str, chunk: int,
          quiet: float = QUIET_S) -> tuple[float, float, bool]:
    """One measurement: (reaction in ms, typing time in ms, whether the text area holds exactly `text`)."""
    computer = build_executor(executor_name, display)
    reaction = typing = float("nan")
    try:
        clear(browser, computer)
        time.sleep(quiet)
        clicks = browser.wait(lambda s: True)["n"]
        started = time.perf_counter()
        for start in range(0, len(text), chunk):
            computer.type_text(text[start:start + chunk])
        typing = (time.perf_counter() - started) * 1000
        before = time.time()
        computer.click(FIELD, "left", 1)
        state = browser.wait(lambda s: s.get("n", 0) > clicks)
        reaction = state["at"] - before * 1000
        typed = browser.wait(lambda s: s.get("v") == text, timeout=3).get("v") == text
    except TimeoutError as exc:
        print(f"trial failed: {exc}; wanted {text!r}", file=sys.stderr, flush=True)
        typed = False
    finally:
        computer.close()
    time.sleep(quiet)  # the close may have changed the keymap: let the browser take it in
    return reaction, typing, typed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", choices=("pyautogui", "pynput"), default="pyautogui")
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--chunk", type=int, default=8, help="characters per type_text call (the guard's chunk)")
    parser.add_argument("--wm", default="", help="a window manager to run first, e.g. openbox")
    parser.add_argument("--quiet", type=float, default=QUIET_S, help="seconds of rest before each typing")
    args = parser.parse_args(argv)
    if shutil.which("chromium") is None:
        parser.error("chromium is not installed (apt-get install chromium)")
    results: dict[str, Any] = {"executor": args.executor, "chunk": args.chunk, "wm": args.wm or None,
                               "trials": args.trials}
    with Xvfb(screens=((1280, 800),)) as xvfb, tempfile.TemporaryDirectory() as workdir:
        env = xvfb.env()
        os.environ["DISPLAY"] = xvfb.display  # pyautogui and pynput connect to $DISPLAY
        wm = subprocess.Popen([args.wm], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) \
            if args.wm else None
        browser = Chromium(env, Path(workdir))
        try:
            time.sleep(3)  # first paint, extension start-up
            for mode in ("ascii", "unicode"):
                values, typing, wrong = [], [], 0
                for i in range(args.trials):
                    text = ASCII_TEXT if mode == "ascii" else "".join(POOL[(i * 20 + j) % len(POOL)] for j in range(20))
                    ms, typing_ms, typed = trial(browser, args.executor, xvfb.display, text, args.chunk, args.quiet)
                    values.append(round(ms, 1))
                    typing.append(round(typing_ms, 1))
                    wrong += not typed
                results[mode] = {"median_ms": round(statistics.median(values), 1), "trials_ms": values,
                                 "typing_median_ms": round(statistics.median(typing), 1), "wrong_text": wrong}
                print(mode, results[mode], file=sys.stderr, flush=True)
        finally:
            browser.close()
            if wm is not None:
                wm.terminate()
                wm.wait(5)
    results["ratio"] = round(results["unicode"]["median_ms"] / max(results["ascii"]["median_ms"], 0.1), 2)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
