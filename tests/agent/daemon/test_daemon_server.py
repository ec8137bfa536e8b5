"""The daemon in a thread, with a fake computer: submit and stream, status, queue order, cancel,
client disconnect, the peer-uid check and the protocol's error replies."""

from __future__ import annotations

import os
import socket
import stat
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

from agent.traces.store import read_trace

CLICK = {"action": "left_click", "coordinate": [20, 30]}


def test_replay_is_streamed_step_by_step_to_its_end(base: Path) -> None:
    path = script(base, [CLICK, {"action": "type", "text": "hé"}])
    with running_daemon(base) as daemon:
        sock, replies = submit(daemon, kind="replay", path=str(path))
        with sock:
            end, seen = replies.until("end")
    kinds = [r["type"] for r in seen]
    assert kinds == ["queued", "started", "step", "step", "step", "end"]
    assert seen[0]["position"] == 0 and seen[0]["id"] == end["id"]
    steps = [r for r in seen if r["type"] == "step"]
    assert [s["index"] for s in steps] == [1, 2, 3]
    assert steps[0]["action"] == {"action": "left_click", "coordinate": [20, 30]}
    assert steps[0]["verdict"]["decision"] == "allow" and steps[0]["outcome"]["status"] == "executed"
    assert {"decide", "gate", "execute", "trace"} <= set(steps[0]["timings_ms"])
    assert end["status"] == "success" and end["exit_code"] == 0 and end["steps"] == 3
    trace = read_trace(end["trace_dir"])
    assert trace.end.status == "success" and trace.header.daemon_task == end["id"]


def test_socket_is_private(base: Path) -> None:
    with running_daemon(base) as daemon:
        assert stat.S_IMODE(os.stat(daemon.paths.socket).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(daemon.paths.socket.parent).st_mode) == 0o700
    assert not daemon.paths.socket.exists()


def test_run_tasks_share_the_policy_loaded_once(base: Path) -> None:
    policy, built = SteppedPolicy(steps=1), []

    def factory(settings: object) -> SteppedPolicy:
        built.append(settings)
        return policy

    with running_daemon(base, policy_factory=factory) as daemon:
        assert ask(daemon, {"type": "status"})["policy"] == "loaded"  # preloaded before the first task
        for text in ("first", "second"):
            sock, replies = submit(daemon, kind="run", task=text, options={"max_steps": 5})
            with sock:
                end, _ = replies.until("end")
            assert end["status"] == "success" and end["steps"] == 2
        status = ask(daemon, {"type": "status"})
    assert policy.tasks == ["first", "second"] and len(built) == 1
    assert status["running"] is None and status["queued"] == 0


def test_queue_runs_in_order_and_reports_positions(base: Path) -> None:
    policy = SteppedPolicy(steps=1, gated=True)
    with running_daemon(base, policy=policy) as daemon:
        first, first_replies = submit(daemon, kind="run", task="one")
        first_replies.until("started")
        wait_until(policy.deciding.is_set, what="the first task to decide")
        others, positions = [], []
        for text in ("two", "three"):  # one after the other: connections are served concurrently
            others.append(submit(daemon, kind="run", task=text))
            positions.append(others[-1][1].until("queued")[0]["position"])
        assert positions == [1, 2]
        queue = ask(daemon, {"type": "queue"})["tasks"]
        assert [(t["summary"], t["state"], t["position"]) for t in queue] == [
            ("one", "running", None), ("two", "queued", 1), ("three", "queued", 2)]
        status = ask(daemon, {"type": "status"})
        assert status["running"]["summary"] == "one" and status["queued"] == 2
        policy.allow(6)
        _, seen = others[1][1].until("end")  # the last one moved up as the others started
        ends = [replies.until("end")[0] for _, replies in [(first, first_replies), others[0]]]
        for sock in (first, *(sock for sock, _ in others)):
            sock.close()
    assert policy.tasks == ["one", "two", "three"]
    assert [e["status"] for e in [*ends, seen[-1]]] == ["success"] * 3
    assert [r["type"] for r in seen][:2] == ["queued", "started"] and seen[0]["position"] == 1


def test_cancel_running_and_queued_tasks(base: Path) -> None:
    policy = SteppedPolicy(steps=5, gated=True)
    with running_daemon(base, policy=policy) as daemon:
        running, running_replies = submit(daemon, kind="run", task="long")
        running_replies.until("started")
        queued, queued_replies = submit(daemon, kind="run", task="waiting")
        queued_id = queued_replies.until("queued")[0]["id"]
        assert ask(daemon, {"type": "cancel", "id": queued_id}) == {"type": "cancelled", "id": queued_id,
                                                                    "was": "queued"}
        end, _ = queued_replies.until("end")
        assert end["status"] == "cancelled" and end["exit_code"] == 3
        wait_until(policy.deciding.is_set, what="the long task to decide")
        reply = ask(daemon, {"type": "cancel"})
        assert reply["type"] == "cancelled" and reply["was"] == "running"
        policy.allow(1)
        end, _ = running_replies.until("end")
        assert ask(daemon, {"type": "cancel", "id": "0123abcd"})["code"] == "not_found"
        assert ask(daemon, {"type": "cancel"})["code"] == "not_found"
        running.close()
        queued.close()
    assert end["status"] == "cancelled" and end["exit_code"] == 3 and "cancelled by request" in end["reason"]
    assert read_trace(end["trace_dir"]).end.status == "cancelled"
    assert policy.tasks == ["long"]


def test_client_disconnect_mid_task_cancels_it_cleanly(base: Path) -> None:
    policy = SteppedPolicy(steps=5, gated=True)
    with running_daemon(base, policy=policy) as daemon:
        sock, replies = submit(daemon, kind="run", task="abandoned")
        started, _ = replies.until("started")
        policy.allow(1)
        replies.until("step")
        wait_until(policy.deciding.is_set, what="the second decision")
        sock.close()
        wait_until(lambda: daemon.worker.current is not None and daemon.worker.current.stop.is_set(),
                   what="the stop flag")
        policy.allow(1)
        wait_until(lambda: daemon.store.get(started["id"]).state == "finished", what="the task to end")
        info = daemon.store.get(started["id"])
    assert info.status == "cancelled" and "the client disconnected" in info.reason
    trace = read_trace(started["trace_dir"])
    assert trace.end.status == "cancelled" and len(trace.steps) == 2


def test_a_detached_task_survives_its_client(base: Path) -> None:
    path = script(base, [CLICK])
    with running_daemon(base) as daemon:
        sock, replies = submit(daemon, kind="replay", path=str(path), options={"detach": True})
        task_id = replies.until("queued")[0]["id"]
        sock.close()
        wait_until(lambda: daemon.store.get(task_id).state == "finished", what="the detached task")
        assert daemon.store.get(task_id).status == "success"


def test_peer_with_another_uid_is_refused(base: Path) -> None:
    with running_daemon(base, allowed_uid=os.getuid() + 1) as daemon:
        reply = ask(daemon, {"type": "status"})
    assert reply["type"] == "error" and reply["code"] == "forbidden" and str(os.getuid()) in reply["message"]


@pytest.mark.parametrize(("message", "code"), [
    (b"not json\n", "bad_request"),
    (b'{"type": "launch"}\n', "bad_request"),
    (b'{"type": "status", "extra": 1}\n', "bad_request"),
    (b'{"type": "submit", "kind": "run", "task": "x", "options": {"max_steps": "5"}}\n', "bad_request"),
    (b'{"type": "submit", "kind": "replay", "path": "relative.yaml"}\n', "bad_request"),
    (b'{"type": "submit", "kind": "replay", "path": "/no/such/script.yaml"}\n', "bad_task"),
    (b'{"type": "submit", "kind": "run", "task": "needs a model"}\n', "bad_task"),
    (b"\xff\xfe\n", "bad_request"),
    (b"[1, 2]\n", "bad_request"),
])
def test_bad_requests_get_an_error_reply(base: Path, message: bytes, code: str) -> None:
    with running_daemon(base) as daemon:
        reply = ask(daemon, message)
        assert reply["type"] == "error" and reply["code"] == code, reply
        assert ask(daemon, {"type": "status"})["type"] == "status"


def test_oversized_and_silent_clients_get_an_error(base: Path) -> None:
    settings = settings_for(base, **{"daemon.max_message_bytes": 4096, "daemon.read_timeout_s": 0.3})
    with running_daemon(base, settings) as daemon:
        assert ask(daemon, b"{" + b" " * 10_000 + b"}\n")["code"] == "too_large"
        assert ask(daemon, b'{"type": "status"' + b" " * 10_000)["code"] == "too_large"
        with connect(daemon) as sock:
            assert Replies(sock).next()["code"] == "timeout"
        with connect(daemon) as sock:
            send(sock, b'{"type": "status"}')
            sock.shutdown(socket.SHUT_WR)  # a last line without its newline still counts
            assert Replies(sock).next()["type"] == "status"
