"""The daemon's subcommands: `deskpilot daemon`, `status`, `cancel [ID]`, `resume [ID]`, `queue`.

`daemon` runs in the foreground until SIGTERM or Ctrl+C; SIGUSR1 resumes its running task when a
person's takeover paused it (as `deskpilot resume` does). It reads the TCP token from the
environment variable `daemon.token_env` names (this is the edge; the daemon module never reads the
environment). `status`, `cancel`, `resume` and `queue` ask the daemon on its socket and print the
answer (`--json`: the reply as the daemon sent it). No daemon running (any socket error while
connecting): exit 2 with one line; a daemon that takes the connection and does not answer within
`daemon.client_timeout_s`: exit 1 with one line. A second daemon on a queue another one serves
refuses to start (exit 2), naming the first one's pid and socket.
Not for: argument parsing of the other commands (`agent.cli.main`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from agent.cli.common import settings_from
from agent.daemon.wire import TASK_ID, CancelRequest, ErrorReply, QueueRequest, ResumeRequest, StatusRequest, TaskInfo

if TYPE_CHECKING:
    from agent.daemon.server import Daemon


def add_commands(sub: Any) -> None:
    daemon = sub.add_parser("daemon", help="keep the policy loaded and take tasks over a private socket")
    daemon.add_argument("--config", help="config file (default: ./config.yaml if present)")
    daemon.add_argument("--trace-dir", help="where traces go (default: trace.dir of the config)")
    daemon.add_argument("--executor", dest="backend", choices=["pyautogui", "pynput"], help="executor backend")
    daemon.add_argument("--no-model", action="store_true", help="load no model: take replays only")
    daemon.set_defaults(handler=run_daemon)
    for name, text in (("status", "what the daemon is doing"), ("queue", "the daemon's running and queued tasks"),
                       ("cancel", "cancel a queued task, or the running one"),
                       ("resume", "resume the daemon's task paused because a person took over")):
        p = sub.add_parser(name, help=text)
        if name in ("cancel", "resume"):
            p.add_argument("id", nargs="?", type=_task_id, help="task id (default: the running task)")
        p.add_argument("--config", help="config file (default: ./config.yaml if present)")
        p.add_argument("--json", action="store_true", help="print the daemon's reply as JSON")
        p.set_defaults(handler=ask_daemon, trace_dir=None)


def _task_id(text: str) -> str:
    """A task id as `queue` prints it (8 hex digits), checked here so a typo is a usage error."""
    if not re.fullmatch(TASK_ID, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a task id (8 hex digits, as `deskpilot queue` shows)")
    return text


def run_daemon(args: argparse.Namespace) -> int:
    from agent.daemon.config import resolve_paths
    from agent.daemon.server import Daemon
    from agent.daemon.sockets import DaemonError
    from agent.errors import EnvironmentProblem

    settings = settings_from(args)
    paths = resolve_paths(settings.daemon, os.environ, os.getuid())
    token = os.environ.get(settings.daemon.token_env) or None
    daemon = Daemon(settings, paths, policy_factory=None if args.no_model else _model_policy, token=token)
    stop = threading.Event()
    try:
        with daemon_signals(daemon, stop), ExitStack() as stack:
            daemon.start()
            if settings.daemon.console and daemon.worker is not None:
                from agent.console.daemon import DaemonConsole

                daemon.worker.observer = stack.enter_context(DaemonConsole(settings, daemon.worker).start())
            while not stop.wait(0.5):
                pass
    except (DaemonError, OSError) as exc:
        raise EnvironmentProblem(f"cannot start the daemon: {exc}") from None
    finally:
        daemon.close()
    return 0


@contextmanager
def daemon_signals(daemon: Daemon, stop: threading.Event) -> Iterator[None]:
    """On the main thread: SIGTERM and SIGINT set `stop`; SIGUSR1 resumes the paused running task
    (its default action would end the daemon, and tasks run on the worker thread, which gets no signals)."""
    handlers: dict[int, Any] = {signal.SIGTERM: lambda *_: stop.set(), signal.SIGINT: lambda *_: stop.set()}
    if hasattr(signal, "SIGUSR1"):
        handlers[signal.SIGUSR1] = lambda *_: daemon.resume("SIGUSR1")
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _model_policy(settings: Any) -> Any:
    from agent.run.policy_factory import build_policy

    return build_policy(settings)


def ask_daemon(args: argparse.Namespace) -> int:
    from agent.daemon.client import NoDaemon, local_endpoint, request
    from agent.errors import EnvironmentProblem

    message: Any = {"status": StatusRequest(type="status"), "queue": QueueRequest(type="queue")}.get(args.command)
    if args.command == "cancel":
        message = CancelRequest(type="cancel", id=args.id)
    elif args.command == "resume":
        message = ResumeRequest(type="resume", id=args.id)
    endpoint = local_endpoint(settings_from(args))
    try:
        reply = request(endpoint, message)
    except NoDaemon as exc:
        hint = ("a run started here (not through a daemon) resumes with its resume hotkey or `kill -USR1 <its pid>`"
                if args.command == "resume" else "start one with `deskpilot daemon`")
        raise EnvironmentProblem(f"{exc} ({hint})") from None
    if args.json:
        print(reply.model_dump_json(indent=2))
    else:
        _print(reply)
    return 1 if isinstance(reply, ErrorReply) else 0


def _print(reply: Any) -> None:
    if isinstance(reply, ErrorReply):
        print(f"deskpilot: {reply.message}")
    elif reply.type == "status":
        print(f"daemon pid {reply.pid}; policy: {reply.policy}; queued: {reply.queued}; worker: {reply.worker}")
        print("running: " + (_line(reply.running) if reply.running else "nothing"))
    elif reply.type == "queue":
        for task in reply.tasks:
            print(_line(task))
        if not reply.tasks:
            print("the queue is empty")
    elif reply.type == "resumed":
        print(f"task {reply.id} resumed" if reply.was == "paused" else f"task {reply.id} is not paused")
    else:
        print(f"task {reply.id} cancelled (it was {reply.was})")


def _line(task: TaskInfo) -> str:
    when = datetime.datetime.fromtimestamp(task.submitted_at).strftime("%H:%M:%S")
    place = f" #{task.position}" if task.position else ""
    ended = f" {task.status} ({task.reason})" if task.status else ""
    trace = f" trace: {task.trace_dir}" if task.trace_dir else ""
    return f"{task.id}  {task.state}{place}  {when}  {task.kind} {task.summary!r}{ended}{trace}"
