"""`deskpilot daemon`: keep the policy loaded and take tasks over a private Unix socket.

The socket lives in a 0700 directory with mode 0600, and every connection's peer uid is checked
with SO_PEERCRED: only the allowed uid (the daemon's own) is served. TCP is off unless
`daemon.tcp` names a loopback address; then every request must carry the bearer token (passed in
by the CLI from the environment; never read here) and non-loopback peers are refused. Each
connection gets a thread; the protocol edge (`agent.daemon.wire`) turns its first line into a typed
request or an error reply; nothing a client sends can take the daemon down. Tasks go to the
`Worker`, which drives the desktop one task at a time from the SQLite queue.
Not for: running tasks (`agent.daemon.worker`) or the client side (`agent.daemon.client`).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import select
import socket
import stat
import threading
import time
import traceback
from typing import Any

from agent.config import Settings
from agent.daemon.config import DaemonPaths, parse_tcp
from agent.daemon.queue_store import QueueStore
from agent.daemon.session import Session
from agent.daemon.sockets import DaemonError, peer_uid, tcp_listener, unix_listener
from agent.daemon.tasks import TaskProblem, check
from agent.daemon.wire import (
    CancelRequest,
    ErrorReply,
    LineReader,
    ProtocolError,
    QueueReply,
    QueueRequest,
    ResumeReply,
    ResumeRequest,
    StatusReply,
    StatusRequest,
    Submit,
    decode_answer,
    decode_request,
    encode,
)
from agent.daemon.worker import ComputerFactory, ModelHolder, PolicyFactory, Worker

ACCEPT_POLL_S = 0.2
SESSION_POLL_S = 0.1
LINGER_S = 2.0


class Daemon:
    def __init__(self, settings: Settings, paths: DaemonPaths, *, policy_factory: PolicyFactory | None = None,
                 computer_factory: ComputerFactory | None = None, token: str | None = None,
                 allowed_uid: int | None = None, log: Any = None) -> None:
        self.settings, self.cfg, self.paths = settings, settings.daemon, paths
        self.token, self.allowed_uid = token or "", os.getuid() if allowed_uid is None else allowed_uid
        self.model = ModelHolder(policy_factory, settings)
        self.store = QueueStore(paths.queue_db, self.cfg.keep_finished)
        self.worker = Worker(self.store, settings, self.model, computer_factory, log)
        self.log = self.worker.log
        self.closed = threading.Event()
        self._listeners: list[tuple[socket.socket, str]] = []
        self._slots = threading.BoundedSemaphore(self.cfg.max_clients)
        self.tcp_address: tuple[str, int] | None = None
        self._bound = False

    def start(self, preload: bool | None = None) -> None:
        if self.cfg.tcp and not self.token:
            raise DaemonError(f"daemon.tcp is set but ${self.cfg.token_env} is empty: TCP needs a bearer token")
        if (self.cfg.preload_model if preload is None else preload) and self.model.factory is not None:
            self.model.get()
        self._listeners.append((unix_listener(self.paths.socket), "unix"))
        self._bound = True
        if self.cfg.tcp:
            tcp = tcp_listener(*parse_tcp(self.cfg.tcp))
            self.tcp_address = tcp.getsockname()[:2]
            self._listeners.append((tcp, "tcp"))
        self.worker.start()
        for listener, transport in self._listeners:
            listener.settimeout(ACCEPT_POLL_S)  # so the accept loop sees `closed`
            threading.Thread(target=self._accept, args=(listener, transport), daemon=True,
                             name=f"deskpilot-accept-{transport}").start()
        where = f" and tcp {self.tcp_address[0]}:{self.tcp_address[1]}" if self.tcp_address else ""
        self.log(f"listening on {self.paths.socket}{where} (pid {os.getpid()}); policy: {self.model.describe()}")

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for listener, _ in self._listeners:
            listener.close()
        self.worker.close()
        self.model.close()
        self.store.close()
        if not self._bound:
            return
        try:
            if stat.S_ISSOCK(os.lstat(self.paths.socket).st_mode):
                os.unlink(self.paths.socket)
        except OSError:
            pass
        self.log("stopped")

    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self, listener: socket.socket, transport: str) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.closed.is_set():
                    return
                continue
            if not self._slots.acquire(blocking=False):
                _reply(conn, ErrorReply(code="busy", message="too many connections; try again"))
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn, transport), daemon=True).start()

    def _serve(self, conn: socket.socket, transport: str) -> None:
        try:
            with conn:
                self._handle(conn, transport)
                _drain(conn)
        finally:
            self._slots.release()

    def _handle(self, conn: socket.socket, transport: str) -> None:
        conn.settimeout(self.cfg.read_timeout_s)
        try:
            self._check_peer(conn, transport)
            line = LineReader(conn, self.cfg.max_message_bytes)
            first = line.read_line()
            if first is None:
                return
            request = decode_request(first)
            self._authorize(request, transport)
            if isinstance(request, Submit):
                self._submit(request, conn, line)
            else:
                _reply(conn, self._answer(request))
        except ProtocolError as exc:
            _reply(conn, ErrorReply(code=exc.code, message=str(exc)))
        except TimeoutError:
            _reply(conn, ErrorReply(code="timeout", message=f"no request within {self.cfg.read_timeout_s:g} s"))
        except OSError:
            pass  # the client went away
        except Exception:  # a bug of ours: say so, keep serving
            self.log(f"error serving a client:\n{traceback.format_exc()}")
            _reply(conn, ErrorReply(code="internal", message="internal error; see the daemon's log"))

    def _check_peer(self, conn: socket.socket, transport: str) -> None:
        if transport == "tcp":
            host = conn.getpeername()[0]
            if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
                raise ProtocolError("forbidden", "only loopback clients are served")
            return
        uid = peer_uid(conn)
        if uid != self.allowed_uid:
            self.log(f"refused a client with uid {uid}")
            raise ProtocolError("forbidden", f"uid {uid} may not use this daemon")

    def _authorize(self, request: Any, transport: str) -> None:
        if transport != "tcp":
            return
        given = (request.token or "").encode()
        if not given or not hmac.compare_digest(given, self.token.encode()):
            raise ProtocolError("unauthorized", "a valid token is required over TCP")

    def resume(self, how: str) -> ResumeReply | ErrorReply:
        """Resume the running task if a takeover paused it (the daemon's SIGUSR1 handler calls this)."""
        reply = self.worker.resume(None, how)
        if isinstance(reply, ErrorReply):
            self.log(f"{how}: {reply.message}")
        return reply

    def _answer(self, request: StatusRequest | QueueRequest | CancelRequest | ResumeRequest) -> Any:
        if isinstance(request, StatusRequest):
            return StatusReply(pid=os.getpid(), policy=self.model.describe(), running=self.store.running(),
                               queued=len(self.store.queued()))
        if isinstance(request, QueueRequest):
            running = self.store.running()
            return QueueReply(tasks=[*([running] if running else []), *self.store.queued(), *self.store.recent()])
        if isinstance(request, ResumeRequest):
            return self.worker.resume(request.id, "deskpilot resume")
        return self.worker.cancel(request.id, "cancelled by request")

    def _submit(self, request: Submit, conn: socket.socket, line: LineReader) -> None:
        if self.closed.is_set() or self.worker.closing.is_set():
            raise ProtocolError("shutdown", "the daemon is stopping")
        try:
            check(request, self.model)
        except TaskProblem as exc:
            raise ProtocolError("bad_task", str(exc)) from None
        session = Session(conn, secrets.token_hex(4), request.options.detach)
        self.worker.submit(session.task_id, request, session)
        self._session(session, line)

    def _session(self, session: Session, line: LineReader) -> None:
        """Read confirm answers until the task ends; a client that leaves first cancels it."""
        ended_at = 0.0
        while True:
            if session.done.is_set():
                ended_at = ended_at or time.monotonic()
                if time.monotonic() - ended_at > LINGER_S:
                    return  # the client has had its end; do not wait on it for ever
            if not line.pending() and not select.select([session.conn], [], [], SESSION_POLL_S)[0]:
                continue
            try:
                data = line.read_line()
            except TimeoutError:
                continue
            except ProtocolError as exc:
                session.send(ErrorReply(code=exc.code, message=str(exc), id=session.task_id))
                data = None
            except OSError:
                data = None
            if data is None:  # stop the run first, so that a pending question ends as "stopped"
                if not session.done.is_set():
                    self.worker.disconnected(session)
                session.gone.set()
                return
            if not session.done.is_set():
                self._answer_line(session, data)

    def _answer_line(self, session: Session, data: bytes) -> None:
        try:
            session.answers.put(decode_answer(data))
        except ProtocolError as exc:
            session.send(ErrorReply(code=exc.code, message=str(exc), id=session.task_id))


def _reply(conn: socket.socket, message: Any) -> None:
    try:
        conn.settimeout(2.0)
        conn.sendall(encode(message))
    except OSError:
        pass


def _drain(conn: socket.socket, limit: int = 8 << 20, seconds: float = 1.0) -> None:
    """End our side, then read what the client still sends (briefly): closing a socket with unread
    data resets it, and the client could lose the reply it has not read yet."""
    try:
        conn.shutdown(socket.SHUT_WR)
        deadline, total = time.monotonic() + seconds, 0
        while total < limit and time.monotonic() < deadline:
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = conn.recv(65536)
            if not chunk:
                return
            total += len(chunk)
    except OSError:
        pass
