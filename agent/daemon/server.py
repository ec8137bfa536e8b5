"""`deskpilot daemon`: keep the policy loaded and take tasks over a private Unix socket.

The socket lives in a 0700 directory with mode 0600, and every connection's peer uid is checked
with SO_PEERCRED as it is accepted: only the allowed uid (the daemon's own) is served. TCP is off
unless `daemon.tcp` names a loopback address; then a TCP peer must send `AUTH <token>` first
(checked within `auth_timeout_s`, at most 4 KiB read) before any JSON is read, and non-loopback
peers are refused. Every resource a peer can take is bounded: connection slots per transport (TCP
peers never take the owner's Unix slots), the whole request line's deadline and size, queued tasks,
confirm answers held per session. One daemon per queue: the queue's lock is taken before the queue
is touched, and `running` tasks are recovered only under it. Each accepted connection gets a thread;
the protocol edge (`agent.daemon.wire`) turns its first line into a typed request or an error reply;
nothing a client sends can take the daemon down. Tasks go to the supervised `Worker`.
Not for: running tasks (`agent.daemon.worker`) or the client side (`agent.daemon.client`).
"""

from __future__ import annotations

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
from agent.daemon.lock import QueueLock
from agent.daemon.queue_store import QueueStore
from agent.daemon.session import Session
from agent.daemon.sockets import DaemonError, peer_uid, tcp_listener, unix_listener
from agent.daemon.tasks import TaskProblem, check
from agent.daemon.wire import (
    AUTH_PREFIX,
    MAX_TOKEN_BYTES,
    CancelRequest,
    ErrorReply,
    Heartbeat,
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
    token_matches,
)
from agent.daemon.worker import ComputerFactory, ModelHolder, PolicyFactory, Worker, _stderr

ACCEPT_POLL_S = 0.2
SESSION_POLL_S = 0.1
LINGER_S = 2.0
REPLY_TIMEOUT_S = 2.0


class Daemon:
    def __init__(self, settings: Settings, paths: DaemonPaths, *, policy_factory: PolicyFactory | None = None,
                 computer_factory: ComputerFactory | None = None, token: str | None = None,
                 allowed_uid: int | None = None, log: Any = None) -> None:
        self.settings, self.cfg, self.paths = settings, settings.daemon, paths
        self.token, self.allowed_uid = token or "", os.getuid() if allowed_uid is None else allowed_uid
        self.model = ModelHolder(policy_factory, settings)
        self.computer_factory, self.log = computer_factory, log or _stderr
        self.lock: QueueLock | None = None
        self.store: QueueStore | None = None
        self.worker: Worker | None = None
        self.closed = threading.Event()
        self._listeners: list[tuple[socket.socket, str]] = []
        self._slots = {"unix": threading.BoundedSemaphore(self.cfg.max_clients),
                       "tcp": threading.BoundedSemaphore(self.cfg.max_tcp_clients)}
        self.tcp_address: tuple[str, int] | None = None
        self._bound = False

    def start(self, preload: bool | None = None) -> None:
        """Take the queue's lock, load the model, bind the sockets, recover the queue, start serving.
        A refusal (queue or socket in use, no token) raises DaemonError having changed nothing."""
        if self.cfg.tcp and not self.token:
            raise DaemonError(f"daemon.tcp is set but ${self.cfg.token_env} is empty: TCP needs a bearer token")
        if len(self.token.encode()) > MAX_TOKEN_BYTES:
            raise DaemonError(f"${self.cfg.token_env} is longer than {MAX_TOKEN_BYTES} bytes")
        self.lock = QueueLock.acquire(self.paths.lock, self.paths.socket)
        if (self.cfg.preload_model if preload is None else preload) and self.model.factory is not None:
            self.model.get()
        self._listeners.append((unix_listener(self.paths.socket), "unix"))
        self._bound = True
        if self.cfg.tcp:
            tcp = tcp_listener(*parse_tcp(self.cfg.tcp))
            self.tcp_address = tcp.getsockname()[:2]
            self._listeners.append((tcp, "tcp"))
        self.store = QueueStore(self.paths.queue_db, self.cfg.keep_finished)
        for task_id in self.store.recover():
            self.log(f"task {task_id} was running when the last daemon stopped: marked interrupted, not run again")
        self.worker = Worker(self.store, self.settings, self.model, self.computer_factory, self.log)
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
        if self.worker is not None:
            self.worker.close()
        self.model.close()
        if self.store is not None:
            self.store.close()
        if self._bound:
            try:
                if stat.S_ISSOCK(os.lstat(self.paths.socket).st_mode):
                    os.unlink(self.paths.socket)
            except OSError:
                pass
        if self.lock is not None:
            self.lock.release()
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
            try:
                self._check_peer(conn, transport)  # before a slot or a thread: strangers cost nothing
            except ProtocolError as exc:
                _refuse(conn, ErrorReply(code=exc.code, message=str(exc)))
                continue
            if not self._slots[transport].acquire(blocking=False):
                _refuse(conn, ErrorReply(code="busy", message="too many connections; try again"))
                continue
            threading.Thread(target=self._serve, args=(conn, transport), daemon=True).start()

    def _serve(self, conn: socket.socket, transport: str) -> None:
        try:
            with conn:
                line = LineReader(conn, self.cfg.max_message_bytes)
                if transport == "tcp" and not self._authenticated(conn, line):
                    return  # closed at once: nothing more is read from a peer without the token
                self._handle(conn, line)
                _drain(conn)
        finally:
            self._slots[transport].release()

    def _handle(self, conn: socket.socket, line: LineReader) -> None:
        try:
            first = line.read_line(deadline=time.monotonic() + self.cfg.read_timeout_s)
            if first is None:
                return
            conn.settimeout(REPLY_TIMEOUT_S)
            request = decode_request(first)
            if isinstance(request, Submit):
                self._submit(request, conn, line)
            else:
                _reply(conn, self._answer(request))
        except ProtocolError as exc:
            _reply(conn, ErrorReply(code=exc.code, message=str(exc)))
        except TimeoutError:
            _reply(conn, ErrorReply(code="timeout", message=f"no whole request within {self.cfg.read_timeout_s:g} s"))
        except OSError:
            pass  # the client went away
        except Exception:  # a bug of ours: say so, keep serving
            self.log(f"error serving a client:\n{traceback.format_exc()}")
            _reply(conn, ErrorReply(code="internal", message="internal error; see the daemon's log"))

    def _authenticated(self, conn: socket.socket, line: LineReader) -> bool:
        """A TCP peer's first line must be `AUTH <token>`: read at most that much, within auth_timeout_s."""
        limit, line.limit = line.limit, len(AUTH_PREFIX) + MAX_TOKEN_BYTES
        try:
            given = line.read_line(deadline=time.monotonic() + self.cfg.auth_timeout_s)
        except (TimeoutError, ProtocolError, OSError):
            given = None
        if given is None or not token_matches(given, self.token):
            _refuse(conn, ErrorReply(code="unauthorized", message="a TCP connection must start with the token"))
            return False
        line.limit = limit
        return True

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

    def resume(self, how: str) -> ResumeReply | ErrorReply:
        """Resume the running task if a takeover paused it (the daemon's SIGUSR1 handler calls this)."""
        if self.worker is None:
            return ErrorReply(code="not_found", message="the daemon has not started")
        reply = self.worker.resume(None, how)
        if isinstance(reply, ErrorReply):
            self.log(f"{how}: {reply.message}")
        return reply

    def _answer(self, request: StatusRequest | QueueRequest | CancelRequest | ResumeRequest) -> Any:
        store, worker = self.store, self.worker
        assert store is not None and worker is not None
        current = worker.current
        running = store.get(current.task_id) if current is not None else None
        if isinstance(request, StatusRequest):
            return StatusReply(pid=os.getpid(), policy=self.model.describe(), running=running,
                               queued=store.count_queued(), worker=worker.health())
        if isinstance(request, QueueRequest):
            return QueueReply(tasks=[*([running] if running else []), *store.queued(), *store.recent()])
        if isinstance(request, ResumeRequest):
            return worker.resume(request.id, "deskpilot resume")
        return worker.cancel(request.id, "cancelled by request")

    def _submit(self, request: Submit, conn: socket.socket, line: LineReader) -> None:
        assert self.worker is not None
        if self.closed.is_set() or self.worker.closing.is_set():
            raise ProtocolError("shutdown", "the daemon is stopping")
        try:
            check(request, self.model, self.cfg.max_task_file_bytes)
        except TaskProblem as exc:
            raise ProtocolError("bad_task", str(exc)) from None
        session = Session(conn, secrets.token_hex(4), request.options.detach, self.cfg.max_pending_answers)
        self.worker.submit(session.task_id, request, session)
        self._session(session, line)

    def _session(self, session: Session, line: LineReader) -> None:
        """Read confirm answers until the task ends, with a heartbeat every `heartbeat_s`. The client
        shutting down its sending side (end of stream) is not a cancel; the client being gone is: a
        hang-up (Unix), or a message that cannot be delivered (TCP: the next heartbeat at the latest)."""
        ended_at, beat, reading = 0.0, time.monotonic() + self.cfg.heartbeat_s, True
        poller = select.poll()
        while True:
            now = time.monotonic()
            if session.done.is_set():
                ended_at = ended_at or now
                if now - ended_at > LINGER_S:
                    return  # the client has had its end; do not wait on it for ever
            elif now >= beat:
                beat = now + self.cfg.heartbeat_s
                session.send(Heartbeat(id=session.task_id))
            if session.gone.is_set():
                return self._gone(session)
            poller.register(session.conn, select.POLLIN if reading else 0)
            events = 0 if reading and line.pending() else _events(poller, SESSION_POLL_S)
            if events & (select.POLLHUP | select.POLLERR):
                return self._gone(session)
            if not reading:
                continue
            try:
                data = line.take()
                if data is None:
                    if events & select.POLLIN and not line.fill():
                        reading = False  # half-closed: keep sending; a hang-up still cancels
                    continue
            except ProtocolError as exc:
                session.send(ErrorReply(code=exc.code, message=str(exc), id=session.task_id))
                return self._gone(session)
            except OSError:
                return self._gone(session)
            if not session.done.is_set():
                self._answer_line(session, data)

    def _gone(self, session: Session) -> None:
        """The client went away: stop its run first, so that a pending question ends as "stopped"."""
        if not session.done.is_set() and self.worker is not None:
            self.worker.disconnected(session)
        session.gone.set()

    def _answer_line(self, session: Session, data: bytes) -> None:
        try:
            message = decode_answer(data)
        except ProtocolError as exc:
            session.send(ErrorReply(code=exc.code, message=str(exc), id=session.task_id))
            return
        if isinstance(message, CancelRequest):  # of this session's task, whatever id it names
            assert self.worker is not None
            self.worker.cancel(session.task_id, "cancelled by its client")
        else:
            session.offer(message)


def _events(poller: Any, seconds: float) -> int:
    ready = poller.poll(int(seconds * 1000))
    return ready[0][1] if ready else 0


def _reply(conn: socket.socket, message: Any) -> None:
    try:
        conn.settimeout(REPLY_TIMEOUT_S)
        conn.sendall(encode(message))
    except OSError:
        pass


def _refuse(conn: socket.socket, message: Any) -> None:
    """Say why and close, without ever waiting on the peer (this runs on the accept thread)."""
    try:
        conn.setblocking(False)
        conn.send(encode(message))
    except OSError:
        pass
    finally:
        conn.close()


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
