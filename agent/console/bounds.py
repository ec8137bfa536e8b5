"""The console server's bounds, against other local users and broken clients (any local process can
connect to a loopback port):

- other users' processes are refused at accept, before they cost a thread or a slot (`stranger`): the
  peer's uid comes from the kernel's socket table (agent.console.peers); `console.allow_uids` lets
  more in; where the system cannot tell (not Linux) the token alone guards, within the bounds below;
- at most `MAX_CONNECTIONS` connections at a time (an open page holds one event stream and a few
  short requests);
- each request, headers and body, must arrive whole within `REQUEST_S` of the connection being ready
  for it (a client sending a byte a second is cut off, an idle keep-alive connection closed); a
  write that cannot go out for `WRITE_TIMEOUT_S` (a page that stopped reading) ends the connection;
- a page that went away is no error, and any other error is one line, never a traceback.
Not for: the token, the routes or the body size (agent.console.server).
"""

from __future__ import annotations

import io
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agent.console.peers import PeerUnknown, loopback_peer_uid

MAX_CONNECTIONS = 64
REQUEST_S = 10.0  # a whole request (or the wait for the next one on a kept-alive connection)
WRITE_TIMEOUT_S = 10.0


def stranger(conn: socket.socket, uids: set[int]) -> str | None:
    """Why a just-accepted connection is not served (a process of a user not in `uids`), or None."""
    try:
        uid = loopback_peer_uid(conn)
    except PeerUnknown:
        return None  # the token alone guards here
    except OSError:
        return "gone"
    if uid is None:
        return "the connecting process could not be told"
    if uid not in uids:
        return f"forbidden: this console serves only its owner's processes (uid {os.getuid()}), not uid {uid}"
    return None


class BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server that refuses a connection `refusal` has a reason for, at accept, and serves
    at most `max_connections` at a time."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 refusal: Callable[[socket.socket], str | None], max_connections: int) -> None:
        self.refusal = refusal
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        why = self.refusal(request)
        if why is None and not self.slots.acquire(blocking=False):
            why = "busy: too many connections to the console; try again"
        if why is None:
            return True
        _refuse(request, why)
        return False

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread to release the slot
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A page that went away is no error; anything else is one line, never a traceback in the run's terminal."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            print(f"deskpilot: console: error serving a request: {type(error).__name__}: {error}", file=sys.stderr)


class BoundedHandler(BaseHTTPRequestHandler):
    """A request handler whose requests must arrive whole within `request_s`, and whose writes time out."""

    request_s = REQUEST_S
    deadline = 0.0

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(WRITE_TIMEOUT_S)
        self.rfile = io.BufferedReader(_Deadlined(self.connection, self))

    def handle_one_request(self) -> None:
        self.deadline = time.monotonic() + self.request_s
        super().handle_one_request()


def _refuse(conn: socket.socket, why: str) -> None:
    """Say why in one response, without reading anything from the peer; the server then closes."""
    body = why.encode()
    head = f"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n" \
           "Connection: close\r\n\r\n"
    try:
        conn.settimeout(0.2)
        conn.sendall(head.encode() + body)
    except OSError:
        pass


class _Deadlined(io.RawIOBase):
    """The request side of a connection: each read may wait only until the request's deadline."""

    def __init__(self, conn: socket.socket, handler: BoundedHandler) -> None:
        self.conn, self.handler = conn, handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.handler.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no whole request within {self.handler.request_s:g} s")
        self.conn.settimeout(left)
        try:
            return self.conn.recv_into(buffer)
        finally:
            self.conn.settimeout(WRITE_TIMEOUT_S)
