"""`demo --watch` / `sandbox --watch`: a private Xvfb shown read-only in a browser through Debian's
x11vnc + websockify + noVNC, on loopback, opened in headless Chromium."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from chromium_helpers import Chromium, skip_reason
from display_helpers import display_skip_reason, private_xvfb

from agent.sandbox.watch import DisplayWatch, missing
from agent.sandbox.xvfb import Xvfb

WHY = display_skip_reason() or skip_reason() or (f"needs x11vnc, websockify and novnc ({missing()})"
                                                   if missing() else None)
pytestmark = [pytest.mark.display, pytest.mark.skipif(WHY is not None, reason=WHY or "")]


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    yield from private_xvfb((640, 400))


def test_the_display_shows_in_novnc_read_only_on_loopback(xvfb: Xvfb) -> None:
    with DisplayWatch(xvfb.display) as watch:
        assert watch.url.startswith(f"http://127.0.0.1:{watch.web_port}/vnc.html?") and "view_only=1" in watch.url
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        ours = [line.split()[3] for line in listening.splitlines()
                if line.split()[3].endswith((f":{watch.vnc_port}", f":{watch.web_port}"))]
        assert ours and all(addr.startswith(("127.0.0.1:", "[::1]:")) for addr in ours), ours
        browser = Chromium(900, 700)
        try:
            page = browser.open(watch.url)
            page.wait_for("!!document.querySelector('#noVNC_container canvas') && "
                          "document.querySelector('#noVNC_container canvas').width === 640", timeout=60,
                          what="noVNC showing the 640x400 display")
            page.close()
        finally:
            browser.close()
