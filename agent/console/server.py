"""The console's HTTP server: the stdlib's threading HTTP server on loopback, one random token.

Why the standard library and not a framework: the console is one page, a JSON API of a few routes
and one event stream (Server-Sent Events); `http.server` serves that with no dependency to install,
audit or keep up to date, and the page needs no build step (plain HTML, CSS and JavaScript).

Security, the way Jupyter does it: the server binds to a loopback address only and makes a random
token (`secrets.token_urlsafe`, 32 bytes); the URL printed at the start carries it. Every request
must present it — `?token=` on GETs (the page, its event stream, images, reports) and the
`X-Deskpilot-Token` header on POSTs (buttons), which a form on another site cannot send. Requests
whose Host header is not this loopback address are refused too (DNS rebinding). Without the token:
403 and nothing else.

Bounded against other local users and broken clients (agent.console.bounds): other users' processes
are refused at accept, connections are counted, each request has a deadline.
Not for: what is shown (agent.console.hub) or the page itself (agent.console.page).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from actions.errors import DeskpilotError
from agent.console.bounds import MAX_CONNECTIONS, REQUEST_S, BoundedHandler, BoundedServer, stranger
from agent.console.hub import Hub

HEARTBEAT_S = 0.5  # how often an event stream writes (a closed page is found out by the next write)
MAX_BODY = 4096


class ConsoleError(DeskpilotError):
    """The console cannot listen where it was asked to (the port is taken); one line."""


class ConsoleServer:
    """Serves `hub` on `host:port` (0: a free port) until `close()`; `url` carries the token."""

    def __init__(self, hub: Hub, traces: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, allow_uids: tuple[int, ...] = (), request_s: float = REQUEST_S,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.hub, self.traces = hub, None if traces is None else Path(traces).absolute()
        self.token = token or secrets.token_urlsafe(32)
        self.uids = {os.getuid(), *allow_uids}
        self.request_s = request_s
        try:
            self.httpd = BoundedServer((host, port), _handler(self), lambda conn: stranger(conn, self.uids),
                                       max_connections)
        except OSError as exc:
            raise ConsoleError(f"the console cannot listen on {host}:{port}: {exc.strerror or exc} (console.port; "
                               "0 picks a free port)") from None
        self.host, self.port = host, self.httpd.server_address[1]
        self.closing = threading.Event()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="deskpilot-console", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={quote(self.token)}"

    def start(self) -> ConsoleServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def allowed_hosts(self) -> set[str]:
        return {f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]")}

    def authorized(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())


def _handler(console: ConsoleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BoundedHandler):
        server_version = "deskpilot-console"
        protocol_version = "HTTP/1.1"
        request_s = console.request_s

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the run
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if not self._admitted(query.get("token")):
                return
            routes: dict[str, Callable[[], None]] = {
                "/": self._page, "/api/state": self._state, "/api/events": lambda: self._events(query),
                "/api/screen": self._screen, "/api/traces": self._traces,
                "/api/preview": lambda: self._preview(query),
            }
            if url.path.startswith("/api/report/"):
                return self._report(url.path.removeprefix("/api/report/"))
            route = routes.get(url.path)
            if route is None:
                return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
            route()

        def do_POST(self) -> None:
            if not self._admitted(self.headers.get("X-Deskpilot-Token")):
                return
            given = (self.headers.get("Content-Length") or "0").strip()
            if not (given.isascii() and given.isdigit()):
                self.close_connection = True  # where this body ends cannot be told
                return self._json({"error": "a POST needs a valid Content-Length"}, HTTPStatus.BAD_REQUEST)
            length = int(given)
            if length > MAX_BODY:
                self.close_connection = True
                return self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"too large", "text/plain")
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except (ValueError, RecursionError):
                return self._json({"error": "the body must be a JSON object"}, HTTPStatus.BAD_REQUEST)
            path = urlsplit(self.path).path
            if path == "/api/answer":
                number, approve = body.get("question"), body.get("approve")
                if not isinstance(number, int) or not isinstance(approve, bool):
                    return self._json({"error": "needs question (a number) and approve (true/false)"},
                                      HTTPStatus.BAD_REQUEST)
                taken = console.hub.answer(number, approve)
                return self._json({"taken": taken}, HTTPStatus.OK if taken else HTTPStatus.CONFLICT)
            if path == "/api/control":
                said = console.hub.control(str(body.get("do")))
                if said is None:
                    return self._json({"error": f"no control {body.get('do')!r} here"}, HTTPStatus.NOT_FOUND)
                return self._json({"done": said})
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

        # -- routes ----------------------------------------------------------------------------------------
        def _page(self) -> None:
            from agent.console.page import PAGE

            self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")

        def _state(self) -> None:
            state = console.hub.snapshot()
            queue = console.hub.queue
            try:
                state["queue"] = list(queue()) if queue is not None else None
            except Exception as exc:  # the daemon went away: say so on the page
                state["queue_error"] = f"{type(exc).__name__}: {exc}"
            self._json(state)

        def _events(self, query: dict[str, str]) -> None:
            """Server-Sent Events: every event after `since`, then new ones as they happen."""
            try:  # a reconnecting EventSource says where it was
                seq = int(self.headers.get("Last-Event-ID") or query.get("since", "0"))
            except ValueError:
                seq = 0
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            hub = console.hub
            hub.joined()
            try:
                while not console.closing.is_set():
                    events = hub.events_since(seq, HEARTBEAT_S)
                    for number, event in events:
                        self.wfile.write(f"id: {number}\ndata: {json.dumps(event)}\n\n".encode())
                        seq = number
                        if event["kind"] == "question":
                            self.wfile.flush()
                            hub.shown(event["question"]["number"])
                    if not events:
                        self.wfile.write(b": alive\n\n")
                    self.wfile.flush()
            except OSError:  # the page was closed
                pass
            finally:
                hub.left()

        def _screen(self) -> None:
            data = console.hub.screen()
            if data is None:
                return self._send(HTTPStatus.NOT_FOUND, b"no screenshot yet", "text/plain")
            self._send(HTTPStatus.OK, data, "image/png")

        def _preview(self, query: dict[str, str]) -> None:
            number = query.get("n", "")
            data = console.hub.preview(int(number)) if number.isdigit() else None
            if data is None:
                return self._send(HTTPStatus.NOT_FOUND, b"no such question open", "text/plain")
            self._send(HTTPStatus.OK, data, "image/png")

        def _traces(self) -> None:
            from agent.console.traces import list_traces

            self._json({"traces": list_traces(console.traces) if console.traces else []})

        def _report(self, name: str) -> None:
            from agent.console.traces import report_html

            page = report_html(console.traces, name) if console.traces else None
            if page is None:
                return self._send(HTTPStatus.NOT_FOUND, b"no such trace", "text/plain")
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

        # -- helpers ---------------------------------------------------------------------------------------
        def _admitted(self, token: str | None) -> bool:
            if self.headers.get("Host") not in console.allowed_hosts():
                self._send(HTTPStatus.FORBIDDEN, b"forbidden: wrong host", "text/plain")
                return False
            if not console.authorized(token):
                time.sleep(0.05)  # a guesser gets few tries a second per connection
                self._send(HTTPStatus.FORBIDDEN, b"forbidden: open the URL deskpilot printed (it carries the token)",
                           "text/plain")
                return False
            return True

        def _json(self, value: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
            self._send(status, json.dumps(value).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")  # the token stays out of Referer headers
            self.end_headers()
            self.wfile.write(body)

    return Handler
