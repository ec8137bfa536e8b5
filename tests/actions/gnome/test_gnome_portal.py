"""The gnome backend's portal path against a mock xdg-desktop-portal (tests/actions/gnome/mock_portal.py) on a
private headless mutter: the real CLI consents through RemoteDesktop + ScreenCast requests, saves the
restore token the portal issues, and sends it back on the next run; a version-1 portal (no restore tokens)
still works and the run says once that consent is asked every time; with the Clipboard portal, non-ASCII
text is pasted through it, and without it the step fails with one clear line. Clicks and keys go through the
portal's Notify* calls and land in a native GTK window; frames come over the PipeWire remote the portal
opened. Skips like the other gnome tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from gnome_helpers import GnomeProbe, HeadlessMutter, mutter_skip_reason
from wayland_helpers import REPO_ROOT

from agent.traces.store import read_trace

pytestmark = pytest.mark.skipif(mutter_skip_reason() is not None, reason=str(mutter_skip_reason()))
MOCK = Path(__file__).resolve().parent / "mock_portal.py"


@pytest.fixture(scope="module")
def mutter() -> Iterator[HeadlessMutter]:
    m = HeadlessMutter(((1280, 800),))
    yield m
    m.close()


@pytest.fixture(scope="module")
def app(mutter: HeadlessMutter) -> Iterator[GnomeProbe]:
    probe = GnomeProbe(mutter, 1)
    yield probe
    probe.close()


class MockPortal:
    def __init__(self, mutter: HeadlessMutter, version: int, log: Path, clipboard: bool = False) -> None:
        self.log = log
        env = mutter.env() | {"PYTHONPATH": str(REPO_ROOT)}
        extra = ["clipboard"] if clipboard else []
        self.proc = subprocess.Popen([sys.executable, str(MOCK), str(log), str(version), *extra], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(log.with_suffix(".err"), "w"))  # noqa: SIM115
        deadline = time.monotonic() + 20
        while not (log.exists() and "ready" in log.read_text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the mock portal did not start: {log.with_suffix('.err').read_text()}")
            time.sleep(0.05)

    def calls(self, method: str | None = None) -> list[dict]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in lines if method is None or c.get("method") == method]

    def issued(self) -> list[str]:
        return [c["issued"] for c in self.calls() if "issued" in c]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run(mutter: HeadlessMutter, tmp_path: Path, steps: list[dict], via: str = "portal") -> subprocess.CompletedProcess:
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump({"task": "portal probe", "steps": steps}, allow_unicode=True))
    conf = tmp_path / "config.yaml"
    conf.write_text(f"screen:\n  backend: gnome\n  gnome_via: {via}\n")
    return subprocess.run([sys.executable, "-m", "agent.cli", "replay", str(path), "--config", str(conf),
                           "--trace-dir", str(tmp_path / "traces")], capture_output=True, text=True,
                          env=mutter.env() | {"PYTHONPATH": str(REPO_ROOT)}, cwd=tmp_path, timeout=120)


STEPS = [{"action": "left_click", "coordinate": [130, 140]}, {"action": "type", "text": "Portal ok"},
         {"action": "scroll", "pixels": -2, "coordinate": [300, 310]}]


def landed(app: GnomeProbe, mark: int) -> None:
    app.wait_for(lambda e: e["e"] == "scroll" and (e["x"], e["y"]) == (300, 310), mark)
    events = app.events()[mark:]
    assert any(e["e"] == "press" and (e["x"], e["y"]) == (130, 140) for e in events)
    assert "".join(e["char"] for e in events if e["e"] == "key" and e["char"]) == "Portal ok"


def test_consent_once_then_the_restore_token(mutter: HeadlessMutter, app: GnomeProbe, tmp_path: Path) -> None:
    portal = MockPortal(mutter, 2, tmp_path / "portal.jsonl")
    token_file = Path(mutter.env()["XDG_STATE_HOME"]) / "deskpilot" / "gnome-portal-restore-token"
    token_file.unlink(missing_ok=True)
    try:
        for attempt, via in enumerate(("auto", "portal")):  # auto takes the portal when the bus has one
            mark = app.mark()
            (tmp_path / via).mkdir()
            proc = run(mutter, tmp_path / via, STEPS, via)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            landed(app, mark)
            assert read_trace(next((tmp_path / via / "traces").iterdir())).header.extra.get("backend") == "gnome"
            devices = portal.calls("SelectDevices")[attempt]["options"]
            assert devices["types"] == 3 and devices["persist_mode"] == 2
            issued = portal.issued()
            assert len(issued) == attempt + 1 and token_file.read_text().strip() == issued[-1]
            if attempt == 0:
                assert "restore_token" not in devices  # nothing saved yet: GNOME would show its dialog
            else:
                assert devices["restore_token"] == issued[0]  # the saved consent, sent back
            assert portal.calls("SelectSources")[attempt]["options"]["types"] == 1
            assert "cannot remember consent" not in proc.stderr
        assert {c["method"] for c in portal.calls() if "method" in c} >= {
            "NotifyPointerMotionAbsolute", "NotifyPointerButton", "NotifyKeyboardKeysym", "NotifyPointerAxisDiscrete"}
    finally:
        portal.close()


def test_a_version_1_portal_asks_every_run_and_says_so(mutter: HeadlessMutter, app: GnomeProbe,
                                                       tmp_path: Path) -> None:
    portal = MockPortal(mutter, 1, tmp_path / "portal.jsonl")
    try:
        mark = app.mark()
        proc = run(mutter, tmp_path, STEPS)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        landed(app, mark)
        assert proc.stderr.count("cannot remember consent, so GNOME asks to share the screen on every run") == 1
        devices = portal.calls("SelectDevices")[0]["options"]
        assert "persist_mode" not in devices and "restore_token" not in devices and not portal.issued()
    finally:
        portal.close()


def test_non_ascii_text_without_the_clipboard_portal_fails_the_step_clearly(mutter: HeadlessMutter, app: GnomeProbe,
                                                                            tmp_path: Path) -> None:
    portal = MockPortal(mutter, 2, tmp_path / "portal.jsonl")
    try:
        proc = run(mutter, tmp_path, [{"action": "type", "text": "é"}])
        assert proc.returncode == 1 and "status: error" in proc.stdout, proc.stdout + proc.stderr
        assert "typing 'é' needs the clipboard, which this portal session does not offer" in proc.stdout
        assert "Traceback" not in proc.stdout + proc.stderr
    finally:
        portal.close()


def test_non_ascii_text_through_the_clipboard_portal(mutter: HeadlessMutter, app: GnomeProbe, tmp_path: Path) -> None:
    portal = MockPortal(mutter, 2, tmp_path / "portal.jsonl", clipboard=True)
    try:
        mark = app.mark()
        proc = run(mutter, tmp_path, [{"action": "left_click", "coordinate": [150, 160]},
                                      {"action": "type", "text": "Grüße 中文!"}])
        assert proc.returncode == 0, proc.stdout + proc.stderr
        app.wait_for(lambda e: e["e"] == "key" and e["char"] == "!", mark)
        events = app.events()[mark:]
        assert [e["text"] for e in events if e["e"] == "paste"] == ["üße 中文"]
        assert "".join(e["char"] for e in events if e["e"] == "key" and e["char"] and "ctrl" not in e["mods"]) == "Gr!"
        methods = [c["method"] for c in portal.calls() if "method" in c]
        assert methods.index("RequestClipboard") < methods.index("Start")  # the portal wants it before Start
        assert "SetSelection" in methods and "SelectionWrite" in methods
    finally:
        portal.close()


def test_replay_verification_captures_through_a_screencast_portal_session(mutter: HeadlessMutter, app: GnomeProbe,
                                                                          tmp_path: Path) -> None:
    """Replay's observer opens a ScreenCast-only portal session; its restore token is kept apart from the
    remote desktop's (one file each), so neither spoils the other's consent."""
    portal = MockPortal(mutter, 2, tmp_path / "portal.jsonl")
    state = Path(mutter.env()["XDG_STATE_HOME"]) / "deskpilot"
    try:
        (tmp_path / "first").mkdir()
        proc = run(mutter, tmp_path / "first", STEPS)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        trace_dir = next((tmp_path / "first" / "traces").iterdir())
        conf = tmp_path / "config.yaml"
        conf.write_text("screen:\n  backend: gnome\n  gnome_via: portal\n")
        mark = app.mark()
        again = subprocess.run([sys.executable, "-m", "agent.cli", "replay", str(trace_dir), "--config", str(conf),
                                "--trace-dir", str(tmp_path / "again")], capture_output=True, text=True,
                               env=mutter.env() | {"PYTHONPATH": str(REPO_ROOT)}, cwd=tmp_path, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        landed(app, mark)
        screencast_only = [c for c in portal.calls("SelectSources") if "persist_mode" in c["options"]]
        assert screencast_only, portal.calls("SelectSources")  # the observer's own session asked to persist
        tokens = {p.name: p.read_text().strip() for p in state.iterdir()}
        assert set(tokens) == {"gnome-portal-restore-token", "gnome-portal-restore-token-screencast"}
        assert len(set(tokens.values())) == 2 and set(tokens.values()) <= set(portal.issued())
    finally:
        portal.close()
