"""Helpers for the daemon tests: settings on short temp paths, a steerable policy, raw clients.

The daemon runs in a thread of the test process with a `FakeComputer` and a scripted or
`SteppedPolicy`, so no display and no model are needed. Socket paths stay short (AF_UNIX allows
about 107 bytes), so they live in their own `/tmp/dp-*` directory.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from actions.fake import FakeComputer
from actions.geometry import Screenshot
from actions.schema import LeftClick, Terminate
from agent.config import Settings, load_settings
from agent.daemon.config import DaemonPaths
from agent.daemon.server import Daemon
from policies.base import Decision, StepRecord


@contextmanager
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dp-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def settings_for(base: Path, **overrides: Any) -> Settings:
    return load_settings(None, {"settle.mode": "off", "trace.dir": str(base / "traces"), **overrides})


def config_file(base: Path, **daemon: object) -> Path:
    """A config.yaml in `base` for a daemon there (socket, queue; no settling; traces in `base`)."""
    path = base / "config.yaml"
    sections = {"daemon": {"socket": str(base / "run" / "d.sock"), "queue_db": str(base / "state" / "queue.sqlite3"),
                           **daemon}, "settle": {"mode": "off"}, "trace": {"dir": str(base / "traces")}}
    path.write_text(yaml.safe_dump(sections), encoding="utf-8")
    return path


def paths_for(base: Path) -> DaemonPaths:
    return DaemonPaths(socket=base / "run" / "d.sock", queue_db=base / "state" / "queue.sqlite3")


class SteppedPolicy:
    """Clicks `steps` times, then terminates; with `gate`, each decision waits until a step is allowed."""

    name = "stepped"
    scripted = False

    def __init__(self, steps: int = 2, gated: bool = False) -> None:
        self.steps, self.gated = steps, gated
        self.allowed = threading.Semaphore(0)
        self.deciding = threading.Event()
        self.tasks: list[str] = []

    def allow(self, n: int = 1) -> None:
        for _ in range(n):
            self.allowed.release()

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        if not history:
            self.tasks.append(task)
        if self.gated:
            self.deciding.set()
            assert self.allowed.acquire(timeout=20), "the test never allowed this step"
            self.deciding.clear()
        if len(history) >= self.steps:
            return Decision(Terminate(status="success"))
        return Decision(LeftClick(coordinate=(10 + len(history), 10)))


@contextmanager
def running_daemon(base: Path, settings: Settings | None = None, policy: Any = None,
                   **kwargs: Any) -> Iterator[Daemon]:
    settings = settings or settings_for(base)
    factory: Callable[[Settings], Any] | None = kwargs.pop("policy_factory", None)
    if factory is None and policy is not None:
        factory = lambda s: policy  # noqa: E731
    kwargs.setdefault("computer_factory", lambda s: FakeComputer())
    kwargs.setdefault("log", lambda line: None)
    daemon = Daemon(settings, paths_for(base), policy_factory=factory, **kwargs)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.close()


def script(base: Path, steps: list[dict], name: str = "task.yaml") -> Path:
    path = base / name
    path.write_text(yaml.safe_dump({"task": "daemon test", "steps": steps}), encoding="utf-8")
    return path


def connect(daemon: Daemon) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(daemon.paths.socket))
    return sock


def send(sock: socket.socket, message: dict | bytes) -> None:
    data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
    sock.sendall(data)


class Replies:
    """Reads a connection's reply lines as dicts (heartbeats are counted and skipped, unless kept)."""

    def __init__(self, sock: socket.socket, keep_heartbeats: bool = False) -> None:
        self.sock, self.buffer, self.keep_heartbeats, self.heartbeats = sock, b"", keep_heartbeats, 0

    def next(self, timeout: float = 10.0) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" not in self.buffer:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\n", 1)
            reply = json.loads(line)
            if reply.get("type") != "heartbeat" or self.keep_heartbeats:
                return reply
            self.heartbeats += 1

    def until(self, kind: str, timeout: float = 10.0) -> tuple[dict, list[dict]]:
        """Read up to and including the first reply of type `kind`; return it and all read."""
        seen: list[dict] = []
        while True:
            reply = self.next(timeout)
            assert reply is not None, f"connection closed before a {kind!r} reply; got {seen}"
            seen.append(reply)
            if reply["type"] == kind:
                return reply, seen


def ask(daemon: Daemon, message: dict | bytes) -> dict | None:
    """One request on a fresh connection; its one reply (None if the daemon just closed)."""
    with connect(daemon) as sock:
        try:
            send(sock, message)
        except BrokenPipeError:  # refused as it connected (another uid, busy): the reason is still there to read
            pass
        return Replies(sock).next()


def submit(daemon: Daemon, **fields: Any) -> tuple[socket.socket, Replies]:
    sock = connect(daemon)
    send(sock, {"type": "submit", **fields})
    return sock, Replies(sock)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(0.01)
