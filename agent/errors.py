"""Expected errors of the agent layer that several of its parts raise, under the one root.

`DeskpilotError` (in `actions.errors`, the lowest layer, so every layer derives from it) carries the
exit code; the CLI and the daemon catch it once. Errors that belong to one concern stay with it
(`ConfigError` in agent.config, `TraceError` in agent.traces.store, `ScriptError` in
policies.scripted.script_file, ...); this module holds the ones that have no single home.
Not for: run endings (statuses, not exceptions).
"""

from __future__ import annotations

from actions.errors import CANCELLED, DeskpilotError

__all__ = ["DeskpilotError", "EnvironmentProblem", "UserCancelled"]


class EnvironmentProblem(DeskpilotError, RuntimeError):
    """The desktop cannot be driven here (no display, missing system package or extra); one line."""


class UserCancelled(DeskpilotError):
    """The person stopped the command (Ctrl-C, SIGTERM) before a run began; exit 3."""

    exit_code = CANCELLED
