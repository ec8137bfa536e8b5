"""The daemon's worker: takes queued tasks one at a time and runs them on this desktop.

Only this thread drives the desktop, so tasks never interleave. A task runs through
`agent.run.runner.execute` like any in-process run (same gate, same trace), with `RunHooks` that
stream each step to the submitting client, route confirmations to it and expose the stop flag.
`cancel` stops the running task (or drops a queued one); a client that disconnects mid-task
cancels it the same way, and the loop ends with status cancelled in the trace. `resume` resumes
the running task when a person's takeover paused it (the `resume` request, and SIGUSR1 to the
daemon process); the run's notices (paused, resumed, ...) go to the submitting client. The model
policy is built once by `ModelHolder` and reused by every `run` task (and to ground scripted
targets).
Not for: sockets and the protocol edge (`agent.daemon.server`).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actions.computer import Computer
from agent.config import Settings
from agent.daemon.queue_store import QueueStore
from agent.daemon.session import ClientConfirmer, Session
from agent.daemon.wire import (
    CancelReply,
    End,
    ErrorReply,
    Notice,
    ProtocolError,
    Queued,
    ResumeReply,
    Started,
    StepEvent,
    Submit,
)
from agent.run.hooks import RunHooks
from agent.traces.lines import StepLine
from policies.base import Closable, Policy

if TYPE_CHECKING:
    from agent.safety.assemble import SafetySession

PolicyFactory = Callable[[Settings], Policy]
ComputerFactory = Callable[[Settings], Computer]
CANCELLED = 3
CLAIM_RETRY_S = 1.0  # after the store failed to hand out a task


class ModelHolder:
    """Builds the model policy once (at start or first use) and keeps it for every later task."""

    def __init__(self, factory: PolicyFactory | None, settings: Settings) -> None:
        self.factory, self.settings = factory, settings
        self.policy: Policy | None = None
        self.problem = "" if factory else "no model policy in this daemon"

    def get(self) -> Policy:
        if self.policy is None:
            if self.factory is None:
                raise RuntimeError(self.problem)
            try:
                self.policy = self.factory(self.settings)
                _warm_up(self.policy)
                self.problem = ""
            except Exception as exc:
                self.problem = f"could not load: {exc}"
                raise
        return self.policy

    def describe(self) -> str:
        return "loaded" if self.policy is not None else (self.problem or "not loaded")

    def close(self) -> None:
        if isinstance(self.policy, Closable):
            self.policy.close()


def _warm_up(policy: Policy) -> None:
    """Compile and capture the model's decode step now, before any task (a backend that offers it)."""
    warm_up = getattr(getattr(policy, "backend", None), "warm_up", None)
    if callable(warm_up):
        warm_up()


@dataclass
class _Current:
    task_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    trace_dir: Path | None = None
    cause: str = ""
    safety: SafetySession | None = None  # set once the run is assembled (resume goes through it)


class Worker:
    def __init__(self, store: QueueStore, settings: Settings, model: ModelHolder,
                 computer_factory: ComputerFactory | None = None, log: Callable[[str], None] | None = None) -> None:
        self.store, self.settings, self.model = store, settings, model
        self.computer_factory, self.log = computer_factory, log or _stderr
        self.sessions: dict[str, Session] = {}
        self.current: _Current | None = None
        self.closing = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.RLock()
        self._health = "ok"
        self.observer: Any = None  # daemon.console: agent.console.daemon.DaemonConsole (hooks, ended)
        self._thread = threading.Thread(target=self._loop, name="deskpilot-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, task_id: str, request: Submit, session: Session) -> None:
        """Queue a task (ProtocolError `busy` when `daemon.max_queued` tasks already wait)."""
        limit = self.settings.daemon.max_queued
        with self._lock:
            if self.store.count_queued() >= limit:
                raise ProtocolError("busy", f"the queue is full ({limit} tasks wait); try again later")
            self.sessions[task_id] = session
            self.store.add(task_id, request)
            ahead = 1 if self.current is not None else 0
            session.send(Queued(id=task_id, position=(self.store.position(task_id) or 1) - 1 + ahead))
        self.log(f"task {task_id} queued: {request.kind} {request.summary()!r}")
        self._wake.set()

    def cancel(self, task_id: str | None, cause: str = "cancelled by request") -> CancelReply | ErrorReply:
        with self._lock:
            current = self.current
            if current is not None and task_id in (None, current.task_id):
                current.cause = current.cause or cause
                current.stop.set()
                return CancelReply(id=current.task_id, was="running")
            if task_id is not None and self.store.cancel_queued(task_id, cause):
                session = self.sessions.pop(task_id, None)
                if session is not None:
                    session.finish(End(id=task_id, status="cancelled", reason=cause, steps=0, exit_code=CANCELLED))
                self.log(f"task {task_id} cancelled before it started ({cause})")
                self._announce_positions()
                return CancelReply(id=task_id, was="queued")
        what = f"no task {task_id} is queued or running" if task_id else "no task is running"
        return ErrorReply(code="not_found", message=what, id=task_id)

    def resume(self, task_id: str | None, how: str = "deskpilot resume") -> ResumeReply | ErrorReply:
        """Resume the running task if a takeover paused it (from any thread, a signal handler too)."""
        with self._lock:
            current = self.current
            if current is None or task_id not in (None, current.task_id):
                what = f"task {task_id} is not running" if task_id else "no task is running"
                return ErrorReply(code="not_found", message=what, id=task_id)
            safety = current.safety
        resumed = safety is not None and safety.resume(how)  # outside the lock: resuming tells the client
        self.log(f"task {current.task_id} " + ("resumed" if resumed else "was not paused") + f" ({how})")
        return ResumeReply(id=current.task_id, was="paused" if resumed else "running")

    def disconnected(self, session: Session) -> None:
        """The submitting client went away before the end: cancel its task unless it detached."""
        with self._lock:
            if self.sessions.get(session.task_id) is session:
                del self.sessions[session.task_id]
        if not session.detach and not self.closing.is_set():
            self.cancel(session.task_id, "the client disconnected")

    def close(self, timeout: float = 30.0) -> None:
        """Stop the running task (it is recorded as interrupted) and the worker; queued tasks stay."""
        self.closing.set()
        with self._lock:
            if self.current is not None:
                self.current.cause = "the daemon stopped while this task ran"
                self.current.stop.set()
            for task_id, session in list(self.sessions.items()):
                if self.current is None or task_id != self.current.task_id:
                    session.finish(ErrorReply(code="shutdown", id=task_id, message=(
                        f"the daemon is stopping; task {task_id} stays queued and runs when it is back")))
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def health(self) -> str:
        """What `status` says of the worker: ok, what failed last, or that it stopped."""
        if not self._thread.is_alive() and not self.closing.is_set():
            return "stopped: no task will run; restart the daemon"
        return self._health

    def _loop(self) -> None:
        """Supervised: a failure claiming or finishing a task is logged and the loop goes on."""
        while not self.closing.is_set():
            try:
                with self._lock:
                    claimed = self.store.claim_next()
                    if claimed is not None:
                        self.current = _Current(claimed[0])
            except Exception as exc:  # the store failed (disk full, locked, corrupt): try again later
                self._fault("claiming the next task", exc, failing=True)
                self._wake.wait(CLAIM_RETRY_S)
                continue
            if self._health.startswith("failing"):
                self._health = "ok (recovered from " + self._health.removeprefix("failing: ") + ")"
            if claimed is None:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            try:
                self._announce_positions()
                self._run(*claimed)
            except Exception as exc:  # _run handles the run's failures; this is a bug of ours
                self._fault(f"task {claimed[0]}", exc)
            finally:
                with self._lock:
                    self.current = None

    def _run(self, task_id: str, stored: str) -> None:
        current = self.current
        assert current is not None
        self.log(f"task {task_id} started")
        try:
            end = self._execute(current, Submit.model_validate_json(stored))
        except Exception as exc:  # never let one task take the daemon down
            self.log(f"task {task_id} failed:\n{traceback.format_exc()}")
            status, code = ("error", 2) if _is_bad_input(exc) else ("error", 1)
            end = End(id=task_id, status=status, reason=_one_line(exc), steps=0, exit_code=code,
                      trace_dir=str(current.trace_dir) if current.trace_dir else None)
        if current.cause and end.status == "cancelled":
            end = end.model_copy(update={"reason": f"{current.cause}: {end.reason}"})
        state = "interrupted" if self.closing.is_set() and current.stop.is_set() else "finished"
        end = self._record_end(task_id, end, state)
        self.log(f"task {task_id} ended: {end.status} ({end.reason})")
        with self._lock:  # nothing runs any more by the time the client hears the end
            self.current = None
            session = self.sessions.pop(task_id, None)
        if session is not None:
            session.finish(end)

    def _record_end(self, task_id: str, end: End, state: str) -> End:
        """Store the end; if the store fails, the task ends `error` saying so (recorded if the store lets us)."""
        try:
            self.store.finish(task_id, end.status, end.reason, end.exit_code, end.trace_dir, state)
            return end
        except Exception as exc:
            self._fault(f"task {task_id}: recording its end", exc)
            end = end.model_copy(update={"status": "error", "exit_code": 1, "reason": (
                f"the run ended {end.status} ({end.reason}), but the queue could not record it: {_one_line(exc)}")})
        try:
            self.store.finish(task_id, end.status, end.reason, end.exit_code, end.trace_dir, state)
        except Exception as exc:
            self._fault(f"task {task_id}: recording its end as error", exc)
        return end

    def _fault(self, what: str, exc: BaseException, failing: bool = False) -> None:
        self.log(f"{what} failed: {_one_line(exc)}\n{traceback.format_exc()}")
        when = time.strftime("%H:%M:%S")
        state = "failing:" if failing else "ok (last fault:"
        self._health = f"{state} {what} at {when}: {_one_line(exc)}" + ("" if failing else ")")

    def _execute(self, current: _Current, request: Submit) -> End:
        from agent.daemon.tasks import prepare
        from agent.run.runner import execute

        task_id = current.task_id
        prepared = prepare(request, self.settings, self.model)
        confirmer = ClientConfirmer(lambda: self.sessions.get(task_id), task_id,
                                    self.settings.safety.confirm_timeout_s, current.stop, lambda: current.trace_dir)
        hooks = RunHooks(confirmer=confirmer, stop=current.stop, on_start=lambda d: self._started(current, d),
                         on_step=lambda line: self._step(task_id, line),
                         on_safety=lambda safety: setattr(current, "safety", safety),
                         on_notice=lambda event, line: self._send(task_id, Notice(id=task_id, event=event,
                                                                                  message=line)),
                         resume_via="`deskpilot resume`", stop_via="`deskpilot cancel`")
        if self.observer is not None:
            hooks = self.observer.hooks(hooks)
        computer = self.computer_factory(prepared.settings) if self.computer_factory else None
        try:
            report = execute(prepared.task, prepared.policy, prepared.settings,
                             prepared.origin.with_(daemon_task=task_id), computer=computer, hooks=hooks)
        finally:
            prepared.close()
        if self.observer is not None:
            self.observer.ended(report)
        r = report.result
        return End(id=task_id, status=r.status, reason=r.reason, steps=r.steps, answer=r.answer,
                   trace_dir=str(report.trace_dir), exit_code=r.exit_code)

    def _started(self, current: _Current, trace_dir: Path) -> None:
        current.trace_dir = trace_dir
        self.store.set_trace(current.task_id, str(trace_dir))
        self._send(current.task_id, Started(id=current.task_id, trace_dir=str(trace_dir)))

    def _step(self, task_id: str, line: StepLine) -> None:
        self._send(task_id, StepEvent(id=task_id, index=line.index, action=line.action,
                                      verdict=None if line.verdict is None else line.verdict.to_json(),
                                      outcome=line.outcome.to_json(),
                                      timings_ms={k: float(v) for k, v in line.timings_ms.items()}, error=line.error,
                                      line=line.to_json()))

    def _send(self, task_id: str, message: Any) -> None:
        session = self.sessions.get(task_id)
        if session is not None and not session.send(message):
            self.disconnected(session)

    def _announce_positions(self) -> None:
        """Tell every waiting client its new place."""
        with self._lock:  # re-entrant: `cancel` calls this holding it
            ahead = 1 if self.current is not None else 0
            for info in self.store.queued():
                session = self.sessions.get(info.id)
                if session is not None:
                    session.send(Queued(id=info.id, position=(info.position or 1) - 1 + ahead))


def _is_bad_input(exc: Exception) -> bool:
    from actions.errors import DeskpilotError

    return isinstance(exc, DeskpilotError | ValueError)  # every expected error has the one root


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:500]


def _stderr(line: str) -> None:
    print(f"deskpilot daemon: {line}", file=sys.stderr, flush=True)
