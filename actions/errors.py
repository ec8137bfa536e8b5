"""The root of every expected error in deskpilot: `DeskpilotError`, carrying the exit code it ends with.

An expected error is one a person can act on — bad input (arguments, config, a script, a trace), a
missing model or extra, no usable display, a daemon that is not there — and it is reported as one
line, never a traceback. Every layer's expected errors derive from this class (it lives in the lowest
layer, `actions/`, so that `policies/` and `agent/` can both derive from it), so the CLI and the daemon
catch it once. A bug stays a plain exception and keeps its traceback.

Exit codes (the README's table): 0 success, 1 the task ended without success, 2 bad input or an
environment that cannot run the task, 3 cancelled by the user.
Not for: endings of a run (done, denied, stuck, ...), which are statuses, not exceptions.
"""

from __future__ import annotations

BAD_INPUT = 2
CANCELLED = 3


class DeskpilotError(Exception):
    """An expected problem, told in one line; `exit_code` is what the command exits with."""

    exit_code: int = BAD_INPUT

    def one_line(self) -> str:
        text = str(self).strip()
        return text.splitlines()[0] if text else type(self).__name__
