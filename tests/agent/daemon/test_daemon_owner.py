"""One daemon per queue, and a worker that survives its own failures.

A second daemon on the same queue refuses in one line naming the first one's pid and socket and
changes nothing (the first one's running task stays running); store failures while claiming or
finishing a task are logged with the task id, the task ends `error`, the worker goes on and
`status` says what happened."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from daemon_helpers import SteppedPolicy, ask, paths_for, running_daemon, settings_for, submit, wait_until

from actions.fake import FakeComputer
from agent.daemon.config import DaemonPaths
from agent.daemon.lock import QueueBusy
from agent.daemon.server import Daemon

REPO = Path(__file__).resolve().parents[3]


def test_a_second_daemon_on_the_same_queue_refuses_and_changes_nothing(base: Path) -> None:
    policy = SteppedPolicy(steps=2, gated=True)
    with running_daemon(base, policy=policy) as first:
        sock, replies = submit(first, kind="run", task="running in the first daemon")
        started, _ = replies.until("started")
        other = DaemonPaths(socket=base / "other" / "d.sock", queue_db=first.paths.queue_db)
        for paths in (other, first.paths):  # another socket, or the same one: the queue decides first
            second = Daemon(settings_for(base), paths, policy_factory=lambda s: policy, log=lambda line: None)
            with pytest.raises(QueueBusy) as refused:
                second.start()
            second.close()
            message = str(refused.value)
            assert f"pid {os.getpid()}" in message and str(first.paths.socket) in message
            assert "\n" not in message
        assert not other.socket.exists() and first.paths.socket.exists()
        assert first.store.get(started["id"]).state == "running"  # not marked interrupted by the refused one
        assert ask(first, {"type": "status"})["running"]["id"] == started["id"]
        policy.allow(5)
        with sock:
            assert replies.until("end")[0]["status"] == "success"


def test_the_cli_says_so_in_one_line(base: Path) -> None:
    config = base / "config.yaml"
    config.write_text(yaml.safe_dump({"daemon": {"socket": str(base / "run" / "d.sock"),
                                                 "queue_db": str(base / "state" / "q.sqlite3")}}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "DISPLAY": ""}
    cmd = [sys.executable, "-m", "agent.cli", "daemon", "--no-model", "--config", str(config)]
    first = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (base / "run" / "d.sock").exists() or first.poll() is not None, timeout=30,
                   what="the first daemon's socket")
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    finally:
        first.terminate()
        first.wait(10)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1, second.stderr
    assert f"pid {first.pid}" in lines[0] and str(base / "run" / "d.sock") in lines[0]


class Flaky:
    """Wraps one store method: raises sqlite3.OperationalError the first `times` calls (that match)."""

    def __init__(self, method: object, times: int, when: object = lambda *a: True) -> None:
        self.method, self.times, self.when, self.raised = method, times, when, 0

    def __call__(self, *args: object, **kwargs: object) -> object:
        if self.raised < self.times and self.when(*args):  # type: ignore[operator]
            self.raised += 1
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return self.method(*args, **kwargs)  # type: ignore[operator]


def test_the_worker_survives_store_failures_and_says_so(base: Path) -> None:
    log: list[str] = []
    policy, broken = SteppedPolicy(steps=1), threading.Event()

    def computers(settings: object) -> FakeComputer:
        if broken.is_set():
            broken.clear()
            raise OSError("the display went away (injected)")
        return FakeComputer()

    with running_daemon(base, policy=policy, log=log.append, computer_factory=computers) as daemon:
        store = daemon.store
        store.claim_next = Flaky(store.claim_next, times=2)  # type: ignore[method-assign]
        sock, replies = submit(daemon, kind="run", task="claimed after two failures")
        wait_until(lambda: ask(daemon, {"type": "status"})["worker"].startswith("failing"), what="failing health")
        with sock:
            first, _ = replies.until("end", timeout=20)
        assert "recovered" in ask(daemon, {"type": "status"})["worker"]

        store.finish = Flaky(store.finish, times=1)  # type: ignore[method-assign]
        sock, replies = submit(daemon, kind="run", task="its end cannot be recorded at first")
        with sock:
            second, _ = replies.until("end")
        broken.set()
        sock, replies = submit(daemon, kind="run", task="fails while running")
        with sock:
            third, _ = replies.until("end")
        sock, replies = submit(daemon, kind="run", task="and the worker goes on")
        with sock:
            fourth, _ = replies.until("end")
        status = ask(daemon, {"type": "status"})
        recorded = daemon.store.get(second["id"])
        assert daemon.worker._thread.is_alive()
    assert first["status"] == "success"
    assert second["status"] == "error" and "could not record" in second["reason"] and "disk I/O" in second["reason"]
    assert recorded.status == "error" and recorded.state == "finished"
    assert third["status"] == "error" and "display went away" in third["reason"]
    assert fourth["status"] == "success" and status["running"] is None
    assert status["worker"].startswith("ok (last fault")
    assert any("claiming the next task failed" in line for line in log)
    assert any(second["id"] in line and "recording its end failed" in line for line in log)
    assert any(third["id"] in line and "failed" in line for line in log)


def test_a_stopped_worker_shows_in_status(base: Path) -> None:
    with running_daemon(base) as daemon:
        daemon.worker.closing.set()  # the loop ends as if the thread had died
        daemon.worker._wake.set()
        wait_until(lambda: not daemon.worker._thread.is_alive(), what="the worker to stop")
        daemon.worker.closing.clear()
        assert ask(daemon, {"type": "status"})["worker"].startswith("stopped")


def test_recovery_happens_only_under_the_lock(base: Path) -> None:
    """A daemon that died mid-task leaves it `running`; the next daemon, holding the lock, marks it."""
    from agent.daemon.queue_store import QueueStore
    from agent.daemon.wire import Submit

    store = QueueStore(paths_for(base).queue_db)
    store.add("0000abcd", Submit(type="submit", kind="run", task="was running"))
    store.claim_next()
    store.close()
    log: list[str] = []
    with running_daemon(base, log=log.append) as daemon:
        assert daemon.store.get("0000abcd").state == "interrupted"
    assert any("0000abcd" in line and "interrupted" in line for line in log)
