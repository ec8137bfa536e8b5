"""Clients against unlucky daemons: one that takes the connection and never answers, a socket path
too long for AF_UNIX, and signals while a task runs in the daemon (SIGTERM, SIGINT, SIGHUP: the
task is cancelled and the command exits 3)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from daemon_helpers import running_daemon, script, settings_for, wait_until

from agent.daemon.client import DaemonSilent, Endpoint, NoDaemon, replay_request, request, submit_or_none
from agent.daemon.wire import StatusRequest

REPO = Path(__file__).resolve().parents[3]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), "DISPLAY": "", **(env or {})}
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], env=full, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def config(base: Path, **daemon: object) -> Path:
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump({"daemon": {"socket": str(base / "run" / "d.sock"), **daemon}}))
    return path


@pytest.fixture
def mute(base: Path) -> Iterator[Path]:
    """A socket that takes connections (the kernel's backlog) and never says a word."""
    path = base / "run" / "d.sock"
    path.parent.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(16)
        yield path


def test_a_daemon_that_never_answers_does_not_hang_its_clients(base: Path, mute: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    with pytest.raises(DaemonSilent, match=r"did not answer within 0\.5 s"):
        request(Endpoint(unix=mute, timeout_s=0.5), StatusRequest(type="status"))
    one_shot = time.monotonic() - started
    settings = settings_for(base, **{"daemon.socket": str(mute), "daemon.client_timeout_s": 0.5,
                                     "daemon.heartbeat_s": 0.1})
    started = time.monotonic()
    code = submit_or_none(settings, replay_request(script(base, [{"action": "wait", "time": 1}])))
    streamed = time.monotonic() - started
    assert code == 1 and "sent nothing for 0.5 s" in capsys.readouterr().err
    with capsys.disabled():
        print(f"\nsilent daemon: status gave up after {one_shot:.2f} s, replay after {streamed:.2f} s")
    assert one_shot < 2 and streamed < 2
    status = cli("status", "--config", str(config(base, client_timeout_s=0.5)))
    assert status.returncode == 1 and len(status.stderr.strip().splitlines()) == 1, status.stderr
    assert "did not answer" in status.stderr and "Traceback" not in status.stderr


def test_a_socket_path_too_long_means_no_daemon(base: Path) -> None:
    runtime = base / ("r" * 120)
    runtime.mkdir()
    with pytest.raises(NoDaemon, match="path too long"):
        request(Endpoint(unix=runtime / "deskpilot" / "daemon.sock"), StatusRequest(type="status"))
    settings = settings_for(base)
    request_ = replay_request(script(base, [{"action": "wait", "time": 0}]))
    assert submit_or_none(settings, request_, env={"XDG_RUNTIME_DIR": str(runtime)}) is None  # run it here
    status = cli("status", env={"XDG_RUNTIME_DIR": str(runtime)})
    assert status.returncode == 2 and len(status.stderr.strip().splitlines()) == 1, status.stderr
    assert "path too long" in status.stderr and "Traceback" not in status.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_cancels_the_daemons_task_and_exits_3(base: Path, signum: int) -> None:
    long_wait = script(base, [{"action": "left_click", "coordinate": [5, 5]}, {"action": "wait", "time": 30}])
    with running_daemon(base, settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")})) as daemon:
        env = {**os.environ, "PYTHONPATH": str(REPO), "DISPLAY": ""}
        proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "replay", str(long_wait), "--config",
                                 str(config(base))], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: daemon.worker.current is not None and daemon.worker.current.trace_dir is not None,
                       timeout=30, what="the task to start in the daemon")
            task_id = daemon.worker.current.task_id
            time.sleep(0.3)  # into the wait step
            sent = time.monotonic()
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=15)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
        wait_until(lambda: daemon.store.get(task_id).state == "finished", what="the task to end")
        info = daemon.store.get(task_id)
    print(f"\n{signal.Signals(signum).name}: client exited {proc.returncode} after {1000 * took:.0f} ms")
    assert proc.returncode == 3, err
    assert info.status == "cancelled" and "cancelled" in err
