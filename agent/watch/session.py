"""A watched run: the live view, the console if asked for, and the confirmer `safety.confirm_via` names.

`Watch` bundles what the CLI hands to `agent.run.runner.execute` as `RunHooks` — the view told of
each step and notice, the console's hub told the same, questions routed to the terminal, the console
or a desktop dialog, the stop flag the console's Stop button sets, and the run's safety session the
console's Pause and Resume act on — and prints the summary at the end.
Not for: the view's text (agent.watch.text, agent.watch.view) or serving the console (agent.console).
"""

from __future__ import annotations

import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actions.gate import Confirmer
from agent.config import Settings
from agent.run.hooks import RunHooks
from agent.traces.lines import StepLine
from agent.watch.view import LiveView, Mode

if TYPE_CHECKING:
    from agent.console.hub import Hub
    from agent.run.runner import RunReport
    from agent.safety.assemble import SafetySession


class Watch:
    def __init__(self, settings: Settings, mode: Mode = "auto", console: bool = False) -> None:
        self.settings, self.view = settings, LiveView(mode)
        self.stop = threading.Event()
        self.safety: SafetySession | None = None
        self.hub: Hub | None = None
        self._stack = ExitStack()
        self.console_url = ""
        if console or settings.safety.confirm_via == "console":
            self._start_console()

    def hooks(self) -> RunHooks:
        return RunHooks(confirmer=self.confirmer(), stop=self.stop, on_start=self._started, on_step=self._step,
                        on_safety=self._safety, on_notice=self._notice)

    def confirmer(self) -> Confirmer:
        safety = self.settings.safety
        if safety.confirm_via == "console" and self.hub is not None:
            from agent.console.hub import HubConfirmer

            return HubConfirmer(self.hub, safety.confirm_timeout_s)
        if safety.confirm_via == "desktop":
            from agent.safety.confirm_desktop import DesktopConfirmer

            return DesktopConfirmer(safety.confirm_timeout_s, self.stop, quiet=self.view.asking,
                                    ledger=lambda: self.safety.ledger if self.safety is not None else None)
        from agent.safety.confirm import TerminalConfirmer

        return TerminalConfirmer(lambda: self.view.trace_dir, safety.confirm_timeout_s, self.stop, self.view.asking)

    def finish(self, run: RunReport) -> int:
        r = run.result
        if self.hub is not None:
            self.hub.ended(r.status, r.reason, r.steps, run.trace_dir)
        return self.view.finish(r.status, r.reason, r.steps, r.answer, run.trace_dir, r.exit_code)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hooks ----------------------------------------------------------------------------------------
    def _started(self, trace_dir: Path) -> None:
        self.view.started(trace_dir)
        if self.hub is not None:
            self.hub.started(trace_dir)

    def _step(self, line: StepLine) -> None:
        self.view.step(line)
        if self.hub is not None:
            self.hub.step(line)

    def _notice(self, event: str, text: str) -> None:
        self.view.notice(event, text)
        if self.hub is not None:
            self.hub.notice(event, text)

    def _safety(self, safety: SafetySession) -> None:
        self.safety = safety

    # -- the console ----------------------------------------------------------------------------------
    def _start_console(self) -> None:
        from agent.console.hub import Hub
        from agent.console.server import ConsoleServer

        config = self.settings.console
        self.hub = Hub(config.keep_events, self.stop)
        self.hub.controls = {"pause": self._pause, "resume": self._resume, "stop": self._stop}
        server = ConsoleServer(self.hub, Path(self.settings.trace.dir), config.host, config.port,
                               allow_uids=config.allow_uids).start()
        self._stack.callback(server.close)
        self.console_url = server.url
        print(f"deskpilot: console: {server.url}", file=sys.stderr, flush=True)

    def _pause(self) -> str:
        if self.safety is None:
            return "the run has not started yet"
        return "paused" if self.safety.pause.pause("paused from the console") else "already paused"

    def _resume(self) -> str:
        if self.safety is None:
            return "the run has not started yet"
        return "resumed" if self.safety.resume("console") else "was not paused"

    def _stop(self) -> str:
        self.stop.set()
        return "stopping"


def mode_of(args: Any) -> Mode:
    """The view mode a command's --quiet / --json flags ask for (auto: pretty on a terminal, else plain)."""
    if getattr(args, "json_events", False):
        return "json"
    return "quiet" if getattr(args, "quiet", False) else "auto"
