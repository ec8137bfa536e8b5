"""Errors a model backend raises when it cannot answer at all (our side's fault, not the model's).

A malformed answer is not an error here: it is a reply whose text the parser rejects. A
`BackendError` means the run cannot go on — the server is unreachable after retries, it refused
the request (HTTP 4xx), the model or an extra is missing. The message is one line.
Not for: parse failures (`parse.ParseError`) or grounding failures (`policies.grounding`).
"""

from __future__ import annotations

from actions.errors import DeskpilotError


class BackendError(DeskpilotError, RuntimeError):
    """A model backend could not produce a reply; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class GenerationInterrupted(BackendError):
    """The stop flag was set while the model was answering (the kill switch, a cancelled task)."""
