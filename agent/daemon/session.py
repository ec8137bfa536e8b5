"""A submitting client as the daemon's worker sees it: a `Session`, and the `ClientConfirmer`.

A `Session` is the connection of the client that submitted a task: events go out through it (a
failed send means the client is gone), confirm answers come in through it. `ClientConfirmer`
routes the gate's confirmations to that client: it sends a `confirm_request` and waits for the
matching `confirm` answer. Answers to no open question are dropped and at most
`daemon.max_pending_answers` are held, however many a client sends. No client, a client that goes
away, the run being stopped or no answer within the timeout: not allowed.
Not for: reading from the socket (`agent.daemon.server` does) or running tasks (`agent.daemon.worker`).
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from actions.gate import Confirmation, Verdict
from actions.geometry import Screenshot
from actions.schema import Action, action_to_json
from agent.daemon.wire import ConfirmAnswer, ConfirmRequest, encode

SEND_TIMEOUT_S = 5.0
POLL_S = 0.05


class Session:
    def __init__(self, conn: socket.socket, task_id: str, detach: bool = False, max_answers: int = 4) -> None:
        self.conn, self.task_id, self.detach = conn, task_id, detach
        self.answers: queue.Queue[ConfirmAnswer] = queue.Queue(maxsize=max_answers)
        self.asking = 0  # the question a confirmer waits on now (0: none)
        self.gone = threading.Event()  # the client closed, or a send failed
        self.done = threading.Event()  # the daemon has said its last word (end, or shutdown)
        self._lock = threading.Lock()
        conn.settimeout(SEND_TIMEOUT_S)  # fixed for the session: the reader polls with select

    def send(self, message: BaseModel) -> bool:
        """Send one message; False (and the session counts as gone) when the client cannot take it."""
        if self.gone.is_set():
            return False
        data = encode(message)
        with self._lock:
            try:
                self.conn.sendall(data)
                return True
            except OSError:
                self.gone.set()
                return False

    def offer(self, answer: ConfirmAnswer) -> bool:
        """Keep an answer for the confirmer if it answers the open question and there is room;
        anything else is dropped, so a client flooding answers cannot grow the daemon's memory."""
        if answer.question != self.asking:
            return False
        try:
            self.answers.put_nowait(answer)
            return True
        except queue.Full:
            return False

    def finish(self, last: BaseModel) -> None:
        """Send the last message and end our side: the client's reader sees the end after it."""
        self.done.set()
        self.send(last)
        try:
            self.conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class ClientConfirmer:
    """Asks the submitting client (if any is attached) over its connection; see the module doc."""

    def __init__(self, session: Callable[[], Session | None], task_id: str, timeout_s: float,
                 stop: threading.Event, trace_dir: Callable[[], Path | None]) -> None:
        self.session, self.task_id, self.timeout_s = session, task_id, timeout_s
        self.stop, self.trace_dir = stop, trace_dir
        self.asked = 0

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> Confirmation:
        session = self.session()
        if session is None or session.gone.is_set():
            return Confirmation(False, "unavailable", "no client attached to ask")
        self.asked += 1
        request = ConfirmRequest(id=self.task_id, question=self.asked, action=action_to_json(action),
                                 rule=verdict.rule, reason=verdict.reason, timeout_s=self.timeout_s,
                                 preview=self._preview(action, shot))
        session.asking = self.asked
        try:
            if not session.send(request):
                return Confirmation(False, "unavailable", "the client went away")
            return self._wait(session, self.asked)
        finally:
            session.asking = 0

    def _wait(self, session: Session, question: int) -> Confirmation:
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self.stop.is_set():
                return Confirmation(False, "refused", "the run was stopped while asking")
            if session.gone.is_set():
                return Confirmation(False, "unavailable", "the client went away while asked")
            left = deadline - time.monotonic()
            if left <= 0:
                return Confirmation(False, "timed_out", f"no answer from the client in {self.timeout_s:g} s")
            try:
                answer = session.answers.get(timeout=min(POLL_S, left))
            except queue.Empty:
                continue
            if answer.question == question:  # an answer to an earlier, timed-out question is ignored
                outcome = "approved" if answer.approve else "refused"
                return Confirmation(answer.approve, outcome, "answered by the submitting client")

    def _preview(self, action: Action, shot: Screenshot) -> str | None:
        directory = self.trace_dir()
        if directory is None:
            return None
        try:
            from agent.safety.confirm import preview

            path = directory / f"confirm-{self.asked:03d}.png"
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:  # the user's only
                preview(shot, action).save(f, format="PNG")
            return str(path)
        except Exception:  # a preview is a courtesy; asking matters more
            return None
