"""The `console:` section of config.yaml: where the local web console listens.

Loopback only: the console shows the desktop and answers the gate's questions, so it never listens
on another interface (and its URL carries a random token besides). Not for: serving (agent.console.server).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", pattern=r"^(127\.0\.0\.1|::1|localhost)$")  # loopback addresses only
    port: int = Field(0, ge=0, le=65535)  # 0: any free port (the URL printed says which)
    keep_events: int = Field(500, ge=10, le=100_000)  # steps and notices a newly opened page is shown
