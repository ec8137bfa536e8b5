"""Helpers for display tests on real Debian applications under a real window manager.

What it is for:
    * ``Desktop``: a private Xvfb with openbox running on it (started once per test module by the
      tests' fixtures), ``launch(...)`` to start an application there and ``window(...)`` to wait
      for its window (xdotool search), ``close()`` to stop all of it.
    * ``FormServer``: a local HTTP server with a form page of several text fields whose script
      posts every field's value on each input event, so a test can read what Chromium holds,
      field by field; ``chromium_args`` the flags to run Chromium root-safe, offline and quiet.
    * ``app_skip_reason(...)``: why a test cannot run here (no Xvfb, xdotool, openbox or the app).
    * ``wait_until(...)``: poll a condition with a generous timeout (never a fixed sleep as proof).

What it is not for:
    It defines no fixtures (modules build them, module-scoped) and never touches the session's own
    display: every process gets the private server's environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from display_helpers import display_skip_reason

from agent.sandbox.xvfb import Xvfb

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FORM_FIELDS = ("first", "last", "email", "city", "street", "company", "note")


def app_skip_reason(*programs: str) -> str | None:
    """None when Xvfb, xdotool, openbox and every program are here; else a one-line reason."""
    reason = display_skip_reason()
    if reason is not None:
        return reason
    for program in ("openbox", *programs):
        if shutil.which(program) is None:
            return f"{program} is not installed (Debian: apt-get install {program})"
    return None


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "", poll: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; return it, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(poll)


class Desktop:
    """A private Xvfb with openbox; the applications started on it are stopped with it."""

    def __init__(self, size: tuple[int, int] = (1280, 800)) -> None:
        self.xvfb = Xvfb(screens=(size,))
        self.xvfb.start()
        self.size = size
        self.home = Path(tempfile.mkdtemp(prefix="deskpilot-realapps-"))
        self._procs: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
        try:
            self.launch(["openbox", "--sm-disable"])
            wait_until(self._wm_running, 15, "openbox to manage the screen")
        except BaseException:
            self.close()
            raise

    @property
    def display(self) -> str:
        return self.xvfb.display

    def env(self) -> dict[str, str]:
        env = self.xvfb.env()
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"), NO_AT_BRIDGE="1",
                   XDG_DATA_HOME=str(self.home / ".local/share"), XDG_CACHE_HOME=str(self.home / ".cache"),
                   GTK_A11Y="none", LANG="C.UTF-8", LC_ALL="C.UTF-8", QT_QPA_PLATFORM="xcb")
        env.pop("XDG_RUNTIME_DIR", None)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        return env

    def launch(self, argv: Sequence[str], cwd: str | Path | None = None) -> subprocess.Popen[bytes]:
        err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        proc = subprocess.Popen(list(argv), env=self.env(), cwd=cwd or self.home, stdout=subprocess.DEVNULL,
                                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        self._procs.append((proc, err))
        return proc

    def xdotool(self, *args: object, check: bool = True) -> str:
        result = subprocess.run(["xdotool", *(str(a) for a in args)], env=self.env(), capture_output=True,
                                text=True, timeout=30, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"xdotool {' '.join(map(str, args))}: {result.stderr.strip()}")
        return result.stdout

    def windows(self, name: str = "", cls: str = "") -> list[int]:
        args = ["search", "--onlyvisible", *(["--class", cls] if cls else ["--name", name])]
        out = self.xdotool(*args, check=False)
        return [int(w) for w in out.split()]

    def window(self, name: str = "", cls: str = "", timeout: float = 30.0) -> int:
        """The first visible window whose title (or WM_CLASS) matches; waits for it to appear."""
        return wait_until(lambda: (self.windows(name, cls) or [0])[0], timeout, f"a window {name or cls!r}")

    def geometry(self, window: int) -> tuple[int, int, int, int]:
        fields = dict(line.split("=", 1) for line in self.xdotool("getwindowgeometry", "--shell", window).split())
        return int(fields["X"]), int(fields["Y"]), int(fields["WIDTH"]), int(fields["HEIGHT"])

    def focused_name(self) -> str:
        return self.xdotool("getwindowfocus", "getwindowname", check=False).strip()

    def stderr_of(self, proc: subprocess.Popen[bytes]) -> str:
        for p, err in self._procs:
            if p is proc:
                err.seek(0)
                return err.read().decode("utf-8", "replace")[-2000:]
        return ""

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        for proc, err in reversed(self._procs):
            self.stop(proc)
            err.close()
        self._procs.clear()
        self.xvfb.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def _wm_running(self) -> bool:
        result = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=self.env(),
                                capture_output=True, text=True, check=False)
        return "window id" in result.stdout


FORM_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>deskpilot form</title>
<style>body{font:16px sans-serif;margin:24px} label{display:block;margin:10px 0}
input{font:16px sans-serif;width:420px;padding:6px;margin-left:8px}</style></head><body>
<h1>Contact</h1><form onsubmit="return false">%s</form>
<script>
let seq=0;
function post(){const v={},r={};for(const e of document.querySelectorAll('input')){v[e.name]=e.value;
const b=e.getBoundingClientRect();r[e.name]=[b.left,b.top,b.width,b.height];}
fetch('/state',{method:'POST',body:JSON.stringify({seq:++seq,values:v,rects:r,
focus:document.activeElement.name||null,offset:off})});}
let off=null;document.addEventListener('mousemove',e=>{const o=[e.screenX-e.clientX,e.screenY-e.clientY];
if(!off||o[0]!=off[0]||o[1]!=off[1]){off=o;post();}});
for(const e of document.querySelectorAll('input')){e.addEventListener('input',post);e.addEventListener('focus',post);}
window.addEventListener('load',()=>{document.title='deskpilot form ready';post();});
</script></body></html>"""


class FormServer:
    """Serves the form page on 127.0.0.1 and keeps the latest field values Chromium posted."""

    def __init__(self, fields: Sequence[str] = FORM_FIELDS) -> None:
        rows = "".join(f'<label>{f}<input name="{f}" id="{f}" autocomplete="off"></label>' for f in fields)
        page = (FORM_PAGE % rows).encode()
        self.state: dict[str, Any] = {}
        self.posts = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(page)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                state = json.loads(body.decode("utf-8"))
                with owner.lock:  # posts travel concurrently: an older one can arrive after a newer one
                    if state.get("seq", 0) > owner.state.get("seq", 0):
                        owner.state = state
                    owner.posts += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/form"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def values(self) -> dict[str, str]:
        return dict(self.state.get("values") or {})

    def center(self, field: str) -> tuple[int, int]:
        """The screen point at the middle of a field (needs the pointer to have moved over the page once)."""
        left, top, width, height = self.state["rects"][field]
        dx, dy = self.state["offset"]
        return round(dx + left + width / 2), round(dy + top + height / 2)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def chromium_args(url: str, profile: Path, size: tuple[int, int]) -> list[str]:
    """Chromium as root on a private display: no sandbox, no GPU, no first-run or network chatter."""
    assert CHROMIUM is not None
    return [CHROMIUM, "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--password-store=basic",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-features=Translate,AutofillServerCommunication,MediaRouter",
            "--disable-session-crashed-bubble", "--noerrdialogs", f"--window-size={size[0]},{size[1]}",
            "--window-position=0,0", f"--app={url}"]
