"""What a hostile, slow or buggy peer can make the daemon hold is bounded: a slow sender is cut off
at the whole-request deadline, token-less TCP peers never lock the owner out, an answer flood does
not grow memory, task files must be small regular files, the queue has a cap, and half-closing a
session is not a cancel. Each test prints what it measured (run with -s to see the figures)."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
from daemon_helpers import (
    Replies,
    SteppedPolicy,
    ask,
    connect,
    running_daemon,
    script,
    send,
    settings_for,
    submit,
    wait_until,
)

from actions.fake import FakeComputer
from agent.daemon.wire import auth_line

CLICK = {"action": "left_click", "coordinate": [20, 30]}
TOKEN = "bounds-token"


def closed_after(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the daemon closes `sock` (reading what it says), failing after `limit`."""
    started, said = time.monotonic(), b""
    sock.settimeout(0.05)
    while time.monotonic() - started < limit:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        said += chunk
    else:
        raise AssertionError(f"still connected after {limit} s")
    return time.monotonic() - started, said


def test_a_slow_sender_is_cut_off_at_the_request_deadline(base: Path) -> None:
    settings = settings_for(base, **{"daemon.read_timeout_s": 1.0})
    with running_daemon(base, settings) as daemon, connect(daemon) as sock:
        stop = threading.Event()

        def dribble() -> None:  # one byte every 0.2 s: each read on its own would never time out
            for byte in b'{"type": "status"' * 100:
                if stop.wait(0.2):
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return

        threading.Thread(target=dribble, daemon=True).start()
        try:
            took, said = closed_after(sock, 6.0)
        finally:
            stop.set()
        assert ask(daemon, {"type": "status"})["type"] == "status"
    print(f"\nslow sender (1 byte / 0.2 s) cut off after {took:.2f} s (read_timeout_s 1.0)")
    assert json.loads(said.splitlines()[0])["code"] == "timeout"
    assert 0.9 < took < 2.5


def test_token_less_tcp_peers_never_lock_the_owner_out(base: Path) -> None:
    port = _free_port()
    settings = settings_for(base, **{"daemon.tcp": f"127.0.0.1:{port}", "daemon.auth_timeout_s": 2.0,
                                     "daemon.max_tcp_clients": 4, "daemon.max_clients": 8, "daemon.max_queued": 2})
    with running_daemon(base, settings, token=TOKEN) as daemon:
        flood = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
        flood_started = time.monotonic()  # the last one is connected
        stop = threading.Event()

        def dribble() -> None:  # the attack: a byte every half second on every connection, no token
            while not stop.wait(0.5):
                for sock in flood:
                    try:
                        sock.send(b"{")
                    except OSError:
                        pass

        threading.Thread(target=dribble, daemon=True).start()
        try:
            owner = []
            for _ in range(10):
                started = time.monotonic()
                assert ask(daemon, {"type": "status"})["type"] == "status"
                owner.append(time.monotonic() - started)
                time.sleep(0.1)
            _, said = zip(*(closed_after(sock, 5.0) for sock in flood), strict=True)
            cut_off = time.monotonic() - flood_started
        finally:
            stop.set()
            for sock in flood:
                sock.close()
        codes = {json.loads(s.splitlines()[0])["code"] for s in said if s}
        with socket.create_connection(("127.0.0.1", port), timeout=5) as good:
            good.sendall(auth_line(TOKEN) + b'{"type": "status"}\n')
            assert Replies(good).next()["type"] == "status"
    print(f"\nowner's status under a 40-connection token-less TCP flood: max {1000 * max(owner):.1f} ms, "
          f"median {1000 * sorted(owner)[5]:.1f} ms; every TCP peer cut off within {cut_off:.2f} s "
          f"(auth_timeout_s 2.0); replies {sorted(codes)}")
    assert max(owner) < 1.0
    assert cut_off < 3.0 and codes <= {"busy", "unauthorized"} and "unauthorized" in codes


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_an_answer_flood_does_not_grow_memory(base: Path) -> None:
    settings = settings_for(base, **{"safety.confirm": "always", "safety.confirm_timeout_s": 60})
    fake = FakeComputer()
    with running_daemon(base, settings, computer_factory=lambda s: fake) as daemon:
        sock, replies = submit(daemon, kind="replay", path=str(script(base, [CLICK])))
        with sock:
            question, _ = replies.until("confirm_request")
            block = json.dumps({"type": "confirm", "question": 99999, "approve": True}).encode() + b"\n"
            block *= 16384  # ~0.8 MB of answers to a question nobody asked
            before, peak, sent = _rss_mib(), 0.0, 0
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                sock.sendall(block)
                sent += len(block)
                peak = max(peak, _rss_mib())
            time.sleep(0.3)
            peak = max(peak, _rss_mib())
            send(sock, {"type": "confirm", "question": question["question"], "approve": True})
            end, _ = replies.until("end", timeout=60)
    grown = peak - before
    print(f"\nanswer flood: {sent / 2**20:.0f} MiB of unasked answers in 3 s; RSS {before:.0f} -> peak "
          f"{peak:.0f} MiB (+{grown:.1f} MiB)")
    assert sent > 4 * 2**20  # the flood was real
    assert grown < 40, f"RSS grew {grown:.1f} MiB"
    assert end["status"] == "success" and [c for c in fake.calls if c[0] == "click"]


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "too_big", "fifo_in_trace", "directory_in_trace"])
def test_task_files_must_be_small_regular_files(base: Path, kind: str) -> None:
    path = {"dev_zero": Path("/dev/zero"), "fifo": base / "pipe.yaml", "too_big": base / "big.yaml",
            "fifo_in_trace": base / "trace", "directory_in_trace": base / "trace"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "too_big":
        with open(path, "wb") as f:
            f.truncate(2 << 20)  # sparse: big on paper, nothing on disk
    elif kind == "fifo_in_trace":
        path.mkdir()
        (path / "trace.jsonl").write_text("{}\n")
        os.mkfifo(path / "step-0001.png")
    elif kind == "directory_in_trace":
        (path / "trace.jsonl").mkdir(parents=True)
    settings = settings_for(base, **{"daemon.max_task_file_bytes": 1 << 20})
    with running_daemon(base, settings) as daemon:
        started = time.monotonic()
        sock, replies = submit(daemon, kind="replay", path=str(path))
        with sock:
            reply = replies.next(timeout=5)
        took = time.monotonic() - started
        assert ask(daemon, {"type": "status"})["queued"] == 0
    assert reply is not None and reply["type"] == "error" and reply["code"] == "bad_task", reply
    expected = "more than daemon.max_task_file_bytes" if kind == "too_big" else "not a regular file"
    assert expected in reply["message"] and took < 2


def test_the_queue_has_a_cap(base: Path) -> None:
    policy = SteppedPolicy(steps=1, gated=True)
    settings = settings_for(base, **{"daemon.max_queued": 2, "daemon.max_clients": 5})
    with running_daemon(base, settings, policy=policy) as daemon:
        held = [submit(daemon, kind="run", task="task 0")]
        held[0][1].until("started")
        held += [submit(daemon, kind="run", task=f"task {n}") for n in (1, 2)]  # these two wait
        for _, replies in held[1:]:
            replies.until("queued")
        sock, replies = submit(daemon, kind="run", task="one too many")
        with sock:
            refused = replies.next()
        assert ask(daemon, {"type": "status"})["queued"] == 2  # the owner still gets an answer
        policy.allow(10)
        for sock, replies in held:
            with sock:
                assert replies.until("end")[0]["status"] == "success"
    assert refused["code"] == "busy" and "queue is full" in refused["message"]


def test_half_closing_a_session_is_not_a_cancel_and_heartbeats_flow(base: Path) -> None:
    policy = SteppedPolicy(steps=2, gated=True)
    settings = settings_for(base, **{"daemon.heartbeat_s": 0.1})
    with running_daemon(base, settings, policy=policy) as daemon:
        sock, _ = submit(daemon, kind="run", task="half-closed")
        replies = Replies(sock, keep_heartbeats=True)
        with sock:
            sock.shutdown(socket.SHUT_WR)  # as `nc -N` does once it has sent the request
            replies.until("started")
            replies.until("heartbeat")
            time.sleep(0.3)
            assert daemon.worker.current is not None and not daemon.worker.current.stop.is_set()
            policy.allow(3)
            end, _ = replies.until("end")
    assert end["status"] == "success" and end["steps"] == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_full_close_still_cancels(base: Path) -> None:
    policy = SteppedPolicy(steps=5, gated=True)
    with running_daemon(base, policy=policy) as daemon:
        sock, replies = submit(daemon, kind="run", task="closed")
        started, _ = replies.until("started")
        sock.close()
        wait_until(lambda: daemon.store.get(started["id"]).state == "finished", what="the cancelled task")
        policy.allow(10)
        assert daemon.store.get(started["id"]).status == "cancelled"


def test_daemon_traces_are_private(base: Path) -> None:
    settings = settings_for(base, **{"safety.confirm": "always"})
    with running_daemon(base, settings) as daemon:
        sock, replies = submit(daemon, kind="replay", path=str(script(base, [CLICK])))
        with sock:
            question, _ = replies.until("confirm_request")  # its preview is written into the trace too
            send(sock, {"type": "confirm", "question": question["question"], "approve": True})
            end, _ = replies.until("end")
    trace_dir = Path(end["trace_dir"])
    assert stat.S_IMODE(trace_dir.stat().st_mode) == 0o700
    modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in trace_dir.iterdir()}
    assert "trace.jsonl" in modes and "confirm-001.png" in modes and set(modes.values()) == {"0o600"}, modes
