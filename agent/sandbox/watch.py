"""Watching a private display from a browser: x11vnc + websockify + noVNC, read-only, on loopback.

`DisplayWatch(display)` starts Debian's x11vnc on the display (view-only: the viewer's mouse and
keys never reach the display; `-localhost`: loopback only; a random one-time password that x11vnc
reads from a file it then deletes), and websockify serving noVNC's page and bridging its websocket
to that VNC port, on 127.0.0.1 too. `url` opens noVNC connected, view-only, password included —
like the console's token, the URL is the key. `missing()` names the packages to install when one
is absent (apt-get install x11vnc websockify novnc).
Not for: the display itself (agent.sandbox.xvfb) or anything on the user's own desktop.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from agent.sandbox.launch import SandboxError

NOVNC_DIRS = (Path("/usr/share/novnc"), Path("/usr/share/webapps/novnc"))
START_TIMEOUT_S = 10.0


def novnc_dir() -> Path | None:
    return next((d for d in NOVNC_DIRS if (d / "vnc.html").is_file()), None)


def missing() -> str | None:
    """None when x11vnc, websockify and noVNC are installed; else what to install."""
    absent = [name for name in ("x11vnc", "websockify") if shutil.which(name) is None]
    if novnc_dir() is None:
        absent.append("novnc")
    return f"apt-get install {' '.join(absent)}" if absent else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DisplayWatch:
    def __init__(self, display: str) -> None:
        if (what := missing()) is not None:
            raise SandboxError(f"--watch needs x11vnc, websockify and noVNC ({what})")
        self.display, self.password = display, secrets.token_urlsafe(6)[:8]  # VNC passwords: 8 characters
        self.vnc_port, self.web_port = free_port(), free_port()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="deskpilot-watch-")

    @property
    def url(self) -> str:
        query = urlencode({"autoconnect": 1, "view_only": 1, "resize": "scale", "host": "127.0.0.1",
                           "port": self.web_port, "password": self.password})
        return f"http://127.0.0.1:{self.web_port}/vnc.html?{query}"

    def start(self) -> DisplayWatch:
        secret = Path(self._tmp.name) / "passwd"
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        self._spawn(["x11vnc", "-display", self.display, "-viewonly", "-shared", "-forever", "-localhost",
                     "-rfbport", str(self.vnc_port), "-passwdfile", f"rm:{secret}", "-quiet", "-nossl",
                     "-noxdamage", "-norc"])
        self._wait_port(self.vnc_port, "x11vnc")
        web = novnc_dir()
        self._spawn(["websockify", "--web", str(web), f"127.0.0.1:{self.web_port}", f"127.0.0.1:{self.vnc_port}"])
        self._wait_port(self.web_port, "websockify")
        return self

    def close(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        self._tmp.cleanup()

    def __enter__(self) -> DisplayWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, cmd: list[str]) -> None:
        """Start `cmd`, its output into a log file (a pipe nobody reads would fill up and stall it)."""
        log = Path(self._tmp.name) / f"{cmd[0]}.log"
        with open(log, "wb") as out:
            self._procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True))

    def _wait_port(self, port: int, what: str) -> None:
        deadline, proc = time.monotonic() + START_TIMEOUT_S, self._procs[-1]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = Path(self._tmp.name) / f"{what}.log"
                err = log.read_text(errors="replace").strip()[-300:] if log.is_file() else ""
                self.close()
                raise SandboxError(f"{what} exited with code {proc.returncode}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise SandboxError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S:g} s")
