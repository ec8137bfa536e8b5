"""The daemon's client side: hand a task to a running daemon and show it live, or ask it something.

`submit_or_none(settings, request)` connects to the daemon's socket; when nobody answers there it
returns None and the caller runs the task in-process. Otherwise it streams the task: one line per
step on stderr (index, action, verdict, outcome, timings), confirmation questions answered on this
terminal (no terminal, or no answer in time: not allowed), the run's notices (paused, resumed) on
stderr, and the end printed like an in-process run, returning its exit code. Ctrl+C closes the
connection, which makes the daemon cancel the task.
`request` sends one status/queue/cancel/resume request and returns the typed reply.
Not for: the server (`agent.daemon.server`) or argument parsing (`agent.cli.daemon`).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from agent.config import Settings
from agent.daemon.config import resolve_paths
from agent.daemon.wire import (
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
    decode_reply,
    encode,
)

REPLY_LIMIT = 64 << 20
BAD_INPUT_CODES = ("bad_request", "too_large", "bad_task", "unauthorized", "forbidden")
Confirm = Callable[[ConfirmRequest], bool]


class NoDaemon(ConnectionError):
    """Nobody answers on the daemon's socket."""


@dataclass(frozen=True)
class Endpoint:
    unix: Path | None = None
    tcp: tuple[str, int] | None = None
    token: str | None = None

    def __str__(self) -> str:
        return str(self.unix) if self.unix is not None else f"tcp {self.tcp}"


def local_endpoint(settings: Settings, env: Mapping[str, str] | None = None) -> Endpoint:
    """The daemon socket `settings` point at (the environment is read here, at the edge)."""
    return Endpoint(unix=resolve_paths(settings.daemon, os.environ if env is None else env, os.getuid()).socket)


def connect(endpoint: Endpoint, timeout: float = 5.0) -> socket.socket:
    try:
        if endpoint.unix is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(str(endpoint.unix))
            except OSError:
                sock.close()
                raise
        else:
            assert endpoint.tcp is not None
            sock = socket.create_connection(endpoint.tcp, timeout=timeout)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
        raise NoDaemon(f"no daemon answers on {endpoint}") from exc
    sock.settimeout(None)
    return sock


def request(endpoint: Endpoint, message: BaseModel, timeout: float = 10.0) -> Any:
    """One request, one typed reply (an `ErrorReply` is returned, not raised). Raises NoDaemon."""
    with connect(endpoint) as sock:
        sock.settimeout(timeout)
        sock.sendall(encode(_with_token(message, endpoint)))
        line = LineReader(sock, REPLY_LIMIT).read_line()
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
                   confirm: Confirm | None = None, note: str = "") -> int | None:
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
    return stream(sock, _with_token(request, endpoint), confirm or ask_on_tty)


def stream(sock: socket.socket, submit: BaseModel, confirm: Confirm, out: IO[str] | None = None,
           err: IO[str] | None = None) -> int:
    """Send `submit` on `sock`, follow the task to its end, return the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    with sock:
        try:
            sock.sendall(encode(submit))
            reader = LineReader(sock, REPLY_LIMIT)
            while True:
                line = reader.read_line()
                if line is None:
                    print("deskpilot: the daemon closed the connection before the task ended", file=err)
                    return 1
                code = _show(decode_reply(line), sock, confirm, out, err)
                if code is not None:
                    return code
        except KeyboardInterrupt:
            print("\ndeskpilot: cancelled (the daemon stops the task)", file=err)
            return 3
        except (OSError, ProtocolError) as exc:
            print(f"deskpilot: lost the daemon: {exc}", file=err)
            return 1


def _show(reply: Any, sock: socket.socket, confirm: Confirm, out: IO[str], err: IO[str]) -> int | None:
    match reply:
        case Queued(id=task_id, position=ahead):
            print(f"task {task_id} queued" + (f": {ahead} task(s) ahead" if ahead else ""), file=err, flush=True)
        case Started(id=task_id, trace_dir=trace_dir):
            print(f"task {task_id} started; trace: {trace_dir}", file=err, flush=True)
        case StepEvent():
            print(step_line(reply), file=err, flush=True)
        case Notice(message=message):
            print(f"deskpilot: {message}", file=err, flush=True)
        case ConfirmRequest():
            answer = ConfirmAnswer(type="confirm", question=reply.question, approve=bool(confirm(reply)))
            sock.sendall(encode(answer))
        case End():
            print(f"status: {reply.status} ({reply.reason}); steps: {reply.steps}", file=out)
            if reply.answer is not None:
                print(f"answer: {reply.answer}", file=out)
            print(f"trace: {reply.trace_dir}", file=out, flush=True)
            return reply.exit_code
        case ErrorReply():
            print(f"deskpilot: the daemon refused: {reply.message} ({reply.code})", file=err)
            return 2 if reply.code in BAD_INPUT_CODES else 1
    return None


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


def _with_token(message: BaseModel, endpoint: Endpoint) -> BaseModel:
    return message.model_copy(update={"token": endpoint.token}) if endpoint.token else message


def _options(dry_run: bool | None, max_steps: int | None, trace_dir: str | None, detach: bool) -> Options:
    resolved = str(Path(trace_dir).resolve()) if trace_dir else None
    return Options(dry_run=dry_run, max_steps=max_steps, trace_dir=resolved, detach=detach)
