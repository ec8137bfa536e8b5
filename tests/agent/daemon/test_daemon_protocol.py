"""The wire format at the edge: typed requests, strict types, unknown fields refused, size limits,
replies round-tripping, and where the socket and queue live."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent.daemon.config import DaemonSettings, parse_tcp, resolve_paths
from agent.daemon.wire import (
    CancelReply,
    ConfirmRequest,
    End,
    ErrorReply,
    LineReader,
    Notice,
    ProtocolError,
    Queued,
    ResumeReply,
    ResumeRequest,
    Started,
    StatusReply,
    StepEvent,
    Submit,
    TaskInfo,
    decode_answer,
    decode_reply,
    decode_request,
    encode,
)


def test_a_replay_submit_becomes_a_typed_value() -> None:
    request = decode_request(b'{"type":"submit","kind":"replay","path":"/t/a.yaml","vars":{"who":"me"},'
                             b'"options":{"dry_run":true,"max_steps":4}}')
    assert isinstance(request, Submit) and request.vars == {"who": "me"}
    assert request.options.dry_run is True and request.options.max_steps == 4 and not request.options.detach


def test_a_resume_request_names_the_running_task_or_none() -> None:
    assert decode_request(b'{"type":"resume"}') == ResumeRequest(type="resume")
    assert decode_request(b'{"type":"resume","id":"0123abcd"}').id == "0123abcd"


@pytest.mark.parametrize(("line", "fragment"), [
    (b'{"type":"submit","kind":"run"}', "needs `task`"),
    (b'{"type":"submit","kind":"run","task":"x","path":"/a"}', "needs `task`"),
    (b'{"type":"submit","kind":"replay","task":"x","path":"/a"}', "needs `path`"),
    (b'{"type":"submit","kind":"replay","path":"a.yaml"}', "absolute"),
    (b'{"type":"submit","kind":"run","task":"x","options":{"max_steps":"3"}}', "max_steps"),
    (b'{"type":"submit","kind":"run","task":"x","options":{"max_steps":0}}', "max_steps"),
    (b'{"type":"submit","kind":"run","task":"x","options":{"dry_run":1}}', "dry_run"),
    (b'{"type":"submit","kind":"run","task":"x","options":{"fast":true}}', "fast"),
    (b'{"type":"submit","kind":"run","task":""}', "task"),
    (b'{"type":"submit","kind":"shell","task":"x"}', "kind"),
    (b'{"type":"status","verbose":true}', "verbose"),
    (b'{"type":"cancel","id":"../../etc"}', "id"),
    (b'{"type":"cancel","id":7}', "id"),
    (b'{"type":"resume","id":"../../etc"}', "id"),
    (b'{"type":"resume","paused":true}', "paused"),
    (b'{"kind":"run"}', "type"),
    (b'"status"', ""),
    (b"{", ""),
    (b"\xc3\x28", "UTF-8"),
])
def test_bad_requests_are_protocol_errors(line: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_request(line)
    assert err.value.code == "bad_request" and fragment in str(err.value) and "\n" not in str(err.value)


def test_confirm_answers_are_strict_too() -> None:
    assert decode_answer(b'{"type":"confirm","question":2,"approve":false}').approve is False
    for line in (b'{"type":"confirm","question":1,"approve":"yes"}', b'{"type":"confirm","question":0,'
                 b'"approve":true}', b'{"type":"status"}'):
        with pytest.raises(ProtocolError):
            decode_answer(line)


def test_every_reply_round_trips() -> None:
    info = TaskInfo(id="0123abcd", kind="run", state="queued", summary="t", position=1, submitted_at=1.5)
    replies = [
        ErrorReply(code="busy", message="m"), Queued(id="a", position=0), Started(id="a", trace_dir="/t"),
        StepEvent(id="a", index=1, action={"action": "left_click", "coordinate": [1, 2]},
                  verdict={"decision": "allow", "rule": "default", "reason": ""}, outcome={"status": "executed"},
                  timings_ms={"decide": 1.5}),
        ConfirmRequest(id="a", question=1, action={"action": "key", "keys": ["ctrl", "q"]}, rule="r", reason="why",
                       timeout_s=30),
        End(id="a", status="success", reason="done", steps=2, exit_code=0),
        StatusReply(pid=1, policy="loaded", running=info, queued=1), CancelReply(id="a", was="queued"),
        ResumeReply(id="a", was="paused"), Notice(id="a", event="paused", message="paused: ..."),
    ]
    for reply in replies:
        line = encode(reply)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert decode_reply(line[:-1]) == reply


def test_line_reader_limits_and_splits() -> None:
    a, b = socket.socketpair()
    with a, b:
        reader = LineReader(b, limit=10)
        a.sendall(b'{"a":1}\n{"b":2}\n')
        assert reader.read_line() == b'{"a":1}' and reader.pending() and reader.read_line() == b'{"b":2}'
        a.sendall(b"x" * 11 + b"\n")
        with pytest.raises(ProtocolError) as err:
            reader.read_line()
        assert err.value.code == "too_large"
    c, d = socket.socketpair()
    with c, d:
        c.sendall(b"tail without newline")
        c.shutdown(socket.SHUT_WR)
        reader = LineReader(d, limit=100)
        assert reader.read_line() == b"tail without newline" and reader.read_line() is None


def test_tcp_addresses() -> None:
    assert parse_tcp("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_tcp("[::1]:9") == ("::1", 9) and parse_tcp("localhost:1") == ("127.0.0.1", 1)
    for bad in ("10.0.0.1:80", "0.0.0.0:80", "host:80", "127.0.0.1:0", "127.0.0.1:x"):
        with pytest.raises(ValueError):
            parse_tcp(bad)


def test_default_paths_follow_xdg_and_fall_back() -> None:
    settings = DaemonSettings()
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "XDG_STATE_HOME": "/s", "HOME": "/home/me"}
    paths = resolve_paths(settings, env, 1000)
    assert paths.socket == Path("/run/user/1000/deskpilot/daemon.sock")
    assert paths.queue_db == Path("/s/deskpilot/queue.sqlite3")
    bare = resolve_paths(settings, {"HOME": "/home/me"}, 1000)
    assert bare.socket == Path("/tmp/deskpilot-1000/daemon.sock")
    assert bare.queue_db == Path("/home/me/.local/state/deskpilot/queue.sqlite3")
    configured = resolve_paths(DaemonSettings(socket="~/d.sock", queue_db="/q.db"), {"HOME": "/h"}, 5)
    assert configured.socket == Path("/h/d.sock") and configured.queue_db == Path("/q.db")
