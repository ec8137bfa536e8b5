"""The daemon's client side: hand a task to a running daemon and show it live, or ask it something.

`submit_or_none(settings, request)` connects to the daemon's socket; when nobody answers there it
returns None and the caller runs the task in-process. Otherwise it streams the task: one line per
step on stderr (index, action, verdict, outcome, timings), confirmation questions answered on this
terminal (no terminal, or no answer in time: not allowed), the run's notices (paused, resumed) on
stderr, and the end printed like an in-process run, returning its exit code. Ctrl+C, SIGTERM and
SIGHUP cancel the task in the daemon and exit 3; closing only our sending side does not cancel.
Any socket error while connecting means "no daemon"; a daemon that takes the connection but stays
silent (no reply, no heartbeat) within the deadlines ends the command with one line, never a hang.
`request` sends one status/queue/cancel/resume request and returns the typed reply.
Not for: the server (`agent.daemon.server`) or argument parsing (`agent.cli.daemon`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from actions.errors import CANCELLED, DeskpilotError
from agent.config import Settings
from agent.daemon.config import resolve_paths
from agent.daemon.wire import (
    CancelRequest,
    ConfirmAnswer,
    ConfirmRequest,
    End,
    ErrorReply,
    LineReader,
    Notice,
    Options,
    ProtocolError,
    Queued,
    Started,
    StepEvent,
    Submit,
    auth_line,
    decode_reply,
    encode,
)

REPLY_LIMIT = 64 << 20
SILENT_HEARTBEATS = 3  # heartbeats missed before a client says the daemon stopped answering
BAD_INPUT_CODES = ("bad_request", "too_large", "bad_task", "unauthorized", "forbidden")
Confirm = Callable[[ConfirmRequest], bool]


class NoDaemon(DeskpilotError, ConnectionError):
    """Nobody answers on the daemon's socket (any socket error while connecting counts)."""


class DaemonSilent(DeskpilotError, TimeoutError):
    """The daemon took the connection but did not answer in time (it may be stuck); exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class Endpoint:
    unix: Path | None = None
    tcp: tuple[str, int] | None = None
    token: str | None = None
    timeout_s: float = 10.0  # to connect, and for each one-shot reply

    def __str__(self) -> str:
        return str(self.unix) if self.unix is not None else f"tcp {self.tcp}"


def local_endpoint(settings: Settings, env: Mapping[str, str] | None = None) -> Endpoint:
    """The daemon socket `settings` point at (the environment is read here, at the edge)."""
    paths = resolve_paths(settings.daemon, os.environ if env is None else env, os.getuid())
    return Endpoint(unix=paths.socket, timeout_s=settings.daemon.client_timeout_s)


def connect(endpoint: Endpoint) -> socket.socket:
    """A connected socket (over TCP, the token line already sent); NoDaemon on any socket error."""
    try:
        if endpoint.unix is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(endpoint.timeout_s)
            try:
                sock.connect(str(endpoint.unix))
            except BaseException:
                sock.close()
                raise
        else:
            assert endpoint.tcp is not None
            sock = socket.create_connection(endpoint.tcp, timeout=endpoint.timeout_s)
            try:
                sock.sendall(auth_line(endpoint.token or ""))
            except BaseException:
                sock.close()
                raise
    except OSError as exc:  # refused, missing, path too long, permission, timed out...: no daemon here
        raise NoDaemon(f"no daemon answers on {endpoint} ({exc.strerror or exc})") from None
    return sock


def request(endpoint: Endpoint, message: BaseModel) -> Any:
    """One request, one typed reply (an `ErrorReply` is returned, not raised). Raises NoDaemon, or
    DaemonSilent when no whole reply arrives within the endpoint's timeout."""
    with connect(endpoint) as sock:
        try:
            try:
                sock.sendall(encode(message))
            except BrokenPipeError:  # refused as it connected (busy, another uid): its reason waits to be read
                pass
            line = LineReader(sock, REPLY_LIMIT).read_line(deadline=time.monotonic() + endpoint.timeout_s)
        except TimeoutError:
            raise DaemonSilent(f"the daemon on {endpoint} took the connection but did not answer within "
                               f"{endpoint.timeout_s:g} s; it may be stuck") from None
        except OSError as exc:
            raise NoDaemon(f"the daemon on {endpoint} went away ({exc.strerror or exc})") from None
    if line is None:
        return ErrorReply(code="internal", message="the daemon closed the connection without a reply")
    return decode_reply(line)


def replay_request(path: str | Path, var_args: Sequence[str] = (), dry_run: bool | None = None,
                   max_steps: int | None = None, trace_dir: str | None = None, detach: bool = False,
                   verify: bool | None = None, reground: bool | None = None) -> Submit:
    from policies.scripted.script_file import parse_var

    options = _options(dry_run, max_steps, trace_dir, detach).model_copy(update={"verify": verify,
                                                                              "reground": reground})
    return Submit(type="submit", kind="replay", path=str(Path(path).resolve()),
                  vars=dict(parse_var(v) for v in var_args), options=options)


def run_request(task: str, dry_run: bool | None = None, max_steps: int | None = None,
                trace_dir: str | None = None, detach: bool = False) -> Submit:
    return Submit(type="submit", kind="run", task=task, options=_options(dry_run, max_steps, trace_dir, detach))


def submit_or_none(settings: Settings, request: Submit, env: Mapping[str, str] | None = None,
                   confirm: Confirm | None = None, note: str = "", view: Any = None) -> int | None:
    """Run `request` on the daemon and return its exit code; None when no daemon answers.

    `note`: one more line to print once the daemon takes the task (an option of this command it ignores)."""
    endpoint = local_endpoint(settings, env)
    try:
        sock = connect(endpoint)
    except NoDaemon:
        return None
    print(f"deskpilot: handing the task to the daemon on {endpoint} (its config applies; --no-daemon runs "
          "it here)", file=sys.stderr, flush=True)
    if note:
        print(f"deskpilot: {note}", file=sys.stderr, flush=True)
    silence = max(settings.daemon.client_timeout_s, SILENT_HEARTBEATS * settings.daemon.heartbeat_s)
    return stream(sock, request, confirm or ask_on_tty, silence_s=silence, view=view)


def stream(sock: socket.socket, submit: BaseModel, confirm: Confirm, out: IO[str] | None = None,
           err: IO[str] | None = None, silence_s: float = 30.0, view: Any = None) -> int:
    """Send `submit` on `sock`, follow the task to its end, return the exit code. Silence for `silence_s`
    (the daemon sends a heartbeat every few seconds) ends it with 1; SIGINT, SIGTERM or SIGHUP cancel the
    task in the daemon and end it with 3. `view`: the live view (agent.watch.view.LiveView) that shows
    steps, notices and the summary, as for a run in this process (default: plain lines)."""
    out, err = out or sys.stdout, err or sys.stderr
    if view is None:
        from agent.watch.view import LiveView

        view = LiveView("plain", out, err)
    task: list[str] = []
    with sock, _signals_raise():
        try:
            sock.settimeout(silence_s)
            sock.sendall(encode(submit))
            reader = LineReader(sock, REPLY_LIMIT)
            while True:
                line = reader.read_line()
                if line is None:
                    _say(err, "deskpilot: the daemon closed the connection before the task ended")
                    return 1
                reply = decode_reply(line)
                if isinstance(reply, Queued) and not task:
                    task.append(reply.id)
                code = _show(reply, sock, confirm, out, err, view)
                if code is not None:
                    return code
        except (KeyboardInterrupt, Signalled) as exc:
            return _cancel(sock, task[0] if task else None, exc, err)
        except TimeoutError:
            _say(err, f"deskpilot: the daemon sent nothing for {silence_s:g} s; it may be stuck "
                      "(`deskpilot status` tells; the task may still be running)")
            return 1
        except (OSError, ProtocolError) as exc:
            _say(err, f"deskpilot: lost the daemon: {exc}")
            return 1


class Signalled(BaseException):
    """SIGTERM or SIGHUP arrived while a task ran in the daemon (SIGINT raises KeyboardInterrupt)."""


@contextmanager
def _signals_raise() -> Iterator[None]:
    """On the main thread, SIGTERM and SIGHUP raise `Signalled` (and SIGINT KeyboardInterrupt), so the
    task is cancelled in the daemon and the command exits 3 rather than dying of the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_(signum: int, frame: object) -> None:
        raise Signalled(signal.Signals(signum).name)

    wanted = [signal.SIGTERM, signal.SIGINT] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else raise_)
                for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _cancel(sock: socket.socket, task_id: str | None, why: BaseException, err: IO[str]) -> int:
    """Tell the daemon to cancel the task (closing the connection would too, a little later over TCP)."""
    try:
        sock.settimeout(1.0)
        sock.sendall(encode(CancelRequest(type="cancel", id=task_id)))
    except OSError:
        pass
    what = str(why) if isinstance(why, Signalled) else "Ctrl+C"
    _say(err, f"\ndeskpilot: cancelled by {what} (the daemon stops the task" + (f" {task_id})" if task_id else ")"))
    return CANCELLED


def _say(err: IO[str], line: str) -> None:
    try:
        print(line, file=err, flush=True)
    except (OSError, ValueError):  # the terminal went away (SIGHUP)
        pass


def _show(reply: Any, sock: socket.socket, confirm: Confirm, out: IO[str], err: IO[str], view: Any) -> int | None:
    match reply:
        case Queued(id=task_id, position=ahead):
            print(f"task {task_id} queued" + (f": {ahead} task(s) ahead" if ahead else ""), file=err, flush=True)
        case Started(id=task_id, trace_dir=trace_dir):
            print(f"task {task_id} started; trace: {trace_dir}", file=err, flush=True)
            view.started(Path(trace_dir))
        case StepEvent():
            view.step(_step_of(reply))
        case Notice(event=event, message=message):
            view.notice(event, message, echo=True)
        case ConfirmRequest():
            with view.asking():
                approve = bool(confirm(reply))
            sock.sendall(encode(ConfirmAnswer(type="confirm", question=reply.question, approve=approve)))
        case End():
            return view.finish(reply.status, reply.reason, reply.steps, reply.answer, reply.trace_dir,
                               reply.exit_code)
        case ErrorReply():
            print(f"deskpilot: the daemon refused: {reply.message} ({reply.code})", file=err)
            return 2 if reply.code in BAD_INPUT_CODES else 1
    return None


def _step_of(event: StepEvent) -> Any:
    """The trace's step line the event carries (`line`), or one built from the event's own fields."""
    from agent.traces.lines import LineError, StepLine

    data = event.line or {"index": event.index, "action": event.action, "verdict": event.verdict,
                          "outcome": event.outcome, "timings_ms": event.timings_ms, "error": event.error}
    try:
        return StepLine.from_json(data)
    except LineError:
        return StepLine.from_json({**data, "action": None, "verdict": None, "policy": None})


def step_line(event: StepEvent) -> str:
    """`  3  left_click coordinate=[640,400]  allow  executed  decide 12 · execute 30 · settle 80 ms`"""
    action = dict(event.action or {"action": "(unusable answer)"})
    name = action.pop("action", "?")
    args = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, separators=(',', ':'))}" for k, v in action.items())
    args = args if len(args) <= 60 else args[:57] + "..."
    verdict = event.verdict or {}
    decided = verdict.get("decision", "-")
    if verdict.get("rule") not in (None, "default"):
        decided += f" ({verdict['rule']})"
    timings = " · ".join(f"{k} {v:.0f}" for k, v in event.timings_ms.items())
    outcome = event.outcome.get("status", "?")
    return f"{event.index:>3}  {name} {args}  {decided}  {outcome}  {timings} ms".replace("   ", "  ")


def ask_on_tty(question: ConfirmRequest, stdin: IO[str] | None = None, err: IO[str] | None = None) -> bool:
    """Ask a person on this terminal: y/n within the question's timeout; no terminal means no."""
    stdin, err = stdin or sys.stdin, err or sys.stderr
    action = json.dumps(question.action, ensure_ascii=False)
    if not _is_tty(stdin):
        print(f"deskpilot: the daemon asks to allow {action} ({question.rule}); no terminal here: not allowed",
              file=err, flush=True)
        return False
    preview = f"\n  preview: {question.preview}" if question.preview else ""
    print(f"\ndeskpilot wants to: {action}\n  rule: {question.rule} — {question.reason}{preview}\n"
          f"Allow it? [y/N] (no answer in {question.timeout_s:g} s means no) ", end="", file=err, flush=True)
    from agent.safety.confirm import read_line

    answer = read_line(stdin.fileno(), question.timeout_s)
    approved = answer is not None and answer.strip().lower() in ("y", "yes")
    print("allowed" if approved else ("not allowed" if answer is not None else "\ntimed out: not allowed"),
          file=err, flush=True)
    return approved


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _options(dry_run: bool | None, max_steps: int | None, trace_dir: str | None, detach: bool) -> Options:
    resolved = str(Path(trace_dir).resolve()) if trace_dir else None
    return Options(dry_run=dry_run, max_steps=max_steps, trace_dir=resolved, detach=detach)
