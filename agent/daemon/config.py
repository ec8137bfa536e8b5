"""The `daemon:` section of config.yaml, and where the daemon's socket and queue live.

`DaemonSettings` is frozen and forbids unknown keys like every other section (`agent.config`
imports it). `daemon.tcp` is off unless set, and then must name a loopback address: a non-loopback
bind is a config error, not a runtime surprise. `resolve_paths` turns empty paths into the
defaults: the socket in `$XDG_RUNTIME_DIR/deskpilot/` (fallback `/tmp/deskpilot-$UID/`), the queue
in `$XDG_STATE_HOME/deskpilot/` (fallback `~/.local/state/deskpilot/`), so queued tasks survive a
daemon restart and a logout. The environment is passed in by the caller (the CLI), never read here.
The bounds on what one peer can make the daemon hold (request size and deadline, connections per
transport, queued tasks, buffered answers, task file size) live here with their defaults; config.yaml
explains each.
Not for: opening sockets or files (`agent.daemon.server`, `agent.daemon.queue_store`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SOCKET_NAME = "daemon.sock"
QUEUE_NAME = "queue.sqlite3"


class DaemonSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    socket: str = ""  # empty: $XDG_RUNTIME_DIR/deskpilot/daemon.sock (fallback /tmp/deskpilot-$UID/)
    queue_db: str = ""  # empty: $XDG_STATE_HOME/deskpilot/queue.sqlite3 (fallback ~/.local/state/...)
    tcp: str = ""  # empty: no TCP; else "127.0.0.1:PORT" / "[::1]:PORT" / "localhost:PORT"
    token_env: str = Field("DESKPILOT_DAEMON_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    preload_model: bool = True
    console: bool = False  # serve the local web console (agent.console) for the daemon's tasks
    # What one peer can make the daemon hold (see config.yaml's daemon section for each bound's why).
    max_message_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    read_timeout_s: float = Field(10.0, gt=0, le=600)  # the whole request line, not each recv
    auth_timeout_s: float = Field(2.0, gt=0, le=60)  # a TCP peer's token line, read before anything else
    max_clients: int = Field(32, ge=2, le=1024)  # Unix socket connections (your own)
    max_tcp_clients: int = Field(8, ge=1, le=1024)  # TCP connections, a pool of their own
    max_queued: int = Field(16, ge=1, le=10_000)  # tasks waiting; more are refused `busy`
    max_pending_answers: int = Field(4, ge=1, le=1024)  # confirm answers buffered per session
    max_task_file_bytes: int = Field(32 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    heartbeat_s: float = Field(5.0, gt=0, le=300)  # the daemon's keep-alive on a task's connection
    client_timeout_s: float = Field(10.0, gt=0, le=600)  # a client's connect and reply deadline
    keep_finished: int = Field(100, ge=0, le=100_000)

    @model_validator(mode="after")
    def _owner_keeps_room(self) -> DaemonSettings:
        if self.max_queued > self.max_clients - 2:
            raise ValueError("daemon.max_queued must be at most daemon.max_clients - 2: each queued task and the "
                             "running one may hold a connection, and your own `status` and `cancel` need one too")
        return self

    @field_validator("tcp")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if value:
            parse_tcp(value)
        return value


def parse_tcp(value: str) -> tuple[str, int]:
    """`host:port` → (host, port); ValueError unless host is a loopback address and port 1-65535."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r}: expected HOST:PORT with a port from 1 to 65535")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host == "localhost":
        return "127.0.0.1", int(port)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address; the daemon binds loopback addresses only") from None
    if not loopback:
        raise ValueError(f"{host!r} is not a loopback address; the daemon never listens beyond this machine")
    return host, int(port)


@dataclass(frozen=True)
class DaemonPaths:
    socket: Path
    queue_db: Path

    @property
    def lock(self) -> Path:
        """The lock file beside the queue: whoever holds it owns the queue (one daemon per queue)."""
        return self.queue_db.with_name(self.queue_db.name + ".lock")


def resolve_paths(settings: DaemonSettings, env: Mapping[str, str], uid: int) -> DaemonPaths:
    """The socket and queue paths: configured ones (with ~ expanded), else the per-user defaults."""
    runtime = env.get("XDG_RUNTIME_DIR", "")
    run_dir = Path(runtime) / "deskpilot" if runtime.startswith("/") else Path(f"/tmp/deskpilot-{uid}")
    home = env.get("HOME", "")
    state = env.get("XDG_STATE_HOME", "")
    if state.startswith("/"):
        state_dir = Path(state) / "deskpilot"
    elif home.startswith("/"):
        state_dir = Path(home) / ".local" / "state" / "deskpilot"
    else:
        state_dir = run_dir
    return DaemonPaths(
        socket=_expand(settings.socket, home) or run_dir / SOCKET_NAME,
        queue_db=_expand(settings.queue_db, home) or state_dir / QUEUE_NAME,
    )


def _expand(path: str, home: str) -> Path | None:
    if not path:
        return None
    if path == "~" or path.startswith("~/"):
        return Path(home + path[1:])
    return Path(path)
