"""The console's server holds against other local users and broken clients (agent.console.server):
other users' processes are refused before anything is read and cannot take the owner's slots; a
client sending a byte at a time, or idling on a kept-alive connection, is cut off at the request
deadline; connections are bounded; a POST's Content-Length must be valid."""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import time
from collections.abc import Iterator

import pytest

from agent.console.hub import Hub
from agent.console.server import ConsoleServer

REQUEST_S = 0.6
SLOTS = 4
NOBODY = 65534


@pytest.fixture
def console() -> Iterator[ConsoleServer]:
    with ConsoleServer(Hub(), request_s=REQUEST_S, max_connections=SLOTS) as server:
        yield server


def state(console: ConsoleServer) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", console.port, timeout=5)
    try:
        conn.request("GET", f"/api/state?token={console.token}")
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (None: still open after `seconds`)."""
    started = time.monotonic()
    while (left := started + seconds - time.monotonic()) > 0:
        if select.select([sock], [], [], left)[0]:
            try:
                if not sock.recv(65536):
                    return time.monotonic() - started
            except OSError:
                return time.monotonic() - started
    return None


def test_a_client_sending_a_byte_at_a_time_is_cut_off_at_the_request_deadline(console: ConsoleServer) -> None:
    request = f"GET /api/state?token={console.token} HTTP/1.1\r\nHost: 127.0.0.1:{console.port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", console.port)) as sock:
        started, cut = time.monotonic(), None
        for byte in request:  # one byte every 50 ms: each read is quick, the whole request is not
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                cut = time.monotonic() - started
                break
            if (gone := closed_within(sock, 0.05)) is not None:
                cut = time.monotonic() - started - 0.05 + gone
                break
        assert cut is not None, "a request sent a byte every 50 ms was served to its end"
        assert REQUEST_S - 0.05 <= cut < REQUEST_S + 1.0
    assert state(console)[0] == 200


def test_an_idle_kept_alive_connection_is_closed(console: ConsoleServer) -> None:
    with socket.create_connection(("127.0.0.1", console.port)) as sock:
        sock.sendall(f"GET /api/state?token={console.token} HTTP/1.1\r\nHost: 127.0.0.1:{console.port}\r\n\r\n"
                     .encode())
        time.sleep(0.1)
        assert b"200 OK" in sock.recv(65536)
        gone = closed_within(sock, REQUEST_S + 1.5)
        assert gone is not None and gone < REQUEST_S + 1.0


def test_connections_are_bounded_and_freed(console: ConsoleServer) -> None:
    held = [socket.create_connection(("127.0.0.1", console.port)) for _ in range(SLOTS)]
    try:
        time.sleep(0.1)
        status, body = state(console)
        assert status == 403 and body.startswith(b"busy: too many connections")
        time.sleep(REQUEST_S + 0.5)  # the idle ones are cut off: their slots come back
        assert state(console)[0] == 200
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize(("length", "body", "code"), [("-1", "{}", 400), ("abc", "{}", 400), ("", "{}", 400),
                                                     ("99999999", "{}", 413), ("4000", "[" * 4000, 400)])
def test_a_post_needs_a_valid_small_content_length_and_a_json_object(console: ConsoleServer, length: str,
                                                                     body: str, code: int) -> None:
    with socket.create_connection(("127.0.0.1", console.port), timeout=5) as sock:
        sock.sendall((f"POST /api/answer HTTP/1.1\r\nHost: 127.0.0.1:{console.port}\r\n"
                      f"X-Deskpilot-Token: {console.token}\r\nContent-Length: {length}\r\n\r\n{body}").encode())
        reply = sock.recv(65536)
    assert reply.startswith(f"HTTP/1.1 {code}".encode()), reply[:80]


def as_nobody(port: int, token: str, connections: int, hold_s: float) -> list[bytes]:
    """In a child running as uid 65534: open `connections` connections, each sending a request with the
    token, and return what came back on each (holding them open `hold_s` first)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: socket calls only, then out
        code = 0
        try:
            os.close(read)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(connections)]
            for sock in socks:
                sock.sendall(f"GET /api/state?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                             "Connection: close\r\n\r\n".encode())
            time.sleep(hold_s)
            replies = []
            for sock in socks:
                data = b""
                try:
                    while chunk := sock.recv(65536):
                        data += chunk
                except OSError:
                    pass
                replies.append(data.decode("latin-1"))
            os.write(write, json.dumps(replies).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0, "the child running as nobody failed"
    return [r.encode("latin-1") for r in json.loads(out)]


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run a client as another user")
def test_another_users_process_is_refused_before_it_can_take_a_slot(console: ConsoleServer) -> None:
    import threading

    got: list[list[bytes]] = []
    child = threading.Thread(target=lambda: got.append(as_nobody(console.port, console.token, 3 * SLOTS, 1.0)))
    child.start()
    time.sleep(0.4)  # the stranger's connections are open (and were answered at once)
    assert state(console)[0] == 200  # the owner still gets in: strangers took no slot
    child.join(10)
    replies = got[0]
    assert len(replies) == 3 * SLOTS
    for reply in replies:  # told why, even with the right token
        assert reply.startswith(b"HTTP/1.1 403") and b"serves only its owner's processes" in reply
        assert f"not uid {NOBODY}".encode() in reply and b'"controls"' not in reply


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run a client as another user")
def test_allow_uids_lets_another_user_in_with_the_token() -> None:
    with ConsoleServer(Hub(), allow_uids=(NOBODY,)) as server:
        (reply,) = as_nobody(server.port, server.token, 1, 0.2)
    assert reply.startswith(b"HTTP/1.1 200") and b'"controls"' in reply


def test_a_port_in_use_is_one_line() -> None:
    from agent.console.server import ConsoleError

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConsoleError) as refused:
            ConsoleServer(Hub(), port=port)
    message = str(refused.value)
    assert message.startswith(f"the console cannot listen on 127.0.0.1:{port}: ") and "\n" not in message
