"""End to end on a private Xvfb: `deskpilot replay` (a subprocess with no DISPLAY of its own) hands
the script to `deskpilot daemon` (a subprocess on the test display), streams the steps back, and
the sandbox app records the click and the typing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agent.daemon.client import Endpoint, NoDaemon, request
from agent.daemon.wire import StatusRequest
from agent.sandbox.launch import Sandbox
from agent.sandbox.xvfb import Xvfb, available
from agent.traces.store import read_trace

pytestmark = [pytest.mark.display, pytest.mark.skipif(bool(available()), reason=f"no Xvfb: {available()}")]
ROOT = Path(__file__).resolve().parents[3]


def wait_for_daemon(socket_path: Path, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if request(Endpoint(unix=socket_path), StatusRequest(type="status")).type == "status":
                return
        except (NoDaemon, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError("the daemon did not answer in time")


def test_replay_is_handed_to_the_daemon_and_lands_in_the_app(base: Path) -> None:
    config = base / "config.yaml"
    config.write_text(yaml.safe_dump({
        "daemon": {"socket": str(base / "run" / "d.sock"), "queue_db": str(base / "queue.sqlite3")},
        "trace": {"dir": str(base / "traces")},
    }), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with Xvfb(screens=((1280, 800),)) as xvfb, Sandbox(xvfb.env(), base / "state.json") as app:
        app.wait_ready()
        c = app.centers()
        task = base / "task.yaml"
        task.write_text(yaml.safe_dump({"task": "click OK and type", "steps": [
            {"action": "left_click", "coordinate": [c["ok_button_x"], c["ok_button_y"]]},
            {"action": "left_click", "coordinate": [c["entry_x"], c["entry_y"]]},
            {"action": "type", "text": "{{word}}"},
        ]}), encoding="utf-8")
        daemon = subprocess.Popen([sys.executable, "-m", "agent.cli", "daemon", "--config", str(config), "--no-model"],
                                  env={**xvfb.env(env)}, cwd=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        try:
            wait_for_daemon(base / "run" / "d.sock", daemon)
            client_env = {k: v for k, v in env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
            replay = subprocess.run([sys.executable, "-m", "agent.cli", "replay", str(task), "--var", "word=daemon",
                                     "--config", str(config)], env=client_env, cwd=base, capture_output=True,
                                    text=True, timeout=60)
            state = app.wait_for(lambda s: s.get("entry") == "daemon", timeout=10, what="the typed text")
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, daemon_log = daemon.communicate(timeout=20)
    assert replay.returncode == 0, (replay.stdout, replay.stderr, daemon_log)
    assert "handing the task to the daemon" in replay.stderr
    step_lines = [line for line in replay.stderr.splitlines() if line.lstrip()[:1].isdigit()]
    assert len(step_lines) == 4 and "left_click" in step_lines[0] and "executed" in step_lines[0]
    assert "status: success" in replay.stdout
    assert state["ok_clicks"] == 1
    trace_dir = replay.stdout.split("trace: ", 1)[1].strip()
    assert read_trace(trace_dir).end.status == "success"
    assert daemon.returncode == 0 and "stopped" in daemon_log, daemon_log
    assert not (base / "run" / "d.sock").exists()
