"""`deskpilot console` and `deskpilot sandbox`: the local web console, and the sandbox app on a display.

`console` serves the console page (agent.console) until Ctrl+C: past traces with their reports and,
when a daemon runs, its queue, with Resume and Stop acting on its running task. A run's own console
(live screen, steps, confirmations, pause) comes with `run/replay/demo --console` or
`safety.confirm_via: console`.
`sandbox` starts the sandbox app the demo uses — on $DISPLAY, or with `--xvfb` on a private virtual
display of the demo's size — and keeps it up until Ctrl+C, so a demo trace can be replayed
(`DISPLAY=:N deskpilot replay TRACE`); `--watch` shows that display in a browser, read-only.
Not for: the console's server or the app themselves (agent.console, agent.sandbox).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from agent.cli.common import settings_from


def add_commands(sub: Any) -> None:
    console = sub.add_parser("console", help="serve the local web console: traces, reports, the daemon's queue")
    console.add_argument("--config", help="config file (default: ./config.yaml if present)")
    console.add_argument("--trace-dir", help="the traces to list (default: trace.dir of the config)")
    console.add_argument("--port", type=int, help="port on 127.0.0.1 (default: console.port of the config; 0: any)")
    console.set_defaults(handler=_console)
    sandbox = sub.add_parser("sandbox", help="start the demo's sandbox app (on $DISPLAY, or --xvfb) until Ctrl+C")
    sandbox.add_argument("--xvfb", action="store_true",
                         help="on a private virtual display of the demo's size (1280x800); its DISPLAY is printed")
    sandbox.add_argument("--watch", action="store_true", help="with --xvfb: show it read-only in a browser (noVNC)")
    sandbox.add_argument("--state", metavar="FILE", help="where the app writes its JSON state (default: a temp file)")
    sandbox.set_defaults(handler=_sandbox, trace_dir=None, config=None)


def _console(args: argparse.Namespace) -> int:
    from agent.config import ConfigError
    from agent.console.hub import Hub
    from agent.console.server import ConsoleServer
    from agent.run.signals import stop_on_signals

    settings = settings_from(args)
    config = settings.console
    hub = Hub(config.keep_events)
    _daemon_controls(hub, settings)
    stop = threading.Event()
    port = config.port if args.port is None else args.port
    if not 0 <= port <= 65535:  # checked here: the socket's bind would raise OverflowError
        raise ConfigError(f"--port must be 0 (any free port) to 65535, not {port}")
    server = ConsoleServer(hub, Path(settings.trace.dir), config.host, port, allow_uids=config.allow_uids)
    with server, stop_on_signals(stop):
        print(f"console: {server.url}", flush=True)
        print("deskpilot: the URL carries the console's token; Ctrl+C stops it", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


def _daemon_controls(hub: Any, settings: Any) -> None:
    """The daemon's queue on the page, Resume and Stop on its running task (when a daemon answers)."""
    from agent.daemon.client import local_endpoint, request
    from agent.daemon.wire import CancelRequest, ErrorReply, QueueRequest, ResumeRequest

    endpoint = local_endpoint(settings)

    def ask(message: Any) -> Any:
        reply = request(endpoint, message)
        if isinstance(reply, ErrorReply):
            raise RuntimeError(reply.message)
        return reply

    def queue() -> list[dict[str, Any]]:
        return [task.model_dump() for task in ask(QueueRequest(type="queue")).tasks]

    def said(message: Any, done: str) -> Any:
        def do() -> str:
            try:
                ask(message)
                return done
            except Exception as exc:  # no daemon, nothing running: the page says why
                return f"not done: {exc}"
        return do

    hub.queue = queue
    hub.controls = {"resume": said(ResumeRequest(type="resume"), "resumed the daemon's task"),
                    "stop": said(CancelRequest(type="cancel"), "cancelled the daemon's running task")}


def _sandbox(args: argparse.Namespace) -> int:
    from agent.cli.output import check_target
    from agent.errors import EnvironmentProblem
    from agent.run.signals import stop_on_signals
    from agent.sandbox.launch import Sandbox, SandboxError

    if args.state:  # the app replaces this file: never a directory or a device (as root, /dev/null would go)
        check_target(Path(args.state))
    stop = threading.Event()
    with ExitStack() as stack, stop_on_signals(stop):
        env = dict(os.environ)
        if args.xvfb:
            from agent.cli.demo import SCREEN
            from agent.sandbox.xvfb import Xvfb, XvfbError

            try:
                xvfb = stack.enter_context(Xvfb(screens=(SCREEN,)))
            except XvfbError as exc:
                raise EnvironmentProblem(f"sandbox: {exc}") from None
            env = xvfb.env()
        elif args.watch:
            raise EnvironmentProblem("sandbox: --watch shows a private display: use it with --xvfb")
        if not env.get("DISPLAY"):
            raise EnvironmentProblem("sandbox: no DISPLAY; use --xvfb for a private virtual display")
        state = Path(args.state) if args.state else Path(stack.enter_context(tempfile.TemporaryDirectory())) / "s.json"
        try:
            app = stack.enter_context(Sandbox(env, state))
            app.wait_ready()
        except SandboxError as exc:
            raise EnvironmentProblem(f"sandbox: the app did not start: {exc}") from None
        print(f"sandbox app running on DISPLAY={env['DISPLAY']}; state: {state.absolute()}", flush=True)
        if args.watch:
            from agent.sandbox.watch import DisplayWatch

            watch = stack.enter_context(DisplayWatch(env["DISPLAY"]))
            print(f"watch (read-only): {watch.url}", flush=True)
        print(f"replay a demo trace on it: DISPLAY={env['DISPLAY']} deskpilot replay TRACE; Ctrl+C stops the app",
              file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            if app.proc.poll() is not None:
                raise EnvironmentProblem(f"sandbox: the app exited (code {app.proc.returncode})")
    return 0
