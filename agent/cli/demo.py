"""`deskpilot demo`: a private virtual display, the sandbox app, a bundled task script, a trace.

Nothing touches the user's own screen: the demo starts Xvfb, points this process's executors at
it, runs agent/data/demo.yaml through the normal replay path (gate, executor, trace) and prints
what the app recorded and where the trace is. A run that does not succeed (or a dry run, which
executes nothing) returns its exit code after the status line without waiting on the app.
`--watch` shows the private display read-only in a browser (agent.sandbox.watch; the URL is printed);
`--quiet`, `--json` and `--console` work as for `run` and `replay`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from agent.config import Settings
from agent.errors import EnvironmentProblem
from agent.traces.lines import Origin

DEMO_SCRIPT = Path(__file__).resolve().parents[1] / "data" / "demo.yaml"
SCREEN = (1280, 800)


def run_demo(settings: Settings, args: argparse.Namespace | None = None) -> int:
    from agent.sandbox.launch import SandboxError
    from agent.sandbox.xvfb import XvfbError, available

    reason = available()
    if reason:
        raise EnvironmentProblem(f"the demo needs Xvfb: {reason} (apt-get install xvfb)")
    try:
        return _run_on_virtual_display(settings, args or argparse.Namespace())
    except (SandboxError, XvfbError) as exc:  # the display or the app broke: one line (exit 2), not a traceback
        raise EnvironmentProblem(f"demo: {exc}") from None


def _run_on_virtual_display(settings: Settings, args: argparse.Namespace) -> int:
    from agent.cli.common import run_watched
    from agent.sandbox.launch import Sandbox, SandboxError, pointing_at
    from agent.sandbox.xvfb import Xvfb
    from policies.scripted.policy import ScriptedPolicy
    from policies.scripted.script_file import load_script

    say = sys.stderr if getattr(args, "json_events", False) else sys.stdout  # --json: stdout holds JSON only
    with tempfile.TemporaryDirectory(prefix="deskpilot-demo-") as tmp, Xvfb(screens=(SCREEN,)) as xvfb, \
            ExitStack() as stack:
        print(f"virtual display {xvfb.display} ({SCREEN[0]}x{SCREEN[1]}), starting the sandbox app", file=say)
        if getattr(args, "watch", False):
            from agent.sandbox.watch import DisplayWatch

            watch = stack.enter_context(DisplayWatch(xvfb.display))
            print(f"deskpilot: watch the display (read-only): {watch.url}", file=sys.stderr, flush=True)
        with Sandbox(xvfb.env(), Path(tmp) / "state.json") as app, pointing_at(xvfb.display):
            try:
                app.wait_ready()
            except SandboxError as exc:
                raise EnvironmentProblem(f"the sandbox app did not start: {exc}") from None
            script = load_script(DEMO_SCRIPT, {k: str(v) for k, v in app.centers().items()}, known_only=False)
            code = run_watched(args, settings, script.task, ScriptedPolicy(script.steps), Origin(source="demo"))
            if code != 0:  # the status line and the trace say why; the app has nothing to show
                return code
            if settings.safety.dry_run:
                print("dry run: nothing was executed, so the sandbox app is unchanged", file=say)
                return code
            try:
                state = app.wait_for(lambda s: s.get("saves", 0) >= 1, timeout=5, what="the app to save")
            except SandboxError as exc:  # the run says success, the app disagrees: the demo did not succeed
                print(f"deskpilot: demo: the run ended but the sandbox app did not record it: {exc}", file=sys.stderr)
                return 1
    print(f"sandbox app state: entry={state['entry']!r} ok_clicks={state['ok_clicks']} "
          f"checked={state['checked']} list_top={state['list_top']} double_clicks={state['double_clicks']} "
          f"middle_clicks={state['middle_clicks']} hovers={state['hovers']} saves={state['saves']}", file=say)
    return code
