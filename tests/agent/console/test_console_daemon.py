"""`daemon.console`: the daemon's tasks on the console — steps, the queue, and (with confirm_via:
console) confirmations answered there instead of by the submitting client."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import running_daemon, script, settings_for, short_dir, submit

from actions.fake import FakeComputer
from agent.console.daemon import DaemonConsole

CLICK = {"action": "left_click", "coordinate": [20, 30]}


@pytest.fixture
def base() -> Iterator[Path]:
    with short_dir() as path:
        yield path


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.loads(reply.read())


def post(console: DaemonConsole, path: str, body: dict) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{console.server.port}{path}", json.dumps(body).encode(),
                                     {"X-Deskpilot-Token": console.server.token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())


def test_confirmations_go_to_the_console_and_its_answer_reaches_the_gate(base: Path) -> None:
    settings = settings_for(base, **{"safety.confirm": "always", "safety.confirm_via": "console",
                                     "safety.confirm_timeout_s": 30.0, "daemon.console": True})
    fake = FakeComputer()
    with running_daemon(base, settings, computer_factory=lambda s: fake) as daemon, \
            DaemonConsole(settings, daemon.worker).start() as console:
        daemon.worker.observer = console
        state = f"http://127.0.0.1:{console.server.port}/api/state?token={console.server.token}"
        sock, replies = submit(daemon, kind="replay", path=str(script(base, [CLICK])))
        with sock:
            deadline = time.monotonic() + 20
            while (question := get(state)["question"]) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert question is not None and question["action"] == CLICK
            assert [t["state"] for t in get(state)["queue"]] == ["running"]
            assert post(console, "/api/answer", {"question": question["number"], "approve": True}) == {"taken": True}
            end, seen = replies.until("end")
        assert end["status"] == "success" and not [r for r in seen if r["type"] == "confirm_request"]
        assert ("click", (20, 30), "left", 1) in fake.calls
        events = [e for _, e in console.hub.events_since(0, 0)]
        kinds = [e["kind"] for e in events]
        assert {"started", "question", "answered", "step", "end"} <= set(kinds)
        assert events[-1]["status"] == "success"
