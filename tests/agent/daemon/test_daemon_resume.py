"""Resuming a daemon task that a person's takeover paused: the `resume` request (`deskpilot resume`),
SIGUSR1 to the daemon process (resumes, never kills it), and a pause notice that names those ways."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from daemon_helpers import (
    Replies,
    SteppedPolicy,
    ask,
    config_file,
    running_daemon,
    settings_for,
    submit,
    wait_until,
)

from agent.cli.daemon import daemon_signals
from agent.cli.main import main
from agent.daemon.client import Endpoint, NoDaemon, request
from agent.daemon.server import Daemon
from agent.daemon.wire import StatusRequest

ROOT = Path(__file__).resolve().parents[3]


def paused_task(daemon: Daemon, policy: SteppedPolicy, replies: Replies) -> tuple[str, dict]:
    """Let the task reach its first model call, pause it there as a takeover would; the pause notice."""
    task_id = replies.until("started")[0]["id"]
    wait_until(lambda: policy.deciding.is_set(), what="the first model call")
    current = daemon.worker.current
    assert current is not None and current.safety is not None
    current.safety.pause.pause("the pointer moved")
    policy.allow()  # the decided click waits for the resume, then is dropped: the screen is looked at again
    notice, _ = replies.until("notice")
    return task_id, notice


def events(trace_dir: str) -> list[dict]:
    lines = (Path(trace_dir) / "trace.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if "event" in record]


def test_a_paused_daemon_task_resumes_on_deskpilot_resume(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(base)
    policy = SteppedPolicy(steps=1, gated=True)
    with running_daemon(base, settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")}),
                        policy=policy) as daemon:
        assert main(["resume", "--config", str(config)]) == 1
        assert "no task is running" in capsys.readouterr().out
        sock, replies = submit(daemon, kind="run", task="pause me")
        with sock:
            task_id, notice = paused_task(daemon, policy, replies)
            assert notice["event"] == "paused" and "`deskpilot resume`" in notice["message"]
            assert "kill -USR1" not in notice["message"] and "`deskpilot cancel`" in notice["message"]
            assert daemon.worker.current.safety.pause.paused  # type: ignore[union-attr]
            assert main(["resume", "ffffffff", "--config", str(config)]) == 1  # not that task
            assert main(["resume", "--config", str(config)]) == 0
            assert f"task {task_id} resumed" in capsys.readouterr().out
            assert replies.until("notice")[0]["event"] == "resumed"
            assert ask(daemon, {"type": "resume", "id": task_id}) == {"type": "resumed", "id": task_id,
                                                                      "was": "running"}
            policy.allow(5)
            end = replies.until("end")[0]
    assert end["status"] == "success", end
    trace = events(end["trace_dir"])
    seen = {e["event"]: e for e in trace}  # "interrupted" and "resumed" may come in either order
    assert trace[0]["event"] == "paused" and len(trace) == len(seen) == 3
    assert seen["resumed"]["how"] == "deskpilot resume"
    assert seen["interrupted"]["verdict"]["decision"] == "allow"  # the dropped click's verdict is in the trace
    assert main(["resume", "--config", str(config)]) == 2  # no daemon any more
    assert "kill -USR1 <its pid>" in capsys.readouterr().err


def test_sigusr1_resumes_the_daemon_task(base: Path) -> None:
    assert threading.current_thread() is threading.main_thread()
    policy = SteppedPolicy(steps=1, gated=True)
    logged: list[str] = []
    with running_daemon(base, policy=policy, log=logged.append) as daemon, \
            daemon_signals(daemon, threading.Event()):
        os.kill(os.getpid(), signal.SIGUSR1)  # nothing runs: said in the log, nothing else happens
        wait_until(lambda: any("SIGUSR1: no task is running" in line for line in logged), what="the log line")
        sock, replies = submit(daemon, kind="run", task="pause me")
        with sock:
            paused_task(daemon, policy, replies)
            os.kill(os.getpid(), signal.SIGUSR1)
            notice = replies.until("notice")[0]
            assert notice["event"] == "resumed" and "SIGUSR1" in notice["message"]
            policy.allow(5)
            end = replies.until("end")[0]
    assert end["status"] == "success"
    assert ("resumed", "SIGUSR1") in [(e["event"], e.get("how")) for e in events(end["trace_dir"])]


def test_sigusr1_does_not_kill_a_daemon_process(base: Path) -> None:
    config = config_file(base)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "daemon", "--config", str(config), "--no-model"],
                            env=env, cwd=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    endpoint = Endpoint(unix=base / "run" / "d.sock")
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if request(endpoint, StatusRequest(type="status")).type == "status":
                    break
            except (NoDaemon, OSError):
                pass
            assert time.monotonic() < deadline, "the daemon did not answer in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        assert proc.poll() is None, "SIGUSR1 ended the daemon"
        assert request(endpoint, StatusRequest(type="status")).type == "status"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, log = proc.communicate(timeout=20)
    assert proc.returncode == 0, log
    assert "SIGUSR1: no task is running" in log
