"""Fuzzing the daemon's socket: random bytes, huge lines, invalid JSON, wrong types, unknown fields.

Every connection gets error replies (or a proper answer), never a crash, and the daemon keeps
answering afterwards. The edge itself is also fuzzed with hypothesis: `decode_request` raises
nothing but ProtocolError.
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daemon_helpers import SteppedPolicy, ask, connect, running_daemon, send, settings_for, submit
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.daemon.wire import ProtocolError, decode_answer, decode_request

REPLY_TYPES = {"error", "status", "queue", "cancelled", "resumed", "queued", "started", "step", "notice", "end",
               "confirm_request"}
VALID = [
    {"type": "status"}, {"type": "queue"}, {"type": "cancel", "id": "0123abcd"}, {"type": "resume"},
    {"type": "submit", "kind": "run", "task": "x", "options": {"dry_run": True, "max_steps": 2}},
    {"type": "submit", "kind": "replay", "path": "/nonexistent/x.yaml", "vars": {"a": "b"}},
]
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300), JSON.map(lambda v: json.dumps(v).encode()),
                 st.sampled_from(VALID).flatmap(lambda v: _mutations(v)).map(lambda v: json.dumps(v).encode())))
def test_the_edge_raises_only_protocol_errors(line: bytes) -> None:
    for decode in (decode_request, decode_answer):
        try:
            decode(line)
        except ProtocolError as exc:
            assert exc.code == "bad_request" and "\n" not in str(exc)


def _mutations(valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from([*valid, "extra", "options", "token"])
    return st.builds(lambda k, v: {**valid, k: v}, keys, JSON)


def payloads(rng: random.Random, limit: int) -> Iterator[bytes]:
    """A seeded mix of hostile messages (each one connection's worth of bytes)."""
    kinds = ["bytes", "huge", "truncated", "json", "wrong_type", "unknown_field", "lines", "empty", "nul", "deep"]
    for n in range(160):
        kind = kinds[n % len(kinds)]
        valid = dict(rng.choice(VALID))
        if kind == "bytes":
            yield bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 400))) + b"\n"
        elif kind == "huge":
            yield b'{"type": "status", "pad": "' + b"A" * (limit + rng.randrange(1, 5000)) + b'"}\n'
        elif kind == "truncated":
            text = json.dumps(valid).encode()
            yield text[: rng.randrange(1, len(text))] + b"\n"
        elif kind == "json":
            yield json.dumps(rng.choice([None, 1, 2.5, "status", [valid], {"type": None}, []])).encode() + b"\n"
        elif kind == "wrong_type":
            key = rng.choice(list(valid))
            yield json.dumps({**valid, key: rng.choice([None, 1, [], {}, "x", True, -1])}).encode() + b"\n"
        elif kind == "unknown_field":
            yield json.dumps({**valid, f"f{rng.randrange(99)}": rng.random()}).encode() + b"\n"
        elif kind == "lines":
            yield b"\n".join(json.dumps(v).encode() for v in rng.sample(VALID, 3)) + b"\n"
        elif kind == "empty":
            yield b"" if rng.random() < 0.5 else b"\n"
        elif kind == "nul":
            yield b'{"type": "st\x00atus"}\n'
        else:
            yield b"[" * 5000 + b"]" * 5000 + b"\n"


def exchange(sock: socket.socket, payload: bytes) -> list[dict]:
    """Send it all, end our side, read every reply line until the daemon closes."""
    try:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the daemon may have answered and closed before the end of a huge payload
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return [json.loads(line) for line in data.splitlines()]


def test_the_daemon_survives_a_fuzzing_client(base: Path) -> None:
    rng, limit = random.Random(20240607), 16 * 1024
    settings = settings_for(base, **{"daemon.max_message_bytes": limit, "daemon.read_timeout_s": 2.0})
    with running_daemon(base, settings, policy=SteppedPolicy(steps=1)) as daemon:
        for payload in payloads(rng, limit):
            with connect(daemon) as sock:
                replies = exchange(sock, payload)
            assert all(r.get("type") in REPLY_TYPES for r in replies), replies
            assert replies or not payload.strip(), payload[:200]
        assert ask(daemon, {"type": "status"})["type"] == "status"
        assert daemon.worker._thread.is_alive()


def test_garbage_inside_a_session_does_not_disturb_the_task(base: Path) -> None:
    rng = random.Random(7)
    policy = SteppedPolicy(steps=2, gated=True)
    with running_daemon(base, policy=policy) as daemon:
        sock, replies = submit(daemon, kind="run", task="keep going")
        with sock:
            replies.until("started")
            for _ in range(20):
                junk = rng.choice([b"{}", b"null", b'{"type":"confirm","question":"1","approve":true}',
                                   bytes(rng.getrandbits(8) for _ in range(50)).replace(b"\n", b"")])
                send(sock, junk + b"\n")
            policy.allow(3)
            end, seen = replies.until("end")
    assert end["status"] == "success"
    assert sum(r["type"] == "error" for r in seen) == 20
