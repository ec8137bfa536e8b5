"""The daemon's listening sockets: a private Unix socket, an optional loopback TCP one, peer uids.

The Unix socket goes into a directory that is ours and closed to others (created 0700), is
chmod 0600, and replaces only a stale socket (one nobody answers on). `peer_uid` reads the
connecting process's uid with SO_PEERCRED (Linux).
Not for: serving connections (`agent.daemon.server`).
"""

from __future__ import annotations

import os
import socket
import stat
import struct
from pathlib import Path

from actions.errors import DeskpilotError
from agent.daemon.wire import ProtocolError


class DaemonError(DeskpilotError, RuntimeError):
    """The daemon cannot start here (socket in use, unsafe directory, no token); one line."""


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (Linux SO_PEERCRED)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        raise ProtocolError("forbidden", "this system cannot tell who is connecting (no SO_PEERCRED)")
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return int(uid)


def unix_listener(path: Path) -> socket.socket:
    _private_dir(path.parent)
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise DaemonError(f"{path} exists and is not a socket; refusing to replace it")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(str(path)) == 0:
                raise DaemonError(f"a daemon already listens on {path}")
        path.unlink()  # a stale socket from a daemon that died
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(64)
    return listener


def _private_dir(directory: Path) -> None:
    """Create `directory` 0700, or accept an existing one only if it is ours and closed to others."""
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise DaemonError(f"{directory} is not a directory owned by you; refusing to put the socket there")
    if created or (info.st_mode & 0o077 and directory.name.startswith("deskpilot")):
        os.chmod(directory, 0o700)
    elif info.st_mode & 0o022:
        raise DaemonError(f"{directory} is writable by others; choose a private directory for daemon.socket")


def tcp_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(16)
    return listener
