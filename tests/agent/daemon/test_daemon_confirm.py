"""Confirmations go to the submitting client: yes, no, no answer in time, no client at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_helpers import running_daemon, script, send, settings_for, submit, wait_until

from actions.fake import FakeComputer
from agent.traces.store import read_trace

CLICK = {"action": "left_click", "coordinate": [20, 30]}


def confirming(base: Path, timeout_s: float = 10.0):
    settings = settings_for(base, **{"safety.confirm": "always", "safety.confirm_timeout_s": timeout_s})
    fake = FakeComputer()
    return running_daemon(base, settings, computer_factory=lambda s: fake), fake


@pytest.mark.parametrize(("approve", "status"), [(True, "success"), (False, "denied")])
def test_the_client_answers(base: Path, approve: bool, status: str) -> None:
    daemon_context, fake = confirming(base)
    with daemon_context as daemon:
        sock, replies = submit(daemon, kind="replay", path=str(script(base, [CLICK])))
        with sock:
            question, _ = replies.until("confirm_request")
            send(sock, b"this is not an answer\n")  # a bad line gets an error; the question stands
            assert replies.until("error")[0]["id"] == question["id"]
            send(sock, {"type": "confirm", "question": question["question"], "approve": approve})
            end, seen = replies.until("end")
    assert question["action"] == CLICK and question["rule"] == "confirm_always" and question["question"] == 1
    assert question["timeout_s"] == 10.0 and Path(question["preview"]).is_file()
    step = next(r for r in seen if r["type"] == "step")
    assert step["verdict"]["confirmation"] == ("approved" if approve else "refused")
    assert end["status"] == status
    clicks = [c for c in fake.calls if c[0] == "click"]
    assert clicks == ([("click", (20, 30), "left", 1)] if approve else [])


def test_no_answer_in_time_is_no(base: Path) -> None:
    daemon_context, fake = confirming(base, timeout_s=0.3)
    with daemon_context as daemon:
        sock, replies = submit(daemon, kind="replay", path=str(script(base, [CLICK])))
        with sock:
            question, _ = replies.until("confirm_request")
            end, seen = replies.until("end")
            late = {"type": "confirm", "question": question["question"], "approve": True}
    step = next(r for r in seen if r["type"] == "step")
    assert step["verdict"]["decision"] == "deny" and step["verdict"]["confirmation"] == "timed_out"
    assert end["status"] == "denied" and not [c for c in fake.calls if c[0] == "click"]
    assert late["approve"]  # nobody is listening for it any more


def test_a_detached_task_has_no_one_to_ask(base: Path) -> None:
    daemon_context, fake = confirming(base)
    with daemon_context as daemon:
        sock, replies = submit(daemon, kind="replay", path=str(script(base, [CLICK])), options={"detach": True})
        task_id = replies.until("queued")[0]["id"]
        sock.close()
        wait_until(lambda: daemon.store.get(task_id).state == "finished", what="the detached task")
        info = daemon.store.get(task_id)
    assert info.status == "denied"
    step = read_trace(info.trace_dir).steps[0]
    assert step.verdict.confirmation == "unavailable"
    assert not [c for c in fake.calls if c[0] == "click"]


def test_disconnecting_while_asked_cancels(base: Path) -> None:
    daemon_context, _ = confirming(base)
    with daemon_context as daemon:
        sock, replies = submit(daemon, kind="replay", path=str(script(base, [CLICK, CLICK])))
        question, _ = replies.until("confirm_request")
        sock.close()
        wait_until(lambda: daemon.store.get(question["id"]).state == "finished", what="the task to end")
        info = daemon.store.get(question["id"])
    assert info.status == "cancelled" and "the client disconnected" in info.reason
    trace = read_trace(info.trace_dir)
    assert trace.end.status == "cancelled" and trace.steps[0].verdict.decision == "deny"
