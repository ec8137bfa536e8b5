"""The `console:` section of config.yaml: where the local web console listens.

Loopback only: the console shows the desktop and answers the gate's questions, so it never listens
on another interface (and its URL carries a random token besides); only the processes of the user
running it connect, unless `allow_uids` names more. Not for: serving (agent.console.server).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", pattern=r"^(127\.0\.0\.1|::1|localhost)$")  # loopback addresses only
    port: int = Field(0, ge=0, le=65535)  # 0: any free port (the URL printed says which)
    keep_events: int = Field(500, ge=10, le=100_000)  # steps and notices a newly opened page is shown
    # users besides the console's own whose processes may connect (they still need the token)
    allow_uids: tuple[Annotated[int, Field(ge=0)], ...] = Field((), max_length=64)
