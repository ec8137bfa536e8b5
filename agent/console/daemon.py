"""The daemon's console (`daemon.console: true`): the same page, for every task the daemon runs.

`DaemonConsole(settings, worker)` serves a console for the daemon's worker: each task's steps,
notices and screen; its confirmations too when `safety.confirm_via` is `console` (else they go to
the submitting client, as without a console); the queue; Pause, Resume and Stop acting on the
running task. The worker calls `hooks(hooks)` when it assembles a task's `RunHooks` (adding the
console to them) and `ended(report)` when the task is over.
Not for: the daemon itself (agent.daemon) or the page (agent.console.page).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config import Settings
from agent.console.hub import Hub, HubConfirmer
from agent.console.server import ConsoleServer
from agent.run.hooks import RunHooks


class DaemonConsole:
    def __init__(self, settings: Settings, worker: Any) -> None:
        config = settings.console
        self.settings, self.worker = settings, worker
        self.hub = Hub(config.keep_events)
        self.hub.queue = self._queue
        self.hub.controls = {"pause": self._pause, "resume": self._resume, "stop": self._stop}
        self.server = ConsoleServer(self.hub, Path(settings.trace.dir), config.host, config.port,
                                    allow_uids=config.allow_uids)

    def start(self) -> DaemonConsole:
        self.server.start()
        print(f"deskpilot daemon: console: {self.server.url}", file=sys.stderr, flush=True)
        return self

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> DaemonConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hooks(self, hooks: RunHooks) -> RunHooks:
        """`hooks` with the console told of everything too (and asking, with confirm_via: console)."""
        self.hub.stop = hooks.stop
        safety = self.settings.safety
        confirmer = HubConfirmer(self.hub, safety.confirm_timeout_s) if safety.confirm_via == "console" \
            else hooks.confirmer
        return dataclasses.replace(hooks, confirmer=confirmer, on_start=_both(hooks.on_start, self.hub.started),
                                   on_step=_both(hooks.on_step, self.hub.step),
                                   on_notice=_both(hooks.on_notice, self.hub.notice))

    def ended(self, report: Any) -> None:
        r = report.result
        self.hub.ended(r.status, r.reason, r.steps, report.trace_dir)

    def _queue(self) -> list[dict[str, Any]]:
        store = self.worker.store
        running = store.running()
        return [task.model_dump() for task in ([running] if running else []) + store.queued()]

    def _pause(self) -> str:
        current = self.worker.current
        safety = current.safety if current is not None else None
        if safety is None:
            return "no task is running"
        return "paused" if safety.pause.pause("paused from the console") else "already paused"

    def _resume(self) -> str:
        reply = self.worker.resume(None, "console")
        return getattr(reply, "message", None) or f"task {reply.id} was {reply.was}"

    def _stop(self) -> str:
        reply = self.worker.cancel(None, "stopped from the console")
        return getattr(reply, "message", None) or f"task {reply.id} cancelled"


def _both(first: Callable[..., None] | None, second: Callable[..., None]) -> Callable[..., None]:
    def call(*args: Any) -> None:
        if first is not None:
            first(*args)
        try:
            second(*args)
        except Exception:  # the console's problem, never the task's
            pass
    return call
